"""Build the fake NVML library (tests/nvml_stub/fake_nvml.c) and describe its GPUs.

pynvml loads NVML with ctypes.CDLL('libnvidia-ml.so.1') on Linux, so a process
started with LD_LIBRARY_PATH=<the returned dir> and FAKE_NVML_CONFIG=<its config>
talks to the fake through the real pynvml code (see ``fake_nvml_env``).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).parent / "nvml_stub" / "fake_nvml.c"
LIBRARY_NAME = "libnvidia-ml.so.1"
CONFIG_NAME = "fake_nvml.conf"
CFLAGS = ["-shared", "-fPIC", "-O1", "-Wall", "-fvisibility=hidden", f"-Wl,-soname,{LIBRARY_NAME}"]

# pynvml error codes, for tests that want a specific failure
NOT_SUPPORTED = 3
GPU_IS_LOST = 15


def find_c_compiler() -> str | None:
    return shutil.which("cc") or shutil.which("gcc")


def build_fake_nvml(tmpdir, gpus: list[dict], *, driver_version: str = "550.54.15",
                    cuda_version: int | None = 12040, mode: str = "ok",
                    legacy_only: bool = False) -> Path:
    """A dir holding libnvidia-ml.so.1 and its config, ready for ``fake_nvml_env``.

    gpus: dicts with name, uuid, memory_total, memory_used, utilization,
    temperature, power_mw; None for a number makes that query answer
    NVML_ERROR_NOT_SUPPORTED, an optional handle_error (NVML code) makes
    nvmlDeviceGetHandleByIndex fail. mode='driver_not_loaded' makes nvmlInit fail.
    legacy_only=True makes the versioned calls (memory _v2, TemperatureV) answer
    "Function Not Found", as on a driver older than the pynvml.
    """
    lib_dir = Path(tmpdir) / "fake-nvml"
    lib_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(compiled_library(), lib_dir / LIBRARY_NAME)
    write_config(lib_dir / CONFIG_NAME, gpus, driver_version=driver_version,
                 cuda_version=cuda_version, mode=mode, legacy_only=legacy_only)
    return lib_dir


def fake_nvml_env(lib_dir: Path, base: dict | None = None) -> dict:
    """Environment for a child process that should load the fake instead of a real NVML."""
    env = dict(os.environ if base is None else base)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(lib_dir), env.get("LD_LIBRARY_PATH")]))
    env["FAKE_NVML_CONFIG"] = str(Path(lib_dir) / CONFIG_NAME)
    return env


def write_config(path: Path, gpus: list[dict], *, driver_version: str = "550.54.15",
                 cuda_version: int | None = 12040, mode: str = "ok", legacy_only: bool = False) -> None:
    lines = [f"mode {mode}", f"driver {driver_version}", f"cuda {_number(cuda_version)}",
             f"legacy_only {int(legacy_only)}"]
    for gpu in gpus:
        lines += ["gpu", f"name {gpu['name']}", f"uuid {gpu['uuid']}"]
        lines += [f"{key} {_number(gpu.get(key))}" for key in
                  ("memory_total", "memory_used", "utilization", "temperature", "power_mw")]
        if gpu.get("handle_error"):
            lines.append(f"handle_error {int(gpu['handle_error'])}")
    Path(path).write_text("\n".join(lines) + "\n")


def _number(value) -> str:
    return f"error {NOT_SUPPORTED}" if value is None else str(int(value))


_compiled: Path | None = None


def compiled_library() -> Path:
    """The .so, compiled once per source hash and kept in the temp dir between runs."""
    global _compiled
    if _compiled is None or not _compiled.exists():
        _compiled = _compile()
    return _compiled


def _compile() -> Path:
    compiler = find_c_compiler()
    if compiler is None:
        raise RuntimeError("no C compiler (cc or gcc) found to build the fake NVML library")
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(CFLAGS).encode()).hexdigest()[:16]
    cache_dir = Path(tempfile.gettempdir()) / f"llmesh-fake-nvml-{os.getuid()}-{digest}"
    target = cache_dir / LIBRARY_NAME
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = cache_dir / f"{LIBRARY_NAME}.{os.getpid()}.tmp"
    built = subprocess.run([compiler, *CFLAGS, "-o", str(partial), str(SOURCE)],
                           capture_output=True, text=True)
    if built.returncode != 0:
        raise RuntimeError(f"compiling {SOURCE.name} failed:\n{built.stderr}")
    os.replace(partial, target)  # atomic: parallel test runs never see half a library
    return target
