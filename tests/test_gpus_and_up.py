"""`meshctl gpus` across agents, and the embedded default `meshctl up`."""
import json
import os
import signal
import subprocess
import sys

import nvml_fake
import pytest
from factories import make_hf_model
from harness import REPO, Proc, version_of, wait_for

GIB = 1024 ** 3
# There is no NVIDIA driver on CI machines: this agent loads a stand-in libnvidia-ml.so.1
# that implements the NVML C ABI pynvml calls (see tests/nvml_stub/README.md).
WINDOWS_BOX = [
    dict(name="NVIDIA GeForce RTX 5060 Ti", uuid="GPU-5060", memory_total=16 * GIB, memory_used=2 * GIB,
         utilization=55, temperature=61, power_mw=120_000),
    dict(name="NVIDIA GeForce RTX 3060", uuid="GPU-3060", memory_total=12 * GIB, memory_used=GIB,
         utilization=None, temperature=None, power_mw=30_000),  # as under WSL2: queries not supported
]


@pytest.mark.skipif(nvml_fake.find_c_compiler() is None, reason="needs a C compiler for the NVML stand-in")
def test_gpus_across_the_mesh_through_nvml(mesh, tmp_path):
    mesh.start_coordinator()
    root = tmp_path / "models"
    make_hf_model(root / "tiny")
    lib_dir = nvml_fake.build_fake_nvml(tmp_path, WINDOWS_BOX, cuda_version=12080)
    gpu_env = nvml_fake.fake_nvml_env(lib_dir, {})
    mesh.start_agent("windows", [root], env={k: gpu_env[k] for k in ("LD_LIBRARY_PATH", "FAKE_NVML_CONFIG")})
    mesh.start_agent("mac", [root])
    mesh.wait_host("windows")
    mesh.wait_host("mac")

    gpus = mesh.json("gpus")
    assert [(g["host"], g["index"], g["name"]) for g in gpus] == [
        ("windows", 0, "NVIDIA GeForce RTX 5060 Ti"), ("windows", 1, "NVIDIA GeForce RTX 3060")]
    first, second = gpus
    assert first["live"] and first["memory_total_bytes"] == 16 * GIB and first["memory_used_bytes"] == 2 * GIB
    assert (first["utilization_percent"], first["temperature_c"], first["power_watts"]) == (55, 61, 120.0)
    assert first["cuda_version"] == "12.8" and first["driver_version"]
    assert second["utilization_percent"] is None and second["temperature_c"] is None
    assert second["memory_total_bytes"] == 12 * GIB and second["power_watts"] == 30.0
    assert any("utilization" in e for e in second["errors"])

    assert mesh.json("gpus", "--host", "mac") == []
    hosts = {h["name"]: h for h in mesh.json("hosts")}
    assert len(hosts["windows"]["gpus"]) == 2 and hosts["mac"]["gpus"] == []
    assert hosts["mac"]["gpu_error"]  # says why: no NVIDIA driver
    human = mesh.meshctl("gpus").stdout
    assert "RTX 5060 Ti" in human and "n/a" in human


def test_up_runs_coordinator_and_agent_and_meshctl_finds_it(tmp_path):
    home, root = tmp_path / "home", tmp_path / "models"
    make_hf_model(root / "tiny-llama")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMESH_")}
    env.update(LLMESH_HOME=str(home), PYTHONUNBUFFERED="1")
    up = Proc(["up", "--name", "laptop", "--root", str(root), "--heartbeat", "0.5"], env, tmp_path / "up.log")
    try:
        def meshctl(*args):
            result = subprocess.run([sys.executable, "-m", "llmesh.cli", *args], cwd=REPO, env=env,
                                    capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stderr
            return json.loads(result.stdout)

        hosts = wait_for(lambda: meshctl("hosts", "--json"), 30, "meshctl up's agent", logs=[up.log])
        assert [(h["name"], h["status"]) for h in hosts] == [("laptop", "online")]
        rows = wait_for(lambda: version_of(meshctl("models", "list", "--json"), "tiny-llama"), 30,
                        "the local agent's inventory", logs=[up.log])
        assert rows["copies"][0]["path"] == str(root / "tiny-llama")
        assert (home / "coordinator" / "registry.db").exists() and (home / "agent" / "agent.json").exists()
    finally:
        up.signal(signal.SIGTERM)
        code = up.popen.wait(20)
    assert code == 0, up.output()
    assert not (home / "coordinator.json").exists()  # a stopped coordinator is not advertised
    assert "Traceback" not in up.output()
