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

from llmesh.common.errors import FailedPrecondition, InvalidArgument
from llmesh.common.files import atomic_write
from llmesh.common.tickets import TICKET_TTL_S

DEFAULT_HOME = "~/.local/share/llmesh"
ENDPOINT_FILE = "coordinator.json"
CREDENTIALS_FILE = "credentials.json"
DEFAULT_HEARTBEAT_S = 5.0
OFFLINE_AFTER_BEATS = 3  # an agent silent for this many intervals is offline


def home_from_env(env: Mapping[str, str]) -> Path:
    return Path(env.get("LLMESH_HOME") or DEFAULT_HOME).expanduser().resolve()


@dataclass(frozen=True)
class HookSettings:
    """Webhook deliveries: attempts per delivery, and the backoff between them (doubling)."""
    attempts: int = 5          # the first included
    backoff_s: float = 5.0     # before the 2nd attempt; doubled for each one after, up to backoff_max_s
    backoff_max_s: float = 600.0
    timeout_s: float = 10.0    # per POST
    poll_s: float = 1.0        # how often new events and due retries are looked for


@dataclass(frozen=True)
class CoordinatorConfig:
    data_dir: Path                 # registry.db and the mesh CA live here
    listen: str = "127.0.0.1:0"    # the API (TLS; people's tokens; joins); port 0 picks a free one
    link_listen: str = ""          # agents' links (mutual TLS); default: the API port + 1, or any free port
    endpoint_file: Path | None = None  # written with the bound addresses, for meshctl to find
    credentials_file: Path | None = None  # the first admin's token, written 0600 on first start
    advertise: tuple[str, ...] = ()  # names and addresses agents use to reach us (certificate SANs)
    agent_cert_ttl_s: float = 30 * 24 * 3600
    piece_size: int = 64 * 1024 * 1024  # transfers verify and resume in pieces of this size
    ticket_ttl_s: float = TICKET_TTL_S  # transfer tickets' lifetime; destinations renew them
    http_listen: str = ""          # /healthz and /metrics (TLS, the API's certificate); "" = no HTTP
    drain_s: float = 0.0           # on stop: NOT_SERVING this long before the ports close
    hooks: HookSettings = field(default_factory=HookSettings)  # webhook retries and timeouts


DEFAULT_SCRUB_INTERVAL_S = 7 * 24 * 3600.0  # weekly
DEFAULT_SCRUB_RATE = 100 * 1024 * 1024       # 100 MiB/s: a modest share of a disk
DEFAULT_SCRUB_SHARE = 0.25                   # a scrub reads at most a quarter of the time, whatever the disk


@dataclass(frozen=True)
class AgentConfig:
    home: Path                     # agent.json (stable id), hash cache
    name: str
    coordinator: str               # host:port
    roots: tuple[str, ...]
    listen: str = "127.0.0.1:0"    # the agent's Peer service
    advertise: str = ""            # address other agents dial; defaults to the bound one
    blob_port: int = 0             # the blob socket's port on the listen host; 0: any free one
    heartbeat_interval_s: float = DEFAULT_HEARTBEAT_S
    rescan_interval_s: float = 60.0
    hash_workers: int = 2
    labels: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    join_token: str = ""           # K10<ca-sha256>::<secret>, spent on the first start
    ollama_url: str = "http://127.0.0.1:11434"  # the Ollama daemon on this host, for the ollama backend
    llama_server_binary: str = ""  # a llama-server binary; default: llama-cpp-python's server
    scrub_interval_s: float = DEFAULT_SCRUB_INTERVAL_S  # 0: no scheduled integrity scrub
    scrub_rate_bytes_s: int = DEFAULT_SCRUB_RATE      # bytes a scrub reads per second; 0: no limit
    scrub_share: float = DEFAULT_SCRUB_SHARE          # fraction of wall time a scrub may spend reading
    max_upload_rate: int = 0       # bytes/s the Peer service sends, all readers together; 0: no limit
    max_download_rate: int = 0     # bytes/s this agent's pulls receive, all together; 0: no limit
    quiet_hours: tuple = ()        # common.ratelimit.QuietHours: lower caps at times of day


@dataclass(frozen=True)
class ClientConfig:
    address: str
    source: str       # how the address was found, for error messages
    timeout_s: float = 30.0
    token: str = ""   # L10<ca-sha256>::<secret>
    ca_pem: bytes = b""


def write_endpoint(path: Path, address: str, **extra) -> None:
    """Record where the coordinator listens (atomically: no half-written file)."""
    atomic_write(path, json.dumps({"address": address, "pid": os.getpid(), **extra}, indent=2))


def read_endpoint(path: Path) -> dict:
    """What the endpoint file says (address, pid, http_address); {} when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remove_endpoint(path: Path, address: str) -> None:
    """Remove the endpoint file only if this process wrote it: another coordinator's stays."""
    data = read_endpoint(path)
    if data.get("address") == address and data.get("pid") == os.getpid():
        try:
            path.unlink()
        except OSError:
            pass


def write_credentials(home: Path, address: str, token: str, ca_pem: bytes) -> Path:
    """meshctl's credentials for one coordinator, readable by the owner alone."""
    path = home / CREDENTIALS_FILE
    atomic_write(path, json.dumps({"address": address, "token": token, "ca_pem": ca_pem.decode()}, indent=2),
                 mode=0o600)
    return path


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise FailedPrecondition(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise FailedPrecondition(f"cannot read {path}: not a JSON object")
    return data


def resolve_coordinator(flag: str | None, env: Mapping[str, str], timeout_s: float = 30.0) -> ClientConfig:
    """Where and as whom meshctl talks.

    Address: --coordinator, then LLMESH_COORDINATOR, then the endpoint file `meshctl up`
    or `coordinator serve` wrote in LLMESH_HOME, then the address of `meshctl login`.
    Token: LLMESH_TOKEN, then LLMESH_HOME/credentials.json. The CA comes from the
    credentials file, or is fetched and checked against the pin inside the token."""
    home = home_from_env(env)
    credentials = _read_json(home / CREDENTIALS_FILE) or {}
    endpoint_path = home / ENDPOINT_FILE
    if flag:
        address, source = flag, "--coordinator"
    elif env.get("LLMESH_COORDINATOR"):
        address, source = env["LLMESH_COORDINATOR"], "LLMESH_COORDINATOR"
    elif (endpoint := _read_json(endpoint_path)) and endpoint.get("address"):
        address, source = endpoint["address"], str(endpoint_path)
    elif credentials.get("address"):
        address, source = credentials["address"], str(home / CREDENTIALS_FILE)
    else:
        raise FailedPrecondition(
            f"no coordinator found: {endpoint_path} does not exist; start one with `meshctl up`, "
            "pass --coordinator HOST:PORT, or `meshctl login`")
    token = env.get("LLMESH_TOKEN") or credentials.get("token", "")
    ca_pem = credentials.get("ca_pem", "").encode()
    return ClientConfig(check_address(address), source, timeout_s, token, ca_pem)


def check_address(address: str) -> str:
    """Accept host:port or [v6]:port; refuse anything else with one line."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidArgument(f"invalid address {address!r}: expected HOST:PORT")
    return address
