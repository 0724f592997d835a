"""Linux: a systemd unit, system-wide (/etc/systemd/system) or the user's (~/.config/systemd/user).

Restart=always with no start limit: an agent that dies is started again, however often.
KillMode=mixed: stop sends SIGTERM to the agent alone, which stops its model servers itself,
and only what is left after the timeout is killed.
"""
from __future__ import annotations

import re

from llmesh.common.services.spec import ServiceFile, ServiceSpec

SYSTEM_DIR = "/etc/systemd/system"
USER_DIR = ".config/systemd/user"
_PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./-]+\Z")


def unit_path(spec: ServiceSpec) -> str:
    folder = SYSTEM_DIR if spec.scope == "system" else spec.path(spec.user_home, USER_DIR)
    return spec.path(folder, f"{spec.name}.service")


def quote(arg: str) -> str:
    """One argument in systemd's command-line syntax; % and $ would be expanded otherwise."""
    arg = arg.replace("%", "%%").replace("$", "$$")
    if _PLAIN.match(arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(spec: ServiceSpec) -> ServiceFile:
    env = "".join(f"Environment={quote(f'{k}={v}')}\n" for k, v in spec.env)
    wanted_by = "multi-user.target" if spec.scope == "system" else "default.target"
    content = f"""# Written by `meshctl {spec.kind} install`; installing again rewrites it.
[Unit]
Description={spec.description}
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart={" ".join(quote(a) for a in spec.argv)}
WorkingDirectory={spec.working_dir.replace("%", "%%")}
{env}Restart=always
RestartSec=5
KillMode=mixed
TimeoutStopSec=30

[Install]
WantedBy={wanted_by}
"""
    return ServiceFile(unit_path(spec), content)


def _systemctl(spec: ServiceSpec, *args: str) -> list[str]:
    return ["systemctl", *(["--user"] if spec.scope == "user" else []), *args]


def start_commands(spec: ServiceSpec) -> list[list[str]]:
    """Load the unit, start it at boot, and (re)start it now: a running one picks up the upgrade."""
    return [_systemctl(spec, "daemon-reload"), _systemctl(spec, "enable", f"{spec.name}.service"),
            _systemctl(spec, "restart", f"{spec.name}.service")]


def stop_commands(spec: ServiceSpec) -> list[list[str]]:
    return [_systemctl(spec, "disable", "--now", f"{spec.name}.service")]


def after_remove_commands(spec: ServiceSpec) -> list[list[str]]:
    return [_systemctl(spec, "daemon-reload")]


def state_command(spec: ServiceSpec) -> list[str]:
    return _systemctl(spec, "is-active", f"{spec.name}.service")


def parse_state(returncode: int, output: str) -> str:
    word = output.strip().splitlines()[-1].strip() if output.strip() else ""
    return word or ("active" if returncode == 0 else "unknown")
