"""The agent's stable id, kept in its home so a restart is the same host."""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from llmesh.common.errors import FailedPrecondition
from llmesh.common.files import atomic_write

IDENTITY_FILE = "agent.json"


def load_or_create_identity(home: Path) -> dict:
    path = home / IDENTITY_FILE
    try:
        identity = json.loads(path.read_text())
        if not isinstance(identity, dict) or not identity.get("id"):
            raise ValueError("no id")
        return identity
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        raise FailedPrecondition(f"{path} is unreadable ({exc}); move it away to give this agent a new id")
    identity = {"id": uuid.uuid4().hex, "created_at": time.time()}
    atomic_write(path, json.dumps(identity))
    return identity
