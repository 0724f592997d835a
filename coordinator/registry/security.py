"""Users, join tokens, issued certificates and revocations; reading the audit log."""
from __future__ import annotations

import json
import time

from llmesh.common.errors import AlreadyExists, NotFound, PermissionDenied, Unauthenticated
from llmesh.coordinator.registry.database import Database
from llmesh.coordinator.registry.facts import check_limit


class SecurityRepository:
    def __init__(self, db: Database):
        self.db = db

    # -- users ----------------------------------------------------------------------------

    def add_user(self, name: str, role: str, token_hash: str, created_by: str) -> None:
        with self.db.atomic():
            if self.db.one("SELECT 1 AS x FROM users WHERE name = ?", [name]):
                raise AlreadyExists(f"user {name!r} already exists (remove it first to issue a new token)")
            self.db["users"].insert({"name": name, "role": role, "token_hash": token_hash,
                                     "created_at": time.time(), "created_by": created_by})
            self.db.record_event(created_by, "user.add", name, {"role": role})

    def user_by_token(self, token_hash: str) -> dict:
        row = self.db.one("SELECT name, role FROM users WHERE token_hash = ?", [token_hash])
        if not row:
            raise Unauthenticated("invalid API token")
        return row

    def list_users(self) -> list[dict]:
        return list(self.db.query("SELECT name, role, created_at, created_by FROM users ORDER BY name"))

    def remove_user(self, name: str, actor: str) -> None:
        with self.db.atomic():
            if not self.db.one("SELECT 1 AS x FROM users WHERE name = ?", [name]):
                raise NotFound(f"unknown user {name!r}")
            self.db.execute("DELETE FROM users WHERE name = ?", [name])
            self.db.record_event(actor, "user.remove", name)

    def has_users(self) -> bool:
        return self.db.one("SELECT 1 AS x FROM users LIMIT 1", []) is not None

    # -- join tokens ----------------------------------------------------------------------

    def add_join_token(self, secret_hash: str, role: str, expires_at: float, actor: str) -> None:
        with self.db.atomic():
            self.db["join_tokens"].insert({"secret_hash": secret_hash, "role": role, "created_at": time.time(),
                                           "created_by": actor, "expires_at": expires_at})
            self.db.record_event(actor, "token.create", role, {"expires_at": expires_at})

    def use_join_token(self, secret_hash: str, agent_id: str, now: float | None = None) -> str:
        """Spend a one-time join token; returns its role. Refusals say why."""
        now = now or time.time()
        with self.db.atomic():
            row = self.db.one("SELECT * FROM join_tokens WHERE secret_hash = ?", [secret_hash])
            if not row:
                raise PermissionDenied("join token not recognised by this coordinator")
            if row["used_at"]:
                raise PermissionDenied("join token was already used (tokens are one-time; create another)")
            if row["expires_at"] <= now:
                raise PermissionDenied("join token has expired (create another with `meshctl token create`)")
            self.db.execute("UPDATE join_tokens SET used_at = ?, used_by = ? WHERE secret_hash = ?",
                            [now, agent_id, secret_hash])
        return row["role"]

    # -- certificates ---------------------------------------------------------------------

    def record_certificate(self, serial: str, agent_id: str, issued_at: float, expires_at: float) -> None:
        self.db["certificates"].insert({"serial": serial, "agent_id": agent_id, "issued_at": issued_at,
                                        "expires_at": expires_at})

    def revoked_serials(self) -> set[str]:
        return {r["serial"] for r in self.db.query("SELECT serial FROM certificates WHERE revoked_at IS NOT NULL")}

    def revoked_agent_ids(self) -> set[str]:
        return {r["agent_id"] for r in self.db.query(
            "SELECT DISTINCT agent_id FROM certificates WHERE revoked_at IS NOT NULL")}

    def agent_revoked(self, agent_id: str) -> bool:
        return self.db.one("SELECT 1 AS x FROM certificates WHERE agent_id = ? AND revoked_at IS NOT NULL",
                           [agent_id]) is not None

    def remove_host(self, name: str, actor: str) -> str:
        """Revoke every certificate of the host's agent and forget the host and its copies."""
        with self.db.atomic():
            host = self.db.one("SELECT id FROM hosts WHERE name = ?", [name])
            if not host:
                raise NotFound(f"unknown host {name!r}")
            self.db.execute("UPDATE certificates SET revoked_at = ? WHERE agent_id = ? AND revoked_at IS NULL",
                            [time.time(), host["id"]])
            self.db.execute("DELETE FROM copies WHERE host_id = ?", [host["id"]])
            self.db.execute("DELETE FROM hosts WHERE id = ?", [host["id"]])
            self.db.record_event(actor, "host.remove", name, {"agent_id": host["id"]})
        return host["id"]

    # -- audit ----------------------------------------------------------------------------

    def record_peer_reads(self, reporter: str, reads: list[dict]) -> None:
        """What an agent's Peer service served or refused: one audit row per entry, the reader
        as the actor (agent:<id>, as in its other rows, and still after its host is removed),
        the digest as the resource."""
        readers = {r["reader_agent_id"] for r in reads if r["reader_agent_id"]}
        names = {row["id"]: row["name"] for row in self.db.query(
            f"SELECT id, name FROM hosts WHERE id IN ({', '.join('?' * len(readers))})", sorted(readers))}
        with self.db.atomic():
            for r in reads:
                reader = r["reader_agent_id"]
                self.db.record_event(f"agent:{reader}" if reader else "unknown", "peer.read", r["digest"], {
                    "source_host": reporter, "reader_agent_id": reader, "reader_host": names.get(reader, ""),
                    "job": r["job_id"],
                    "bytes": r["bytes"], "calls": r["calls"], "error": r["error"],
                    "first_at": r["first_at"], "last_at": r["last_at"]},
                    result=r["result"])

    def audit(self, since: float = 0.0, actor: str = "", limit: int = 1000, *, action: str = "",
              offset: int = 0) -> list[dict]:
        """Newest first; ``action`` is one (user.add) or a family of them (user: user.add, user.remove, ...)."""
        check_limit(limit)
        check_limit(offset)
        where, params = ["ts >= ?"], [since]
        if actor:
            where.append("actor = ?")
            params.append(actor)
        if action:
            where.append("(action = ? OR substr(action, 1, ?) = ?)")
            params += [action, len(action) + 1, action + "."]
        rows = self.db.query(f"SELECT * FROM events WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ? OFFSET ?",
                             params + [limit, offset])
        return [_audit_row(r) for r in rows]


def _audit_row(row: dict) -> dict:
    return {"id": row["id"], "ts": row["ts"], "actor": row["actor"], "role": row["role"] or "",
            "action": row["action"], "resource": row["resource"], "result": row["result"] or "ok",
            "source": row["source"] or "", "detail": json.loads(row["detail_json"] or "{}")}
