"""Windows: a real Windows service through WinSW, which wraps any executable — here the
virtual environment's python.exe running `-m llmesh.cli … --config FILE`.

Why WinSW: pywin32's service host (pythonservice.exe) does not run from a virtualenv (its
DLLs and site-packages are not found under the service account), NSSM is unmaintained, and
WinSW is maintained, configured by one XML file, restarts through the SCM's own recovery
actions and rolls its logs. The WinSW executable is copied beside the XML under the same
name (WinSW 2.x finds its XML that way; 3.x does too).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

from llmesh.common.services.spec import ServiceFile, ServiceSpec

RESTART_DELAYS = ("10 sec", "30 sec", "60 sec")  # the last one repeats for later failures
RESET_FAILURE = "1 hour"                            # a service up this long starts counting afresh


def service_dir(spec: ServiceSpec) -> str:
    return spec.path(spec.home, "service")


def xml_path(spec: ServiceSpec) -> str:
    return spec.path(service_dir(spec), f"{spec.name}.xml")


def exe_path(spec: ServiceSpec) -> str:
    return spec.path(service_dir(spec), f"{spec.name}.exe")


def render(spec: ServiceSpec) -> ServiceFile:
    root = ET.Element("service")
    _text(root, "id", spec.name)
    _text(root, "name", spec.description)
    _text(root, "description", f"{spec.description}: `meshctl {spec.kind} install` wrote this; "
                               "installing again rewrites it.")
    _text(root, "executable", spec.argv[0])
    for arg in spec.argv[1:]:  # one element each: WinSW quotes them itself
        _text(root, "argument", arg)
    _text(root, "workingdirectory", spec.working_dir)
    _text(root, "startmode", "Automatic")
    _text(root, "delayedAutoStart", "true")  # after the network is up at boot
    for name, value in spec.env:
        ET.SubElement(root, "env", name=name, value=value)
    for delay in RESTART_DELAYS:
        ET.SubElement(root, "onfailure", action="restart", delay=delay)
    _text(root, "resetfailure", RESET_FAILURE)
    _text(root, "stoptimeout", "30 sec")  # Ctrl+C first: the agent stops its model servers
    _text(root, "stopparentprocessfirst", "true")
    account = ET.SubElement(root, "serviceaccount")
    if spec.scope == "system":
        _text(account, "user", "LocalSystem")
    else:  # the installing user; WinSW asks for the password when installing (install /p)
        domain, _, user = spec.account.rpartition("\\")
        _text(account, "domain", domain or ".")
        _text(account, "user", user)
        _text(account, "allowservicelogon", "true")
    _text(root, "logpath", spec.log_dir)
    log = ET.SubElement(root, "log", mode="roll-by-size")
    _text(log, "sizeThreshold", "10240")  # KB
    _text(log, "keepFiles", "8")
    ET.indent(root)
    return ServiceFile(xml_path(spec), ET.tostring(root, encoding="unicode") + "\n")


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = text
    return element


def start_commands(spec: ServiceSpec) -> list[list[str]]:
    """Replace an installed copy (an upgrade) and start it; Automatic starts it at boot."""
    exe = exe_path(spec)
    install = [exe, "install"] + (["/p"] if spec.scope == "user" else [])
    return [[exe, "stop"], [exe, "uninstall"], install, [exe, "start"]]


def may_fail(command: list[str]) -> bool:
    return command[1] in ("stop", "uninstall")  # not installed yet


def stop_commands(spec: ServiceSpec) -> list[list[str]]:
    return [[exe_path(spec), "stop"], [exe_path(spec), "uninstall"]]


def after_remove_commands(spec: ServiceSpec) -> list[list[str]]:
    return []


def state_command(spec: ServiceSpec) -> list[str]:
    return [exe_path(spec), "status"]


def parse_state(returncode: int, output: str) -> str:
    word = output.strip().splitlines()[-1].strip() if output.strip() else ""
    return {"Started": "active", "Active": "active", "Stopped": "inactive", "Inactive": "inactive",
            "NonExistent": "not installed"}.get(word, word or "unknown")
