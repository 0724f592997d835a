"""Lifecycle: the state a user gives a version (draft, training, active, deprecated,
archived), moved only along facts.TRANSITIONS, each move kept in state_history and the
event log. Leaving draft or training needs weights (registration status ready)."""
from __future__ import annotations

import time

from llmesh.common.errors import FailedPrecondition
from llmesh.common.names import ModelRef
from llmesh.coordinator.registry.database import Database
from llmesh.coordinator.registry.facts import TRANSITIONS, check_state
from llmesh.coordinator.registry.versions import VersionsRepository


class LifecycleRepository:
    def __init__(self, db: Database, versions: VersionsRepository):
        self.db = db
        self.versions = versions

    def set_state(self, ref: ModelRef, state: str, reason: str = "", actor: str = "",
                  now: float | None = None) -> int:
        now = now or time.time()
        check_state(state)
        with self.db.atomic():
            version_id = self.versions.resolve(ref)
            self.move_state(version_id, state, actor, reason, now)
        return version_id

    def move_state(self, version_id: int, state: str, actor: str, reason: str, now: float) -> None:
        """Move along TRANSITIONS (inside the caller's transaction), or say why not."""
        check_state(state)
        row = self.db["versions"].get(version_id)
        current = row["state"]
        ref = self.db.version_ref(version_id)
        if current == state:
            raise FailedPrecondition(f"{ref} is already {state}")
        if state not in TRANSITIONS[current]:
            allowed = ", ".join(sorted(TRANSITIONS[current])) or "none"
            raise FailedPrecondition(f"{ref} cannot go from {current} to {state} (from {current}: {allowed})")
        if current in ("draft", "training") and state not in ("draft", "training", "archived") \
                and row["status"] != "ready":
            raise FailedPrecondition(f"{ref} has no weights yet: register them before making it {state}")
        self.db.execute("UPDATE versions SET state = ?, updated_at = ? WHERE id = ?", [state, now, version_id])
        self.record_state(version_id, current, state, actor, reason, now)

    def record_state(self, version_id: int, old: str, new: str, actor: str, reason: str, now: float) -> None:
        """Keep a state change in state_history and the event log."""
        self.db["state_history"].insert({"version_id": version_id, "from_state": old, "to_state": new,
                                         "actor": actor, "reason": reason, "ts": now})
        self.db.record_event(actor, "model.state", self.db.version_ref(version_id),
                             {"from": old, "to": new, "reason": reason})

    def state_history(self, version_id: int) -> list[dict]:
        return [dict(r) for r in self.db.query(
            "SELECT from_state, to_state, actor, reason, ts FROM state_history WHERE version_id = ? ORDER BY id",
            [version_id])]
