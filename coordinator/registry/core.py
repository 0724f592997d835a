"""The registry: every line of SQL in llmesh lives in this package.

SQLite through sqlite-utils, in WAL mode. The coordinator calls it from one writer
thread (see coordinator.service), so methods here are plain synchronous code; each
change runs in one transaction, so a failure leaves no partial rows. The Registry
class is assembled from one mixin per area (hosts, models, …); each area adds its
tables through a numbered migration in MIGRATIONS.
"""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Callable

import sqlite_utils

from llmesh.common.errors import InvalidArgument
from llmesh.coordinator.auth import SYSTEM, current_caller


def _migration_1(db: sqlite_utils.Database) -> None:
    db["hosts"].create({
        "id": str, "name": str, "hostname": str, "platform": str, "os": str, "arch": str,
        "facts_json": str, "hardware_json": str, "roots_json": str, "labels_json": str,
        "problems_json": str, "peer_address": str, "agent_version": str,
        "heartbeat_interval_s": float, "scanning": int, "first_seen": float, "last_seen": float,
    }, pk="id")
    db["hosts"].create_index(["name"], unique=True)
    db["models"].create({
        "id": int, "name": str, "origin": str, "display_name": str, "description": str,
        "created_at": float, "updated_at": float,
    }, pk="id")
    db["models"].create_index(["name"], unique=True)
    db["versions"].create({
        "id": int, "model_id": int, "number": int, "digest": str, "kind": str, "format": str,
        "source": str, "size_bytes": int, "file_count": int, "metadata_json": str,
        "base_model": str, "registered": int, "notes": str, "created_by": str,
        "created_at": float, "updated_at": float,
    }, pk="id", foreign_keys=[("model_id", "models", "id")])
    db["versions"].create_index(["digest"], unique=True)
    db["versions"].create_index(["model_id", "number"], unique=True)
    db["version_files"].create({"version_id": int, "path": str, "size": int, "digest": str},
                               pk=("version_id", "path"), foreign_keys=[("version_id", "versions", "id")])
    db["version_files"].create_index(["digest"])
    db["copies"].create({
        "id": int, "version_id": int, "host_id": str, "path": str, "state": str,
        "verified_at": float, "updated_at": float,
    }, pk="id", foreign_keys=[("version_id", "versions", "id"), ("host_id", "hosts", "id")])
    db["copies"].create_index(["host_id", "path"], unique=True)
    db["copies"].create_index(["version_id"])
    db["version_tags"].create({"version_id": int, "key": str, "value": str},
                              pk=("version_id", "key"), foreign_keys=[("version_id", "versions", "id")])
    db["version_roles"].create({"version_id": int, "role": str},
                               pk=("version_id", "role"), foreign_keys=[("version_id", "versions", "id")])
    db["tombstones"].create({"digest": str, "deleted_at": float, "deleted_by": str}, pk="digest")
    db["events"].create({
        "id": int, "ts": float, "actor": str, "action": str, "resource": str, "detail_json": str,
    }, pk="id")
    db["events"].create_index(["ts"])



# Numbered schema migrations, applied in order, once each. Areas register theirs here.
MIGRATIONS: dict[int, Callable[[sqlite_utils.Database], None]] = {1: _migration_1}


class RegistryCore:
    def __init__(self, path: Path | str):
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 5000")
        self.db = sqlite_utils.Database(conn)
        if str(path) != ":memory:":
            self.db.enable_wal()
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self._migrate()

    def close(self) -> None:
        self.db.conn.close()

    # -- schema ---------------------------------------------------------------------------

    def _migrate(self) -> None:
        if "schema_migrations" not in self.db.table_names():
            self.db["schema_migrations"].create({"version": int, "applied_at": float}, pk="version")
        applied = {r["version"] for r in self.db["schema_migrations"].rows}
        newer = [v for v in applied if v not in MIGRATIONS]
        if newer:
            raise InvalidArgument(
                f"registry schema version {max(newer)} is newer than this coordinator "
                f"understands ({schema_version()}); upgrade llmesh")
        for version in sorted(MIGRATIONS):
            if version in applied:
                continue
            with self._tx():
                MIGRATIONS[version](self.db)
                self.db["schema_migrations"].insert({"version": version, "applied_at": time.time()})

    def schema_version(self) -> int:
        return max(r["version"] for r in self.db["schema_migrations"].rows)

    def _tx(self):
        return self.db.atomic()  # BEGIN…COMMIT, or a savepoint when nested; rolls back on error

    # -- events ---------------------------------------------------------------------------

    def record_event(self, actor: str, action: str, resource: str, detail: dict | None = None,
                     result: str = "ok") -> None:
        """Append to the audit log. Who, with which role and from where default to the
        caller of the RPC being served (coordinator.auth sets it for every call)."""
        who = current_caller.get() or SYSTEM
        self.db["events"].insert({
            "ts": time.time(), "actor": actor or who.name, "role": who.role, "source": who.address,
            "result": result, "action": action, "resource": resource,
            "detail_json": json.dumps(detail or {}, sort_keys=True),
        })

    def events(self, limit: int = 100) -> list[dict]:
        rows = self.db.query("SELECT * FROM events ORDER BY id DESC LIMIT ?", [limit])
        return [_decode(r) for r in rows]

    # -- helpers --------------------------------------------------------------------------

    def _ref(self, version_id: int) -> str:
        row = self._one("SELECT m.name, v.number FROM versions v JOIN models m ON m.id = v.model_id "
                        "WHERE v.id = ?", [version_id])
        return f"{row['name']}:{row['number']}"

    def _one(self, sql: str, params: list) -> dict | None:
        for row in self.db.query(sql, params):
            return row
        return None



def schema_version() -> int:
    return max(MIGRATIONS)


def _decode(row: dict) -> dict:
    out = dict(row)
    for key in [k for k in out if k.endswith("_json")]:
        out[key[:-5]] = json.loads(out.pop(key) or "null")
    return out


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]
