"""Hub credentials an agent holds: ``hub-credentials.json`` (0600) in the agent's home, written by
`meshctl hub login` run on that host, or by the agent itself when `hub login --host` reaches it
through the coordinator (which relays the secret without logging or storing it). They are read by
the agent when a hub job runs and never sent anywhere but to the hub they are for."""
from __future__ import annotations

import json
from pathlib import Path

from llmesh.common.errors import InvalidArgument
from llmesh.common.files import atomic_write

FILE = "hub-credentials.json"
HF = "hf"


def load(home: Path) -> dict[str, dict]:
    try:
        data = json.loads((home / FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def for_registry(home: Path | None, registry: str) -> tuple[str, str]:
    """(username, password) for a registry host, or empty strings."""
    entry = load(home).get(registry.lower(), {}) if home else {}
    return entry.get("username", ""), entry.get("password", "")


def hf_token(home: Path | None) -> str | None:
    return (load(home).get(HF) or {}).get("token") or None if home else None


def save(home: Path, hub: str, *, username: str = "", secret: str) -> Path:
    if not secret:
        raise InvalidArgument("an empty secret: give the password or token on standard input")
    data = load(home)
    key = hub.lower()
    data[key] = {"token": secret} if key == HF else {"username": username, "password": secret}
    home.mkdir(parents=True, exist_ok=True)
    atomic_write(home / FILE, json.dumps(data, indent=2, sort_keys=True), mode=0o600)
    return home / FILE
