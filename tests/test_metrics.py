"""/metrics against a real coordinator and agent: Prometheus' own parser reads it, a GPU (through
the NVML stand-in) is labelled by host and index, and only API tokens may scrape; /healthz."""
import json
import ssl
import urllib.error
import urllib.request

import nvml_fake
import pytest
from factories import make_hf_model
from harness import free_port, wait_for
from prometheus_client.parser import text_string_to_metric_families

GIB = 1024 ** 3
# There is no NVIDIA driver on CI machines: the agent loads a stand-in libnvidia-ml.so.1
# that implements the NVML C ABI pynvml calls (see tests/nvml_stub/README.md).
GPUS = [dict(name="NVIDIA GeForce RTX 5060 Ti", uuid="GPU-5060", memory_total=16 * GIB, memory_used=2 * GIB,
             utilization=55, temperature=61, power_mw=120_000),
        dict(name="NVIDIA GeForce RTX 3060", uuid="GPU-3060", memory_total=12 * GIB, memory_used=GIB,
             utilization=None, temperature=None, power_mw=30_000)]  # queries not supported, as under WSL2

EXPECTED = {"llmesh_host_up", "llmesh_host_last_seen_seconds", "llmesh_gpu_memory_used_bytes",
            "llmesh_gpu_memory_total_bytes", "llmesh_gpu_utilization_ratio", "llmesh_gpu_temperature_celsius",
            "llmesh_gpu_power_watts", "llmesh_root_free_bytes", "llmesh_versions", "llmesh_copies", "llmesh_jobs",
            "llmesh_transfer_bytes", "llmesh_transfer_resent_bytes", "llmesh_transfer_seconds",
            "llmesh_deployments", "llmesh_rpc_requests", "llmesh_rpc_latency_seconds",
            "llmesh_serving_ttft_seconds", "llmesh_serving_tokens_per_second"}


def get(mesh, path: str, token: str | None = None) -> tuple[int, str]:
    ca = json.loads((mesh.base / "coord-home" / "credentials.json").read_text())["ca_pem"]
    request = urllib.request.Request(f"https://{mesh.endpoint['http_address']}{path}",
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, context=ssl.create_default_context(cadata=ca), timeout=30) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[str, list]:
    """Family name -> its samples, as Prometheus' parser reads them."""
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(found: dict, family: str, sample: str | None = None, **labels) -> float | None:
    return next((s.value for s in found.get(family, []) if s.name == (sample or family)
                 and all(s.labels.get(k) == v for k, v in labels.items())), None)


@pytest.mark.skipif(nvml_fake.find_c_compiler() is None, reason="needs a C compiler for the NVML stand-in")
def test_metrics_of_a_real_mesh(mesh, tmp_path):
    mesh.start_coordinator(extra=["--http-listen", f"127.0.0.1:{free_port()}"])
    root = tmp_path / "models"
    make_hf_model(root / "tiny")
    lib_dir = nvml_fake.build_fake_nvml(tmp_path, GPUS)
    gpu_env = nvml_fake.fake_nvml_env(lib_dir, {})
    mesh.start_agent("gpubox", [root], env={k: gpu_env[k] for k in ("LD_LIBRARY_PATH", "FAKE_NVML_CONFIG")})
    mesh.wait_host("gpubox")
    mesh.wait_models(lambda rows: any(r["name"] == "tiny" for r in rows))
    viewer = mesh.meshctl("user", "add", "prometheus", "--role", "viewer").stdout.strip()

    # Hardware arrives with heartbeats: wait until the scrape shows the GPUs.
    found = wait_for(lambda: (f := samples(get(mesh, "/metrics", viewer)[1]))
                     and value(f, "llmesh_gpu_memory_total_bytes", host="gpubox", gpu="1") is not None and f,
                     30, "GPU readings in /metrics", logs=mesh.logs())
    assert EXPECTED <= set(found), sorted(EXPECTED - set(found))
    assert value(found, "llmesh_host_up", host="gpubox") == 1
    assert value(found, "llmesh_host_last_seen_seconds", host="gpubox") >= 0
    first = dict(host="gpubox", gpu="0", name="NVIDIA GeForce RTX 5060 Ti")
    assert value(found, "llmesh_gpu_memory_total_bytes", **first) == 16 * GIB
    assert value(found, "llmesh_gpu_memory_used_bytes", **first) == 2 * GIB
    assert value(found, "llmesh_gpu_utilization_ratio", **first) == 0.55
    assert value(found, "llmesh_gpu_temperature_celsius", **first) == 61
    assert value(found, "llmesh_gpu_power_watts", **first) == 120
    second = dict(host="gpubox", gpu="1", name="NVIDIA GeForce RTX 3060")
    assert value(found, "llmesh_gpu_memory_total_bytes", **second) == 12 * GIB
    assert value(found, "llmesh_gpu_temperature_celsius", **second) is None  # not read: not exported as 0
    assert value(found, "llmesh_root_free_bytes", host="gpubox", root=str(root.resolve())) > 0
    assert value(found, "llmesh_versions", state="active") == 1
    assert value(found, "llmesh_copies", state="verified") == 1
    assert value(found, "llmesh_transfer_bytes", "llmesh_transfer_bytes_total") == 0

    # RPCs by method and code: what meshctl just asked, and a refusal.
    mesh.meshctl("hosts")
    refused = mesh.meshctl("user", "list", env={"LLMESH_TOKEN": viewer}, check=False)
    assert refused.returncode != 0
    found = samples(get(mesh, "/metrics", viewer)[1])
    assert value(found, "llmesh_rpc_requests", "llmesh_rpc_requests_total",
                 method="llmesh.v1.Mesh/ListHosts", code="OK") >= 1
    assert value(found, "llmesh_rpc_requests", "llmesh_rpc_requests_total",
                 method="llmesh.v1.Admin/ListUsers", code="PERMISSION_DENIED") == 1
    assert value(found, "llmesh_rpc_latency_seconds", "llmesh_rpc_latency_seconds_count",
                 method="llmesh.v1.Mesh/ListHosts") >= 1

    # The host goes away: up 0, and its GPU readings are no longer current.
    mesh.agent("gpubox").stop()
    mesh.wait_host("gpubox", "offline")
    found = samples(get(mesh, "/metrics", viewer)[1])
    assert value(found, "llmesh_host_up", host="gpubox") == 0
    assert value(found, "llmesh_gpu_memory_total_bytes", **first) is None


def test_metrics_need_a_token_and_healthz_does_not(mesh):
    mesh.start_coordinator(extra=["--http-listen", f"127.0.0.1:{free_port()}"])
    assert get(mesh, "/healthz") == (200, "ok\n")
    assert get(mesh, "/metrics")[0] == 401
    assert get(mesh, "/metrics", "L10" + "0" * 64 + "::not-a-token")[0] == 401
    assert get(mesh, "/metrics", "garbage")[0] == 401
    assert get(mesh, "/nothing")[0] == 404
    token = json.loads((mesh.base / "coord-home" / "credentials.json").read_text())["token"]
    status, text = get(mesh, "/metrics", token)
    assert status == 200 and "llmesh_host_up" in samples(text)
