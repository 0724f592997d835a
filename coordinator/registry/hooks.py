"""Webhooks: the hooks, the deliveries queued from the event log, and every attempt."""
from __future__ import annotations

import json
import time
import uuid

from llmesh.common.errors import NotFound
from llmesh.coordinator.registry.database import Database


class HooksRepository:
    def __init__(self, db: Database):
        self.db = db

    def add_hook(self, url: str, events: list[str], secret: str, actor: str) -> dict:
        hook_id = uuid.uuid4().hex[:10]
        with self.db.atomic():
            after = self.db.one("SELECT COALESCE(MAX(id), 0) AS n FROM events", [])["n"]
            self.db["hooks"].insert({"id": hook_id, "url": url, "events_json": json.dumps(events), "secret": secret,
                                     "after_event_id": after, "created_by": actor, "created_at": time.time()})
            self.db.record_event(actor, "hook.add", hook_id, {"url": url, "events": events})
        return self._hook(self.db["hooks"].get(hook_id))

    def list_hooks(self) -> list[dict]:
        return [self._hook(r) for r in self.db.query("SELECT * FROM hooks ORDER BY created_at, id")]

    def remove_hook(self, hook_id: str, actor: str) -> None:
        with self.db.atomic():
            row = self.db.one("SELECT url FROM hooks WHERE id = ?", [hook_id])
            if not row:
                raise NotFound(f"unknown hook {hook_id!r} (see `meshctl hooks list`)")
            self.db.execute("DELETE FROM hooks WHERE id = ?", [hook_id])
            self.db.execute("UPDATE hook_deliveries SET state = 'failed', updated_at = ? "
                            "WHERE hook_id = ? AND state = 'pending'", [time.time(), hook_id])
            self.db.record_event(actor, "hook.remove", hook_id, {"url": row["url"]})

    @staticmethod
    def _hook(row: dict) -> dict:
        return {"id": row["id"], "url": row["url"], "events": json.loads(row["events_json"]),
                "created_at": row["created_at"], "created_by": row["created_by"]}

    # -- queueing and delivering ----------------------------------------------------------

    def new_events(self, limit: int = 500) -> tuple[list[dict], list[dict]]:
        """Events past the cursor, oldest first, and the hooks (with secrets) they may go to."""
        cursor = self.db.one("SELECT last_event_id FROM hook_cursor WHERE id = 1", [])["last_event_id"]
        events = list(self.db.query("SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", [cursor, limit]))
        hooks = [{**self._hook(r), "after_event_id": r["after_event_id"]} for r in
                 self.db.query("SELECT * FROM hooks ORDER BY id")] if events else []
        return events, hooks

    def queue_deliveries(self, last_event_id: int, deliveries: list[dict]) -> None:
        """Queue deliveries ({id, hook_id, url, event, event_id, payload}) and move the cursor, at once."""
        now = time.time()
        with self.db.atomic():
            self.db["hook_deliveries"].insert_all(
                [{**d, "state": "pending", "attempts": 0, "next_at": now, "created_at": now, "updated_at": now}
                 for d in deliveries])
            self.db.execute("UPDATE hook_cursor SET last_event_id = MAX(last_event_id, ?) WHERE id = 1",
                            [last_event_id])

    def due_deliveries(self, now: float, limit: int = 100) -> list[dict]:
        return list(self.db.query(
            "SELECT d.id, d.hook_id, d.url, d.event, d.payload, d.attempts, h.secret FROM hook_deliveries d "
            "JOIN hooks h ON h.id = d.hook_id WHERE d.state = 'pending' AND d.next_at <= ? "
            "ORDER BY d.next_at, d.event_id LIMIT ?", [now, limit]))

    def record_attempt(self, delivery_id: str, attempt: int, http_status: int, error: str, outcome: str,
                       next_at: float | None) -> None:
        """One attempt's result; ``outcome``: delivered, retrying (again at ``next_at``) or failed."""
        now = time.time()
        with self.db.atomic():
            self.db["hook_attempts"].insert({"delivery_id": delivery_id, "attempt": attempt, "ts": now,
                                             "http_status": http_status, "error": error, "outcome": outcome})
            state = "pending" if outcome == "retrying" else outcome
            self.db.execute("UPDATE hook_deliveries SET state = ?, attempts = ?, next_at = ?, updated_at = ? "
                            "WHERE id = ?", [state, attempt, next_at or now, now, delivery_id])

    def hook_log(self, hook_id: str = "", limit: int = 100) -> list[dict]:
        where, params = ("WHERE d.hook_id = ?", [hook_id]) if hook_id else ("", [])
        return list(self.db.query(
            "SELECT a.delivery_id, d.hook_id, d.url, d.event, a.attempt, a.ts, a.http_status, a.error, a.outcome "
            f"FROM hook_attempts a JOIN hook_deliveries d ON d.id = a.delivery_id {where} "
            "ORDER BY a.id DESC LIMIT ?", [*params, limit]))
