"""Install, query and remove a ServiceSpec with the host's own service manager.

Everything that can refuse is checked before anything is written: a missing manager
(no systemd in a container, no launchctl, no WinSW executable), or a system service
installed without root. Then the files are written and the manager's commands run.

LLMESH_SERVICE_STANDIN=DIR (tests only, like agent.testing's hooks) stands in for the
service manager where none can run (a container has no systemd as PID 1): the manager's
files go under DIR and its commands are appended to DIR/commands.log instead of run.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Mapping

from llmesh.common.errors import FailedPrecondition
from llmesh.common.files import atomic_write
from llmesh.common.platform import is_superuser
from llmesh.common.services import launchd, systemd, winsw
from llmesh.common.services.spec import ServiceFile, ServiceSpec, host_platform

BACKENDS = {"linux": systemd, "macos": launchd, "windows": winsw}
MANAGER_NAMES = {"linux": "systemd", "macos": "launchd", "windows": "WinSW"}
STANDIN_ENV = "LLMESH_SERVICE_STANDIN"
WINSW_ENV = "LLMESH_WINSW"
WINSW_NAMES = ("winsw.exe", "WinSW-x64.exe", "WinSW.exe", "winsw")


class ServiceManager:
    def __init__(self, spec: ServiceSpec, env: Mapping[str, str], winsw_exe: str | None = None):
        self.spec = spec
        self.backend = BACKENDS[spec.platform]
        self.standin = Path(env[STANDIN_ENV]) if env.get(STANDIN_ENV) else None
        self.winsw_exe = winsw_exe or env.get(WINSW_ENV) or next(filter(None, map(shutil.which, WINSW_NAMES)), "")

    @property
    def manager_name(self) -> str:
        return MANAGER_NAMES[self.spec.platform]

    def service_file(self) -> ServiceFile:
        return self.backend.render(self.spec)

    def start_commands(self) -> list[list[str]]:
        return self.backend.start_commands(self.spec)

    def where(self, path: str) -> Path:
        """Where a file of the manager's lies on this machine (under the stand-in's folder in tests)."""
        if self.standin is None:
            return Path(path)
        return self.standin / Path(path).relative_to(Path(path).anchor)

    def check(self) -> None:
        """Refuse, in one line, an install this host cannot do; before anything is written."""
        spec, host = self.spec, host_platform()
        if spec.platform != host:
            raise FailedPrecondition(f"this host runs {host}, not {spec.platform}: add --dry-run to print the "
                                     f"{spec.platform} service's files")
        if self.standin is not None:
            return
        if spec.platform == "linux" and not (shutil.which("systemctl") and Path("/run/systemd/system").is_dir()):
            raise FailedPrecondition("systemd is not running on this host (no /run/systemd/system: a container?); "
                                     "add --dry-run to print the unit (its ExecStart runs under any supervisor)")
        if spec.platform == "macos" and not shutil.which("launchctl"):
            raise FailedPrecondition("launchctl is not on PATH; add --dry-run to print the plist")
        if spec.platform == "windows" and not (self.winsw_exe and Path(self.winsw_exe).is_file()):
            raise FailedPrecondition("WinSW not found: download WinSW-x64.exe (github.com/winsw/winsw releases) "
                                     f"and pass --winsw PATH or set {WINSW_ENV}; add --dry-run to print the XML")
        if spec.scope == "system" and is_superuser() is False:
            raise FailedPrecondition(f"a system {self.manager_name} service needs root: run it with sudo, "
                                     "or pass --user")

    def install(self, files: list[ServiceFile]) -> None:
        """Write the files (the manager's where it looks), then load, enable and start the service."""
        for f in files:
            path = self.where(f.path) if f.managed else Path(f.path)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, f.content, mode=f.mode)
        if self.spec.platform == "windows" and self.standin is None:
            shutil.copyfile(self.winsw_exe, winsw.exe_path(self.spec))
        for command in self.start_commands():
            self._run(command, may_fail=self._may_fail(command))

    def installed_file(self) -> Path | None:
        path = self.where(self.service_file().path)
        return path if path.is_file() else None

    def state(self) -> str:
        """What the manager says: active, inactive, failed, running, …"""
        if self.standin is not None:
            return "unknown (stand-in manager)"
        try:
            result = subprocess.run(self.backend.state_command(self.spec), capture_output=True, text=True,
                                    timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"unknown ({exc})"
        return self.backend.parse_state(result.returncode, result.stdout)

    def uninstall(self) -> list[Path]:
        """Stop and disable the service, then remove the manager's files (nothing of llmesh's home)."""
        for command in self.backend.stop_commands(self.spec):
            self._run(command, may_fail=True)  # a service that is not running is stopped enough
        removed = []
        paths = [self.where(self.service_file().path)]
        if self.spec.platform == "windows":
            paths.append(self.where(winsw.exe_path(self.spec)))
        for path in paths:
            if path.exists():
                path.unlink()
                removed.append(path)
        for command in self.backend.after_remove_commands(self.spec):
            self._run(command, may_fail=True)
        return removed

    def _may_fail(self, command: list[str]) -> bool:
        check = getattr(self.backend, "may_fail", None)
        return bool(check and check(command))

    def _run(self, command: list[str], may_fail: bool) -> None:
        if self.standin is not None:
            self.standin.mkdir(parents=True, exist_ok=True)
            with open(self.standin / "commands.log", "a", encoding="utf-8") as log:
                log.write(subprocess.list2cmdline(command) + "\n")
            return
        interactive = "/p" in command  # WinSW asks for the account's password on the console
        try:
            result = subprocess.run(command, capture_output=not interactive, text=True,
                                    timeout=None if interactive else 120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise FailedPrecondition(f"`{subprocess.list2cmdline(command)}` failed: {exc}") from None
        if result.returncode != 0 and not may_fail:
            said = (result.stderr or result.stdout).strip().splitlines()
            raise FailedPrecondition(f"`{subprocess.list2cmdline(command)}` exited {result.returncode}"
                                     + (f": {said[-1]}" if said else ""))
