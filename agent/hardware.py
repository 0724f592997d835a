"""What this machine has: static host facts, and cheap snapshots of memory, disks and GPUs.

NVIDIA GPUs are read through NVML (nvidia-ml-py, module ``pynvml``), which loads
``libnvidia-ml.so.1`` (Linux) or ``nvml.dll`` (Windows) from the driver. Nothing
here raises on a missing driver or a failed query: what could not be read is
reported as an error string next to what could.
"""
from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable

import psutil

INIT_RETRY_SECONDS = 60.0  # a driver installed or loaded later is picked up within this
NO_DRIVER = "no NVIDIA driver"
NVML_TEMPERATURE_GPU = 0

# Indirection so tests can move the retry clock without touching the time module.
_now: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class HostFacts:
    hostname: str
    platform: str  # 'linux' | 'windows' | 'darwin'
    os: str
    arch: str  # 'x86_64' | 'arm64' | ...
    cpu_count: int
    cpu_physical: int | None
    cpu_model: str
    memory_total_bytes: int
    python: str


@dataclass(frozen=True)
class DiskUsage:
    path: str
    total_bytes: int
    free_bytes: int
    error: str = ""


@dataclass(frozen=True)
class GpuStatus:
    index: int
    vendor: str  # 'nvidia' | 'apple'
    name: str
    uuid: str
    memory_total_bytes: int | None
    memory_used_bytes: int | None
    utilization_percent: int | None
    temperature_c: int | None
    power_watts: float | None
    driver_version: str
    cuda_version: str
    errors: tuple[str, ...]


@dataclass(frozen=True)
class HardwareSnapshot:
    memory_total_bytes: int
    memory_available_bytes: int
    cpu_percent: float
    load_average: tuple[float, float, float] | None
    disks: tuple[DiskUsage, ...]
    gpus: tuple[GpuStatus, ...]
    gpu_error: str
    taken_at: float


# ---------------------------------------------------------------- host facts

def host_facts() -> HostFacts:
    plat = normalise_platform(sys.platform)
    psutil.cpu_percent(interval=None)  # primes the counter so the first snapshot is not a meaningless 0.0
    return HostFacts(
        hostname=socket.gethostname(),
        platform=plat,
        os=_os_name(plat),
        arch=_arch(plat),
        cpu_count=psutil.cpu_count(logical=True) or os.cpu_count() or 1,
        cpu_physical=psutil.cpu_count(logical=False),
        cpu_model=_cpu_model(plat),
        memory_total_bytes=psutil.virtual_memory().total,
        python=platform.python_version(),
    )


def normalise_platform(name: str) -> str:
    if name.startswith("linux"):
        return "linux"
    if name in ("win32", "cygwin"):
        return "windows"
    return name


_ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "x86_64": "x86_64",
                 "aarch64": "arm64", "arm64": "arm64", "i386": "x86", "i686": "x86"}


def normalise_arch(machine: str) -> str:
    return _ARCH_ALIASES.get(machine.lower(), machine.lower())


def _arch(plat: str) -> str:
    arch = normalise_arch(platform.machine())
    # An x86_64 Python under Rosetta runs on Apple silicon; report the machine, not the emulation.
    if plat == "darwin" and arch == "x86_64" and _sysctl("hw.optional.arm64") == "1":
        return "arm64"
    return arch


def _os_name(plat: str) -> str:
    if plat == "linux":
        return _linux_pretty_name() or f"Linux {platform.release()}"
    if plat == "windows":
        return windows_os_name(platform.release(), platform.version())
    if plat == "darwin":
        return f"macOS {platform.mac_ver()[0]}".strip()
    return platform.platform()


def _linux_pretty_name() -> str:
    text = _read_text("/etc/os-release") or _read_text("/usr/lib/os-release")
    return parse_os_release(text).get("PRETTY_NAME", "")


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read()
    except OSError:
        return ""


def parse_os_release(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            fields[key.strip()] = value.strip().strip("\"'")
    return fields


def windows_os_name(release: str, version: str) -> str:
    """'Windows 11 (10.0.22631)': Windows 11 still calls itself release 10; build 22000+ is 11."""
    parts = version.split(".")
    build = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 0
    if release == "10" and build >= 22000:
        release = "11"
    return f"Windows {release} ({version})" if version else f"Windows {release}"


def _cpu_model(plat: str) -> str:
    if plat == "linux":
        return parse_cpuinfo_model(_read_text("/proc/cpuinfo")) or _processor()
    if plat == "darwin":
        return _sysctl("machdep.cpu.brand_string") or _processor()
    if plat == "windows":
        return _windows_cpu_model() or _processor()
    return _processor()


def parse_cpuinfo_model(text: str) -> str:
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "model name":
            return " ".join(value.split())
    return ""


def _windows_cpu_model() -> str:
    # platform.processor() on Windows is 'Intel64 Family 6 Model ...'; the registry has the marketing name.
    try:
        import winreg

        key_path = r"HARDWARE\DESCRIPTION\System\CentralProcessor\0"
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, key_path) as key:
            return str(winreg.QueryValueEx(key, "ProcessorNameString")[0]).strip()
    except (ImportError, OSError):
        return ""


def _processor() -> str:
    name = platform.processor().strip()
    return "" if name.lower() == "unknown" else name


def _sysctl(name: str) -> str:
    """`sysctl -n name` (macOS), or '' when it cannot be read."""
    try:
        done = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


# ---------------------------------------------------------------- GPUs

def format_cuda_version(version: int | None) -> str:
    """NVML encodes CUDA 12.4 as 12040 (major*1000 + minor*10)."""
    if not version or version <= 0:
        return ""
    return f"{version // 1000}.{version % 1000 // 10}"


def _text(value) -> str:
    # nvidia-ml-py before 11.515 returned bytes for strings
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class GpuProbe:
    """Reads GPUs. Owns the NVML session: inits lazily, retries a failed init at most
    every INIT_RETRY_SECONDS, shuts down on close(). Thread-safe; never raises."""

    def __init__(self, facts: HostFacts):
        self._facts = facts
        self._lock = threading.Lock()
        self._nvml = None  # the pynvml module while an NVML session is open
        self._next_init_at = 0.0
        self._init_error = ""
        self._driver_version = ""
        self._cuda_version = ""
        self._system_errors: tuple[str, ...] = ()
        self._apple_name = ""  # read once: sysctl is a process, read() runs every few seconds

    def read(self) -> tuple[list[GpuStatus], str]:
        with self._lock:
            try:
                if self._facts.platform == "darwin":
                    return self._read_darwin()
                if not self._ensure_nvml():
                    return [], self._init_error
                return self._read_nvidia()
            except Exception as exc:  # a probe bug must not take the agent down
                return [], f"GPU probe failed: {type(exc).__name__}: {exc}"

    def close(self) -> None:
        with self._lock:
            self._shutdown()
            self._next_init_at = 0.0  # a read after close may open a new session at once

    # -- Apple silicon: the GPU shares the machine's memory

    def _read_darwin(self) -> tuple[list[GpuStatus], str]:
        if self._facts.arch != "arm64":
            return [], NO_DRIVER
        if not self._apple_name:
            self._apple_name = _sysctl("machdep.cpu.brand_string") or "Apple GPU"
        memory = psutil.virtual_memory()
        gpu = GpuStatus(
            index=0, vendor="apple", name=self._apple_name, uuid="",
            memory_total_bytes=memory.total, memory_used_bytes=memory.total - memory.available,
            utilization_percent=None, temperature_c=None, power_watts=None,
            driver_version="", cuda_version="", errors=())
        return [gpu], ""

    # -- NVIDIA via NVML

    def _ensure_nvml(self) -> bool:
        if self._nvml is not None:
            return True
        now = _now()
        if now < self._next_init_at:
            return False
        self._next_init_at = now + INIT_RETRY_SECONDS
        try:
            import pynvml
        except ImportError:
            self._init_error = "nvidia-ml-py (pynvml) is not installed"
            return False
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError_LibraryNotFound:
            self._init_error = NO_DRIVER
            return False
        except pynvml.NVMLError as exc:
            self._init_error = f"NVML init failed: {exc}"
            return False
        self._nvml, self._init_error = pynvml, ""
        self._read_system_versions()
        return True

    def _read_system_versions(self) -> None:
        # Fixed for the life of an NVML session, so read once per init.
        errors: list[str] = []
        nvml = self._nvml
        driver = _query(nvml, errors, "driver_version", nvml.nvmlSystemGetDriverVersion)
        cuda = _query(nvml, errors, "cuda_version", nvml.nvmlSystemGetCudaDriverVersion)
        self._driver_version = _text(driver) if driver is not None else ""
        self._cuda_version = format_cuda_version(cuda)
        self._system_errors = tuple(errors)

    def _shutdown(self) -> None:
        if self._nvml is None:
            return
        try:
            self._nvml.nvmlShutdown()
        except self._nvml.NVMLError:
            pass  # nothing left to release
        self._nvml = None

    def _read_nvidia(self) -> tuple[list[GpuStatus], str]:
        try:
            count = self._nvml.nvmlDeviceGetCount()
        except self._nvml.NVMLError as exc:
            # The driver went away or changed under us: drop the session, retry init later.
            self._shutdown()
            self._init_error = f"NVML device count failed: {exc}"
            return [], self._init_error
        return [self._read_device(index) for index in range(count)], ""

    def _read_device(self, index: int) -> GpuStatus:
        nvml = self._nvml
        errors: list[str] = []
        handle = _query(nvml, errors, "handle", nvml.nvmlDeviceGetHandleByIndex, index)
        if handle is None:
            return self._status(index, errors)
        name = _query(nvml, errors, "name", nvml.nvmlDeviceGetName, handle)
        uuid = _query(nvml, errors, "uuid", nvml.nvmlDeviceGetUUID, handle)
        memory = _query(nvml, errors, "memory", _memory_info, nvml, handle)
        utilization = _query(nvml, errors, "utilization", nvml.nvmlDeviceGetUtilizationRates, handle)
        temperature = _query(nvml, errors, "temperature", _temperature, nvml, handle)
        power_mw = _query(nvml, errors, "power", nvml.nvmlDeviceGetPowerUsage, handle)
        return self._status(
            index, errors,
            name=_text(name) if name is not None else "",
            uuid=_text(uuid) if uuid is not None else "",
            memory_total_bytes=int(memory.total) if memory is not None else None,
            memory_used_bytes=int(memory.used) if memory is not None else None,
            utilization_percent=int(utilization.gpu) if utilization is not None else None,
            temperature_c=int(temperature) if temperature is not None else None,
            power_watts=power_mw / 1000.0 if power_mw is not None else None,
        )

    def _status(self, index: int, errors: list[str], **known) -> GpuStatus:
        fields = dict(name="", uuid="", memory_total_bytes=None, memory_used_bytes=None,
                      utilization_percent=None, temperature_c=None, power_watts=None)
        fields.update(known)
        return GpuStatus(index=index, vendor="nvidia", driver_version=self._driver_version,
                         cuda_version=self._cuda_version,
                         errors=tuple(errors) + self._system_errors, **fields)


def _query(nvml, errors: list[str], field: str, call: Callable, *args):
    """call(*args), or None with '<field>: <NVML error>' added to errors."""
    try:
        return call(*args)
    except nvml.NVMLError as exc:
        errors.append(f"{field}: {exc}")
    except Exception as exc:  # e.g. an older pynvml without this call
        errors.append(f"{field}: {type(exc).__name__}: {exc}")
    return None


def _memory_info(nvml, handle):
    # The v2 struct reports 'used' without the driver's reservation (what nvidia-smi shows);
    # drivers older than R510 lack nvmlDeviceGetMemoryInfo_v2, so fall back to v1.
    version = getattr(nvml, "nvmlMemory_v2", None)
    if version:
        try:
            return nvml.nvmlDeviceGetMemoryInfo(handle, version=version)
        except nvml.NVMLError:
            pass
    return nvml.nvmlDeviceGetMemoryInfo(handle)


def _temperature(nvml, handle) -> int:
    # nvmlDeviceGetTemperature is deprecated (gone in CUDA 14); older drivers only have it.
    versioned = getattr(nvml, "nvmlDeviceGetTemperatureV", None)
    if versioned:
        try:
            return versioned(handle, NVML_TEMPERATURE_GPU)
        except nvml.NVMLError:
            pass
    return nvml.nvmlDeviceGetTemperature(handle, NVML_TEMPERATURE_GPU)


# ---------------------------------------------------------------- snapshots

def snapshot(roots: list[str], probe: GpuProbe) -> HardwareSnapshot:
    """Cheap enough to call every few seconds (GPU reads are NVML calls, not processes)."""
    memory = psutil.virtual_memory()
    gpus, gpu_error = probe.read()
    return HardwareSnapshot(
        memory_total_bytes=memory.total,
        memory_available_bytes=memory.available,
        cpu_percent=psutil.cpu_percent(interval=None),
        load_average=_load_average(),
        disks=tuple(disk_usage(root) for root in roots),
        gpus=tuple(gpus),
        gpu_error=gpu_error,
        taken_at=time.time(),
    )


def disk_usage(root: str) -> DiskUsage:
    try:
        usage = shutil.disk_usage(root)
    except FileNotFoundError:
        return DiskUsage(root, 0, 0, "path does not exist")
    except PermissionError:
        return DiskUsage(root, 0, 0, "permission denied")
    except (OSError, ValueError) as exc:  # ValueError: e.g. a NUL byte in the path
        return DiskUsage(root, 0, 0, getattr(exc, "strerror", None) or str(exc))
    return DiskUsage(root, usage.total, usage.free)


def _load_average() -> tuple[float, float, float] | None:
    # Windows has none (psutil's emulation needs a background thread and starts at 0).
    if not hasattr(os, "getloadavg"):
        return None
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return None
    return (one, five, fifteen)
