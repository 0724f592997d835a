"""/metrics: the fleet as Prometheus sees it, read from the registry at scrape time.

Names follow Prometheus conventions and what GPU exporters (DCGM, GPUStack) call the same
readings: ``llmesh_gpu_memory_used_bytes``, ``llmesh_gpu_utilization_ratio`` (0-1), …; every
host-level series carries ``host``, every GPU series ``host``, ``gpu`` (its index) and ``name``.
"""
from __future__ import annotations

from collections.abc import Callable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


class FleetCollector(Collector):
    def __init__(self, fleet: Callable[[], dict]):
        self.fleet = fleet  # blocking: returns MetricsRepository.fleet's numbers

    def describe(self):
        return []  # collected at scrape time only, never when registered

    def collect(self):
        data = self.fleet()
        yield from _hosts(data["hosts"])
        for name, key, text in (("llmesh_versions", "versions", "Model versions by lifecycle state."),
                                ("llmesh_copies", "copies", "Copies of versions on hosts by state."),
                                ("llmesh_deployments", "deployments", "Deployments by state.")):
            family = GaugeMetricFamily(name, text, labels=["state"])
            for state, n in sorted(data[key].items()):
                family.add_metric([state], n)
            yield family
        jobs = GaugeMetricFamily("llmesh_jobs", "Jobs (pulls, conversions) by kind and state.", labels=["kind", "state"])
        for kind, state, n in data["jobs"]:
            jobs.add_metric([kind or "", state or ""], n)
        yield jobs
        transfer = data["transfer"]
        yield CounterMetricFamily("llmesh_transfer_bytes", "Bytes pulls received over the network.",
                                  value=transfer["bytes"])
        yield CounterMetricFamily("llmesh_transfer_resent_bytes",
                                  "Bytes pulls received more than once (pieces re-fetched after failing "
                                  "verification).", value=transfer["resent_bytes"])
        yield CounterMetricFamily("llmesh_transfer_seconds", "Seconds pulls spent running.",
                                  value=transfer["seconds"])
        ttft = GaugeMetricFamily("llmesh_serving_ttft_seconds", "Time to first token in the last `models test`.",
                                 labels=["model", "version"])
        speed = GaugeMetricFamily("llmesh_serving_tokens_per_second", "Generation speed in the last `models test`.",
                                  labels=["model", "version"])
        for model, version, key, value in data["serving"]:
            if key == "ttft_ms":
                ttft.add_metric([model, version], value / 1000.0)
            else:
                speed.add_metric([model, version], value)
        yield ttft
        yield speed
        yield from _scrubs(data["scrubs"])
        yield from _ollama(data["hosts"])


def _scrubs(rows: list[dict]):
    last = GaugeMetricFamily("llmesh_scrub_last_success_timestamp_seconds",
                             "When the host's last complete integrity scrub ended (unix seconds).", labels=["host"])
    running = GaugeMetricFamily("llmesh_scrub_running", "1 while an integrity scrub runs on the host.",
                                labels=["host"])
    read = CounterMetricFamily("llmesh_scrub_bytes", "Bytes integrity scrubs re-read and hashed.", labels=["host"])
    copies = CounterMetricFamily("llmesh_scrub_copies_checked", "Copies integrity scrubs re-hashed.",
                                 labels=["host"])
    drifted = CounterMetricFamily("llmesh_scrub_drifted_copies",
                                  "Copies integrity scrubs found drifted (bytes no longer match their version).",
                                  labels=["host"])
    for r in rows:
        if r["last_finished"]:
            last.add_metric([r["host"]], r["last_finished"])
        running.add_metric([r["host"]], 1 if r["running"] else 0)
        read.add_metric([r["host"]], r["bytes"] or 0)
        copies.add_metric([r["host"]], r["copies"] or 0)
        drifted.add_metric([r["host"]], r["drifted"] or 0)
    yield from (last, running, read, copies, drifted)


def _ollama(hosts: list[dict]):
    """What each host's Ollama has loaded, from the agent's heartbeat (Ollama has no /metrics)."""
    loaded = GaugeMetricFamily("llmesh_ollama_loaded_models", "Models the host's Ollama holds in memory.",
                               labels=["host"])
    size = GaugeMetricFamily("llmesh_ollama_model_size_bytes", "Memory a loaded Ollama model takes.",
                             labels=["host", "model"])
    vram = GaugeMetricFamily("llmesh_ollama_model_vram_bytes", "GPU memory a loaded Ollama model takes.",
                             labels=["host", "model"])
    for host in hosts:
        hardware = host["hardware"] or {}
        if not host["up"] or not hardware.get("ollama_reachable"):
            continue
        models = hardware.get("ollama_loaded") or []
        loaded.add_metric([host["name"]], len(models))
        for m in models:
            size.add_metric([host["name"], m.get("name") or ""], m.get("size_bytes") or 0)
            vram.add_metric([host["name"], m.get("name") or ""], m.get("vram_bytes") or 0)
    yield from (loaded, size, vram)


def _hosts(hosts: list[dict]):
    up = GaugeMetricFamily("llmesh_host_up", "1 while the host's agent is connected and beating.", labels=["host"])
    seen = GaugeMetricFamily("llmesh_host_last_seen_seconds", "Seconds since the host's agent was last heard.",
                             labels=["host"])
    free = GaugeMetricFamily("llmesh_root_free_bytes", "Free bytes on the disk of each model root.",
                             labels=["host", "root"])
    total = GaugeMetricFamily("llmesh_root_size_bytes", "Size of the disk of each model root.",
                              labels=["host", "root"])
    gpu_labels = ["host", "gpu", "name"]
    gpu = {
        "memory_used_bytes": GaugeMetricFamily("llmesh_gpu_memory_used_bytes", "GPU memory in use.",
                                               labels=gpu_labels),
        "memory_total_bytes": GaugeMetricFamily("llmesh_gpu_memory_total_bytes", "GPU memory in all.",
                                                labels=gpu_labels),
        "utilization_percent": GaugeMetricFamily("llmesh_gpu_utilization_ratio", "GPU busy share, 0 to 1.",
                                                 labels=gpu_labels),
        "temperature_c": GaugeMetricFamily("llmesh_gpu_temperature_celsius", "GPU temperature.", labels=gpu_labels),
        "power_watts": GaugeMetricFamily("llmesh_gpu_power_watts", "GPU power draw.", labels=gpu_labels),
    }
    for host in hosts:
        name, hardware = host["name"], host["hardware"] or {}
        up.add_metric([name], 1 if host["up"] else 0)
        seen.add_metric([name], host["last_seen_age_s"])
        for disk in hardware.get("disks") or []:
            if not disk.get("error") and disk.get("total_bytes"):
                free.add_metric([name, disk["path"]], disk.get("free_bytes") or 0)
                total.add_metric([name, disk["path"]], disk["total_bytes"])
        if not host["up"]:
            continue  # a silent host's last GPU readings are stale: not exported as current
        for card in hardware.get("gpus") or []:
            labels = [name, str(card.get("index") or 0), card.get("name") or ""]
            for key, family in gpu.items():
                value = card.get(key)
                if value is not None:
                    family.add_metric(labels, value / 100.0 if key == "utilization_percent" else value)
    yield from (up, seen, free, total, *gpu.values())
