"""Configuration, read once at start-up into frozen dataclasses and passed down.

Nothing here reads the environment at import time: ``from_env`` helpers take the
environment mapping as an argument, and only meshctl's entry point calls them.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from .errors import FailedPrecondition, InvalidArgument

DEFAULT_HOME = "~/.local/share/llmesh"
ENDPOINT_FILE = "coordinator.json"
DEFAULT_HEARTBEAT_S = 5.0
OFFLINE_AFTER_BEATS = 3  # an agent silent for this many intervals is offline


def home_from_env(env: Mapping[str, str]) -> Path:
    return Path(env.get("LLMESH_HOME") or DEFAULT_HOME).expanduser().resolve()


@dataclass(frozen=True)
class CoordinatorConfig:
    data_dir: Path                 # registry.db lives here
    listen: str = "127.0.0.1:0"    # host:port; port 0 picks a free one
    endpoint_file: Path | None = None  # written with the bound address, for meshctl to find
    advertise: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgentConfig:
    home: Path                     # agent.json (stable id), hash cache
    name: str
    coordinator: str               # host:port
    roots: tuple[str, ...]
    listen: str = "127.0.0.1:0"    # the agent's Peer service
    advertise: str = ""            # address other agents dial; defaults to the bound one
    heartbeat_interval_s: float = DEFAULT_HEARTBEAT_S
    rescan_interval_s: float = 60.0
    hash_workers: int = 2
    labels: tuple[tuple[str, str], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ClientConfig:
    address: str
    source: str       # how the address was found, for error messages
    timeout_s: float = 30.0


def write_endpoint(path: Path, address: str) -> None:
    """Record where the coordinator listens (atomically: no half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"address": address, "pid": os.getpid()}))
    os.replace(tmp, path)


def remove_endpoint(path: Path, address: str) -> None:
    try:
        if json.loads(path.read_text()).get("address") == address:
            path.unlink()
    except (OSError, ValueError):
        pass


def resolve_coordinator(flag: str | None, env: Mapping[str, str], timeout_s: float = 30.0) -> ClientConfig:
    """--coordinator, then LLMESH_COORDINATOR, then the endpoint file in LLMESH_HOME."""
    if flag:
        return ClientConfig(check_address(flag), "--coordinator", timeout_s)
    if env.get("LLMESH_COORDINATOR"):
        return ClientConfig(check_address(env["LLMESH_COORDINATOR"]), "LLMESH_COORDINATOR", timeout_s)
    endpoint = home_from_env(env) / ENDPOINT_FILE
    try:
        address = json.loads(endpoint.read_text())["address"]
    except FileNotFoundError:
        raise FailedPrecondition(
            f"no coordinator found: {endpoint} does not exist; start one with `meshctl up` "
            "or pass --coordinator HOST:PORT") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FailedPrecondition(f"cannot read {endpoint}: {exc}") from None
    return ClientConfig(check_address(address), str(endpoint), timeout_s)


def check_address(address: str) -> str:
    """Accept host:port or [v6]:port; refuse anything else with one line."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidArgument(f"invalid address {address!r}: expected HOST:PORT")
    return address
