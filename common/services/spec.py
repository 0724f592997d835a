"""What a service is, whatever the manager: its command line, environment, account and files.

Paths are strings in the *target* host's syntax (``--platform windows`` on Linux renders
``C:\\llmesh\\agent.toml``), never converted through this host's Path.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import PurePosixPath, PureWindowsPath
from typing import Mapping, Sequence

from llmesh.common.errors import InvalidArgument

PLATFORMS = ("linux", "macos", "windows")
KINDS = ("agent", "coordinator")
SCOPES = ("system", "user")
# What a service account does not inherit from the installing shell: where models and caches
# live and which GPUs to use. Captured explicitly into the unit, plist or XML when set.
CAPTURED_ENV = ("HF_HOME", "HF_HUB_CACHE", "OLLAMA_MODELS", "OLLAMA_HOST", "CUDA_VISIBLE_DEVICES")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def host_platform() -> str:
    return {"darwin": "macos", "win32": "windows", "cygwin": "windows"}.get(sys.platform, "linux")


def join(platform: str, *parts: str) -> str:
    """Join path parts in the target platform's syntax."""
    return str((PureWindowsPath if platform == "windows" else PurePosixPath)(*parts))


@dataclass(frozen=True)
class ServiceFile:
    path: str
    content: str
    mode: int = 0o644
    managed: bool = True  # belongs to the service manager (unit, plist, XML), not to llmesh's home


@dataclass(frozen=True)
class ServiceSpec:
    kind: str                           # agent | coordinator
    platform: str                       # linux | macos | windows
    scope: str                          # system | user
    argv: tuple[str, ...]               # the exact command line the manager starts
    home: str                           # LLMESH_HOME on the target host
    user_home: str = "~"                # the installing user's home (user-scope files live under it)
    env: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    account: str = ""                   # Windows --user: the account the service runs as, DOMAIN\\USER

    @property
    def name(self) -> str:             # systemd unit and WinSW id
        return f"llmesh-{self.kind}"

    @property
    def label(self) -> str:            # launchd label
        return f"llmesh.{self.kind}"

    @property
    def description(self) -> str:
        return f"llmesh {self.kind}"

    @property
    def working_dir(self) -> str:
        return self.home

    @property
    def log_dir(self) -> str:
        return join(self.platform, self.home, "logs")

    def path(self, *parts: str) -> str:
        return join(self.platform, *parts)


def service_env(env: Mapping[str, str], home: str, extra: Sequence[str] = ()) -> tuple[tuple[str, str], ...]:
    """LLMESH_HOME, the captured variables that are set in ``env``, then each ``--env KEY=VALUE``
    (or ``--env KEY``: its value in ``env``)."""
    out = {"LLMESH_HOME": home}
    out.update({k: env[k] for k in CAPTURED_ENV if env.get(k)})
    for item in extra:
        key, sep, value = item.partition("=")
        if not _ENV_NAME.match(key):
            raise InvalidArgument(f"--env {item!r}: expected KEY=VALUE or KEY with KEY a variable name")
        if not sep:
            if key not in env:
                raise InvalidArgument(f"--env {key}: not set in this shell; pass --env {key}=VALUE")
            value = env[key]
        if any(c in value for c in "\0\r\n"):
            raise InvalidArgument(f"--env {key}: the value must be one line")
        out[key] = value
    return tuple(out.items())
