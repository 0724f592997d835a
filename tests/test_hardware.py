"""agent.hardware: host facts, snapshots, and GPUs through real pynvml.

The NVML tests run a child Python with LD_LIBRARY_PATH pointing at a compiled
stand-in for libnvidia-ml.so.1 (tests/nvml_stub), because pynvml binds the
library once per process by name and CI machines have no NVIDIA driver.
"""
from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import platform
import socket
import subprocess
import sys
import textwrap
import time
from collections import namedtuple
from pathlib import Path

import nvml_fake
import psutil
import pynvml
import pytest

from llmesh.agent import hardware

REPO = Path(__file__).resolve().parent.parent
needs_cc = pytest.mark.skipif(nvml_fake.find_c_compiler() is None,
                              reason="no C compiler (cc/gcc) to build the fake libnvidia-ml.so.1")

GIB = 1024 ** 3
H100 = dict(name="NVIDIA H100 80GB HBM3", uuid="GPU-11111111-2222-3333-4444-555555555555",
            memory_total=80 * GIB, memory_used=3 * GIB, utilization=87, temperature=64, power_mw=312_500)
RTX = dict(name="NVIDIA GeForce RTX 4090", uuid="GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
           memory_total=24 * GIB, memory_used=512 * 1024 ** 2, utilization=3, temperature=41, power_mw=28_250)

READ_ONCE = """
import dataclasses, json
from agent import hardware
probe = hardware.GpuProbe(hardware.host_facts())
gpus, error = probe.read()
probe.close()
print(json.dumps({"gpus": [dataclasses.asdict(g) for g in gpus], "error": error}))
"""


def run_child(script: str, env: dict) -> dict:
    env = dict(env, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def read_with_fake(tmp_path, gpus, **options) -> dict:
    lib_dir = nvml_fake.build_fake_nvml(tmp_path, gpus, **options)
    return run_child(READ_ONCE, nvml_fake.fake_nvml_env(lib_dir))


def expected(index: int, gpu: dict, **overrides) -> dict:
    status = dict(index=index, vendor="nvidia", name=gpu["name"], uuid=gpu["uuid"],
                  memory_total_bytes=gpu["memory_total"], memory_used_bytes=gpu["memory_used"],
                  utilization_percent=gpu["utilization"], temperature_c=gpu["temperature"],
                  power_watts=gpu["power_mw"] / 1000, driver_version="550.54.15", cuda_version="12.4",
                  errors=[])
    return status | overrides


# ---------------------------------------------------------------- NVML through the stand-in

@needs_cc
def test_two_fake_gpus_report_every_field(tmp_path):
    result = read_with_fake(tmp_path, [H100, RTX])
    assert result == {"gpus": [expected(0, H100), expected(1, RTX)], "error": ""}


@needs_cc
def test_a_failed_query_leaves_that_field_empty_and_keeps_the_rest(tmp_path):
    # WSL2 answers Not Supported for utilization; temperature may fail the same way.
    wsl_gpu = RTX | dict(utilization=None, temperature=None)
    result = read_with_fake(tmp_path, [H100, wsl_gpu])
    assert result["error"] == ""
    assert result["gpus"][0] == expected(0, H100)
    assert result["gpus"][1] == expected(1, RTX, utilization_percent=None, temperature_c=None,
                                         errors=["utilization: Not Supported", "temperature: Not Supported"])


@needs_cc
def test_a_lost_gpu_is_still_listed_with_its_error(tmp_path):
    lost = RTX | dict(handle_error=nvml_fake.GPU_IS_LOST)
    gpus = read_with_fake(tmp_path, [lost, H100])["gpus"]
    assert gpus[0] == dict(index=0, vendor="nvidia", name="", uuid="", memory_total_bytes=None,
                           memory_used_bytes=None, utilization_percent=None, temperature_c=None,
                           power_watts=None, driver_version="550.54.15", cuda_version="12.4",
                           errors=["handle: GPU is lost"])
    assert gpus[1] == expected(1, H100)


@needs_cc
def test_unknown_cuda_version_is_empty_and_noted_on_each_gpu(tmp_path):
    gpus = read_with_fake(tmp_path, [H100, RTX], cuda_version=None)["gpus"]
    assert [gpu["cuda_version"] for gpu in gpus] == ["", ""]
    assert [gpu["errors"] for gpu in gpus] == [["cuda_version: Not Supported"]] * 2
    assert gpus[0]["memory_total_bytes"] == H100["memory_total"]


@needs_cc
def test_old_driver_without_versioned_calls_falls_back(tmp_path):
    result = read_with_fake(tmp_path, [H100], legacy_only=True)
    assert result == {"gpus": [expected(0, H100)], "error": ""}


@needs_cc
def test_driver_not_loaded_gives_no_gpus_and_says_why(tmp_path):
    result = read_with_fake(tmp_path, [H100], mode="driver_not_loaded")
    assert result == {"gpus": [], "error": "NVML init failed: Driver Not Loaded"}


def _real_nvml_installed() -> bool:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return False
    return True


@pytest.mark.skipif(sys.platform != "linux" or _real_nvml_installed(),
                    reason="needs a Linux machine without an NVIDIA driver")
def test_no_nvml_library_means_no_driver():
    env = {key: value for key, value in os.environ.items()
           if key not in ("LD_LIBRARY_PATH", "FAKE_NVML_CONFIG")}
    assert run_child(READ_ONCE, env) == {"gpus": [], "error": "no NVIDIA driver"}


@needs_cc
def test_failed_init_is_retried_only_after_the_interval(tmp_path):
    lib_dir = nvml_fake.build_fake_nvml(tmp_path, [H100], mode="driver_not_loaded")
    script = f"""
    import json, pynvml
    from pathlib import Path
    import nvml_fake
    from agent import hardware
    clock = [1000.0]
    hardware._now = lambda: clock[0]
    probe = hardware.GpuProbe(hardware.host_facts())
    before = probe.read()
    nvml_fake.write_config(Path({str(lib_dir / nvml_fake.CONFIG_NAME)!r}), [{H100!r}])  # driver loads
    clock[0] += 30
    too_soon = probe.read()
    clock[0] += 31
    after = probe.read()
    print(json.dumps({{"before": before[1], "too_soon": [len(too_soon[0]), too_soon[1]],
                      "after": [[g.name for g in after[0]], after[1]],
                      "init_calls": pynvml.nvmlLib.fake_nvml_init_calls()}}))
    """
    env = nvml_fake.fake_nvml_env(lib_dir)
    env["PYTHONPATH"] = str(Path(__file__).parent)
    result = run_child(script, env)
    assert result == {"before": "NVML init failed: Driver Not Loaded",
                      "too_soon": [0, "NVML init failed: Driver Not Loaded"],
                      "after": [[H100["name"]], ""], "init_calls": 2}


@needs_cc
def test_concurrent_reads_share_one_init_and_close_shuts_down(tmp_path):
    lib_dir = nvml_fake.build_fake_nvml(tmp_path, [H100, RTX])
    script = """
    import json, threading, pynvml
    from agent import hardware
    probe = hardware.GpuProbe(hardware.host_facts())
    results = []
    def work():
        for _ in range(25):
            gpus, error = probe.read()
            results.append((tuple(g.uuid for g in gpus), error))
    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads: thread.start()
    for thread in threads: thread.join()
    lib = pynvml.nvmlLib
    out = {"reads": len(results), "distinct": [list(r) for r in set(results)],
           "init_calls": lib.fake_nvml_init_calls(), "open": lib.fake_nvml_refcount()}
    probe.close()
    out["open_after_close"] = lib.fake_nvml_refcount()
    print(json.dumps(out))
    """
    result = run_child(script, nvml_fake.fake_nvml_env(lib_dir))
    assert result == {"reads": 200, "distinct": [[[H100["uuid"], RTX["uuid"]], ""]],
                      "init_calls": 1, "open": 1, "open_after_close": 0}


# ---------------------------------------------------------------- NVML failures in-process

class FakeClock:
    def __init__(self):
        self.now = 500.0

    def __call__(self):
        return self.now


def test_init_retry_interval_without_compiler(monkeypatch):
    clock, calls = FakeClock(), []

    def failing_init():
        calls.append(clock.now)
        raise pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)

    monkeypatch.setattr(hardware, "_now", clock)
    monkeypatch.setattr(pynvml, "nvmlInit", failing_init)
    probe = hardware.GpuProbe(dataclasses.replace(hardware.host_facts(), platform="linux"))
    assert probe.read() == ([], "NVML init failed: Driver Not Loaded")
    clock.now += hardware.INIT_RETRY_SECONDS - 1
    probe.read()
    clock.now += 2
    probe.read()
    assert calls == [500.0, 500.0 + hardware.INIT_RETRY_SECONDS + 1]


def test_read_never_raises(monkeypatch):
    def broken_init():
        raise RuntimeError("boom")

    monkeypatch.setattr(pynvml, "nvmlInit", broken_init)
    probe = hardware.GpuProbe(dataclasses.replace(hardware.host_facts(), platform="linux"))
    assert probe.read() == ([], "GPU probe failed: RuntimeError: boom")
    probe.close()


# ---------------------------------------------------------------- Apple silicon

def apple_facts() -> hardware.HostFacts:
    return dataclasses.replace(hardware.host_facts(), platform="darwin", arch="arm64")


def test_apple_silicon_reports_unified_memory_as_one_gpu(monkeypatch):
    Memory = namedtuple("Memory", "total available")
    monkeypatch.setattr(hardware, "_sysctl",
                        lambda name: "Apple M2 Max" if name == "machdep.cpu.brand_string" else "")
    monkeypatch.setattr(hardware.psutil, "virtual_memory", lambda: Memory(96 * GIB, 60 * GIB))
    monkeypatch.setattr(pynvml, "nvmlInit", lambda: pytest.fail("NVML must not be used on macOS"))
    gpus, error = hardware.GpuProbe(apple_facts()).read()
    assert error == ""
    assert gpus == [hardware.GpuStatus(
        index=0, vendor="apple", name="Apple M2 Max", uuid="", memory_total_bytes=96 * GIB,
        memory_used_bytes=36 * GIB, utilization_percent=None, temperature_c=None, power_watts=None,
        driver_version="", cuda_version="", errors=())]


def test_intel_mac_has_no_gpu_to_report(monkeypatch):
    monkeypatch.setattr(hardware, "_sysctl", lambda name: "Intel(R) Core(TM) i9")
    facts = dataclasses.replace(apple_facts(), arch="x86_64")
    assert hardware.GpuProbe(facts).read() == ([], "no NVIDIA driver")


# ---------------------------------------------------------------- host facts

@pytest.mark.skipif(sys.platform != "linux", reason="checks Linux sources of host facts")
def test_host_facts_on_this_linux_machine():
    facts = hardware.host_facts()
    assert facts.hostname == socket.gethostname()
    assert facts.platform == "linux"
    assert facts.arch == hardware.normalise_arch(platform.machine())
    assert facts.cpu_count == os.cpu_count()
    assert facts.cpu_physical is None or 1 <= facts.cpu_physical <= facts.cpu_count
    assert facts.memory_total_bytes == psutil.virtual_memory().total
    assert facts.python == platform.python_version()
    cpuinfo = hardware.parse_cpuinfo_model(Path("/proc/cpuinfo").read_text())
    assert facts.cpu_model == (cpuinfo or hardware._processor())
    if Path("/etc/os-release").exists():
        pretty = hardware.parse_os_release(Path("/etc/os-release").read_text()).get("PRETTY_NAME")
        assert facts.os == pretty


@pytest.mark.parametrize("machine, arch", [("AMD64", "x86_64"), ("x86_64", "x86_64"),
                                           ("aarch64", "arm64"), ("ARM64", "arm64"), ("riscv64", "riscv64")])
def test_normalise_arch(machine, arch):
    assert hardware.normalise_arch(machine) == arch


@pytest.mark.parametrize("name, normal", [("linux", "linux"), ("win32", "windows"), ("darwin", "darwin")])
def test_normalise_platform(name, normal):
    assert hardware.normalise_platform(name) == normal


@pytest.mark.parametrize("release, version, name", [
    ("10", "10.0.22631", "Windows 11 (10.0.22631)"),
    ("10", "10.0.19045", "Windows 10 (10.0.19045)"),
    ("11", "10.0.26100", "Windows 11 (10.0.26100)"),
])
def test_windows_os_name(release, version, name):
    assert hardware.windows_os_name(release, version) == name


def test_parsers_for_linux_files():
    os_release = 'NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
    assert hardware.parse_os_release(os_release)["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"
    cpuinfo = "processor\t: 0\nmodel name\t: AMD Ryzen 9  7950X 16-Core Processor\nflags\t: fpu\n"
    assert hardware.parse_cpuinfo_model(cpuinfo) == "AMD Ryzen 9 7950X 16-Core Processor"
    assert hardware.parse_cpuinfo_model("processor\t: 0\nCPU part\t: 0xd0c\n") == ""


@pytest.mark.parametrize("encoded, text", [(12040, "12.4"), (11080, "11.8"), (12010, "12.1"),
                                           (13000, "13.0"), (0, ""), (None, "")])
def test_format_cuda_version(encoded, text):
    assert hardware.format_cuda_version(encoded) == text


# ---------------------------------------------------------------- snapshots

class StubProbe:
    def read(self):
        return [], "stub says no"


def test_snapshot_reports_disks_and_a_missing_root_without_raising(tmp_path):
    missing = str(tmp_path / "not-there")
    before = time.time()
    snap = hardware.snapshot([str(tmp_path), missing], StubProbe())
    ok, gone = snap.disks
    assert ok.path == str(tmp_path) and ok.error == "" and 0 < ok.free_bytes <= ok.total_bytes
    assert gone == hardware.DiskUsage(missing, 0, 0, "path does not exist")
    assert 0 < snap.memory_available_bytes <= snap.memory_total_bytes == psutil.virtual_memory().total
    assert 0.0 <= snap.cpu_percent <= 100.0
    assert snap.gpus == () and snap.gpu_error == "stub says no"
    assert before <= snap.taken_at <= time.time()
    if hasattr(os, "getloadavg"):
        assert len(snap.load_average) == 3


def test_snapshot_with_an_unusable_root_path_is_an_error_not_an_exception():
    snap = hardware.snapshot(["bad\0path"], StubProbe())
    assert snap.disks[0].error and snap.disks[0].total_bytes == 0
