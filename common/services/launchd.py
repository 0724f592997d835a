"""macOS: a launchd LaunchDaemon (/Library/LaunchDaemons: runs at boot with no one logged in)
or, with --user, a LaunchAgent (~/Library/LaunchAgents: runs while that user is logged in).

RunAtLoad starts it when loaded (and at boot), KeepAlive starts it again whenever it exits;
launchd itself waits ThrottleInterval seconds between starts.
"""
from __future__ import annotations

import plistlib

from llmesh.common.platform import user_id
from llmesh.common.services.spec import ServiceFile, ServiceSpec

SYSTEM_DIR = "/Library/LaunchDaemons"
USER_DIR = "Library/LaunchAgents"


def plist_path(spec: ServiceSpec) -> str:
    folder = SYSTEM_DIR if spec.scope == "system" else spec.path(spec.user_home, USER_DIR)
    return spec.path(folder, f"{spec.label}.plist")


def render(spec: ServiceSpec) -> ServiceFile:
    plist = {
        "Label": spec.label,
        "ProgramArguments": list(spec.argv),
        "EnvironmentVariables": dict(spec.env),
        "WorkingDirectory": spec.working_dir,
        "RunAtLoad": True,
        "KeepAlive": True,
        "ThrottleInterval": 10,
        "ProcessType": "Standard",
        # stdout/stderr of the process; its own rotating log is HOME/logs/<kind>.log
        "StandardOutPath": spec.path(spec.log_dir, f"{spec.kind}.stdout.log"),
        "StandardErrorPath": spec.path(spec.log_dir, f"{spec.kind}.stderr.log"),
    }
    return ServiceFile(plist_path(spec), plistlib.dumps(plist, sort_keys=False).decode())


def _domain(spec: ServiceSpec) -> str:
    return "system" if spec.scope == "system" else f"gui/{user_id() or 501}"


def start_commands(spec: ServiceSpec) -> list[list[str]]:
    """Unload a loaded copy (an upgrade), load the new one, enable it at boot and start it now."""
    target = f"{_domain(spec)}/{spec.label}"
    return [["launchctl", "bootout", target], ["launchctl", "bootstrap", _domain(spec), plist_path(spec)],
            ["launchctl", "enable", target], ["launchctl", "kickstart", "-k", target]]


def may_fail(command: list[str]) -> bool:
    return command[1] == "bootout"  # not loaded yet: nothing to unload


def stop_commands(spec: ServiceSpec) -> list[list[str]]:
    return [["launchctl", "bootout", f"{_domain(spec)}/{spec.label}"]]


def after_remove_commands(spec: ServiceSpec) -> list[list[str]]:
    return []


def state_command(spec: ServiceSpec) -> list[str]:
    return ["launchctl", "print", f"{_domain(spec)}/{spec.label}"]


def parse_state(returncode: int, output: str) -> str:
    if returncode != 0:
        return "not loaded"
    for line in output.splitlines():
        key, sep, value = line.strip().partition(" = ")
        if sep and key == "state":
            return value.strip()
    return "loaded"
