"""Registry figures: search, info and list --role on 100,000 versions over 10,000 models.

Builds the registry directly through the registry module (a bulk insert of synthetic
versions with tags, metrics, params, roles, capabilities and copies), starts a real
coordinator process on it, and measures through the gRPC API with the SDK:
p50 and p99 of five representative searches, of `info` and of `list --role`, next to
p50 and p99 of the same calls on the registry alone (SQL and building the result dicts;
the difference is the RPC: encode, transport, auth, decode).
Goal through gRPC: p50 <= 10 ms, p99 <= 50 ms. Also prints each search's EXPLAIN QUERY PLAN.

    .venv/bin/python bench/registry.py [--models 10000] [--versions-per-model 10] [--runs 300] [--keep DIR]

Building 100,000 versions takes 20-60 s; --keep DIR builds once into DIR and reuses it on
later runs (the coordinator always runs on a fresh copy, so each run starts alike).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from llmesh.common.names import parse_ref  # noqa: E402
from llmesh.coordinator.listing_chunks import ENCODER  # noqa: E402
from llmesh.coordinator.registry import Registry  # noqa: E402
from llmesh.coordinator.registry.exchange import BulkLoader  # noqa: E402
from llmesh.sdk.client import MeshClient  # noqa: E402

SEARCHES = {
    "issue example": "tag.production = true AND metric.accuracy > 0.85 AND (role = 'asm' OR kind = 'lora')",
    "one name": "name = 'model-04242'",
    "top loras": "kind = 'lora' AND metric.accuracy > 0.97 AND state = 'active'",
    "role+capability": "role = 'caption' AND capability = 'vision' AND NOT state = 'archived'",
    "name prefix, recent": "name LIKE 'model-012%' AND created_at > '2026-01-01'",
}
HOSTS = ["trainer", "mac", "node1", "node2", "node3"]


def synthetic(first: int, models: int, per_model: int) -> list[dict]:
    rng = random.Random(first)
    start = 1735689600.0  # 2025-01-01
    out = []
    for m in range(first, first + models):
        name = f"model-{m:05d}"
        versions = []
        for n in range(1, per_model + 1):
            kind = rng.choices(["model", "lora", "gguf"], [50, 35, 15])[0]
            digest = "sha256:" + hashlib.sha256(f"{name}:{n}".encode()).hexdigest()
            metrics = {"accuracy": round(rng.uniform(0.5, 1.0), 4)} if rng.random() < 0.9 else {}
            if rng.random() < 0.6:
                metrics["f1"] = round(rng.uniform(0.4, 0.95), 4)
            if rng.random() < 0.5:
                metrics["perplexity"] = round(rng.uniform(1.5, 9.0), 3)
            roles = [f"role-{rng.randrange(1000)}"]
            if rng.random() < 0.05:
                roles.append(rng.choice(["asm", "general", "caption", "keywords"]))
            versions.append({
                "number": n, "digest": digest, "kind": kind, "format": "gguf" if kind == "gguf" else "safetensors",
                "size_bytes": rng.randrange(10**6, 10**10), "created_at": start + rng.uniform(0, 600 * 86400),
                "state": rng.choices(["active", "deprecated", "archived"], [80, 15, 5])[0],
                "base_model": f"org/base-{rng.randrange(50)}" if kind == "lora" else "",
                "files": [{"path": "config.json", "size": 700, "digest": digest[:-4] + "0000"},
                          {"path": "model.safetensors", "size": 10**6, "digest": digest[:-4] + "1111"}],
                "tags": {"production": "true" if rng.random() < 0.1 else "false", "team": f"team-{rng.randrange(20)}"},
                "metrics": metrics,
                "params": {"learning_rate": rng.choice([1e-4, 2e-4, 5e-5]), "batch_size": rng.choice([2, 4, 8])},
                "roles": roles, "capabilities": {"vision": rng.random() < 0.2, "text": True},
                "backends": ["ollama"] if rng.random() < 0.1 else [],
                "copies": [(f"host-{h}", f"/models/{name}/v{n}") for h in rng.sample(range(len(HOSTS)), rng.randint(1, 2))],
            })
        out.append({"name": name, "created_at": start, "versions": versions})
    return out


def build(data_dir: Path, models: int, per_model: int) -> float:
    started = time.perf_counter()
    registry = Registry(data_dir / "registry.db", ENCODER)  # the coordinator's encoder: its chunks kept too
    for i, host in enumerate(HOSTS):
        registry.hosts.host_hello({"agent_id": f"host-{i}", "name": host, "facts": {"platform": "linux"},
                                   "roots": ["/models"], "heartbeat_interval_s": 5.0})
    loader = BulkLoader(registry.db)
    batch = 1000
    for first in range(0, models, batch):
        loader.load(synthetic(first, min(batch, models - first), per_model))
    loader.analyze()
    registry.versions.fill_listing()  # what the first start would do: each version's listing row and chunk
    plans = {label: registry.search.explain(query) for label, query in SEARCHES.items()}
    registry.close()
    print(f"built {models * per_model:,} versions over {models:,} models in {time.perf_counter() - started:.1f} s")
    for label, plan in plans.items():
        print(f"  plan [{label}]: " + " | ".join(plan))
    return time.perf_counter() - started


def start_coordinator(home: Path, data_dir: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMESH_")}
    env.update(LLMESH_HOME=str(home), PYTHONUNBUFFERED="1")
    log = open(home / "coordinator.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "llmesh.cli", "coordinator", "serve", "--listen", "127.0.0.1:0",
                             "--data-dir", str(data_dir), "--log-level", "warning"], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300  # a registry kept by an older llmesh builds its listing rows first
    while time.monotonic() < deadline:
        if (home / "coordinator.json").exists() and proc.poll() is None:
            try:
                json.loads((home / "coordinator.json").read_text())
                return proc
            except ValueError:
                pass
        if proc.poll() is not None:
            raise SystemExit(f"coordinator exited: see {home / 'coordinator.log'}")
        time.sleep(0.1)
    raise SystemExit("coordinator did not start")


def prepare(data: Path, keep: Path | None, models: int, per_model: int) -> None:
    """Build the registry into DATA, or copy the one kept from an earlier run with the same shape."""
    if keep is None:
        build(data, models, per_model)
        return
    shape = keep / f"{models}x{per_model}"
    if not (shape / "registry.db").exists():
        shape.mkdir(parents=True, exist_ok=True)
        build(shape, models, per_model)
    else:
        print(f"reusing the registry built in {shape}")
        Registry(shape / "registry.db", ENCODER).close()  # brought up to date by this llmesh, once
    shutil.copy2(shape / "registry.db", data / "registry.db")


def measure(fn, runs: int, warmup: int = 20) -> tuple[float, float, int]:
    size = 0
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        size = len(fn())
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))], size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--versions-per-model", type=int, default=10)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--limit", type=int, default=20, help="search --limit (meshctl's default: 20)")
    parser.add_argument("--keep", type=Path, help="build the registry once into this folder and reuse it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmesh-bench-") as tmp:
        home, data = Path(tmp) / "home", Path(tmp) / "data"
        home.mkdir()
        data.mkdir()
        prepare(data, args.keep, args.models, args.versions_per_model)
        proc = start_coordinator(home, data)
        try:
            rng = random.Random(1)
            load = os.getloadavg()[0]
            ref = lambda: f"model-{rng.randrange(args.models):05d}:{rng.randrange(1, args.versions_per_model + 1)}"  # noqa: E731
            role = lambda: f"role-{rng.randrange(1000)}"  # noqa: E731
            rows = []
            with MeshClient.connect(None, {"LLMESH_HOME": str(home)}) as mesh:
                for label, query in SEARCHES.items():
                    rows.append((f"search: {label}",) + measure(lambda q=query: mesh.search(q, limit=args.limit),
                                                                 args.runs))
                rows.append(("info NAME:VER",) + measure(lambda: [mesh.model(ref())], args.runs))
                rows.append(("list --role R",) + measure(lambda: mesh.list_models(role=role()), args.runs))
            # The same calls on the registry alone, in this process: how much of the time is SQL and Python
            # building the results, and how much the RPC (encode, transport, decode).
            # Listings as the coordinator reads them for the SDK: kept chunks and copies.
            registry, nobody = Registry(data / "registry.db", ENCODER), frozenset()
            local = [measure(lambda q=query: registry.search.search(nobody, q, limit=args.limit, as_chunks=True),
                             args.runs) for query in SEARCHES.values()]
            local.append(measure(lambda: [registry.versions.get_version(parse_ref(ref()), nobody)], args.runs))
            local.append(measure(lambda: registry.models.list_versions(nobody, role=role(), as_chunks=True),
                                 args.runs))
            registry.close()
            print(f"\n{args.runs} runs each after 20 to warm up; load average {load:.1f} -> "
                  f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; goal through gRPC: p50 <= 10, p99 <= 50")
            print(f"{'':<28} {'through gRPC (SDK)':>19} {'registry alone':>19} {'':>6}")
            print(f"{'operation':<28} {'p50 ms':>9} {'p99 ms':>9} {'p50 ms':>9} {'p99 ms':>9} {'rows':>6}")
            for (label, p50, p99, size), (alone50, alone99, _) in zip(rows, local):
                flag = "" if p50 <= 10 and p99 <= 50 else "  (over goal)"
                print(f"{label:<28} {p50:9.2f} {p99:9.2f} {alone50:9.2f} {alone99:9.2f} {size:6d}{flag}")
            print("\nqueries:")
            for label, query in SEARCHES.items():
                print(f"  {label}: {query}")
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
