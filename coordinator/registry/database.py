"""The one SQLite database under every repository: its connection, transactions, the
event log, and the row helpers the repositories share.

SQLite through sqlite-utils, in WAL mode. The coordinator calls the registry from one
writer thread (see coordinator.core), so everything here is plain synchronous code;
each change runs in one transaction (``atomic``), so a failure leaves no partial rows.
"""
from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import sqlite_utils

from llmesh.common.files import make_private
from llmesh.coordinator.identity import SYSTEM, current_caller

# The registry holds token hashes and the audit log: its files are the owner's alone.
# SQLite gives the -wal and -shm files the database file's mode when it creates them.
PRIVATE_SUFFIXES = ("", "-wal", "-shm", "-journal")
MMAP_BYTES = 1 << 30
CACHE_KIB = 32 * 1024


class Database:
    def __init__(self, path: Path | str):
        on_disk = str(path) != ":memory:"
        if on_disk:
            _make_private_files(Path(path))
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 5000")
        # The sqlite-utils database (tables, indexes): what migrations and bulk loads work on.
        self.handle = sqlite_utils.Database(conn)
        if on_disk:
            self.handle.enable_wal()
            _make_private_files(Path(path))  # the -wal and -shm files WAL mode just made
        self.handle.execute("PRAGMA foreign_keys = ON")
        self.handle.execute("PRAGMA synchronous = NORMAL")
        # Listings and searches read pages all over a big registry: mapped, a page costs no read
        # call (SQLite maps at most the file's size; 2 MiB of page cache is its default).
        self.handle.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        self.handle.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        self.conn = conn

    def close(self) -> None:
        self.conn.close()

    # -- SQL ------------------------------------------------------------------------------

    def atomic(self) -> AbstractContextManager:
        """BEGIN…COMMIT, or a savepoint when nested; rolls back on error."""
        return self.handle.atomic()

    def query(self, sql: str, params: list | None = None) -> Iterator[dict]:
        return self.handle.query(sql, params)

    def execute(self, sql: str, params: list | None = None) -> sqlite3.Cursor:
        return self.handle.execute(sql, params)

    def __getitem__(self, table: str) -> sqlite_utils.db.Table:
        return self.handle[table]

    def one(self, sql: str, params: list) -> dict | None:
        """The first row of a query, or None."""
        for row in self.handle.query(sql, params):
            return row
        return None

    def version_ref(self, version_id: int) -> str:
        """NAME:NUMBER of a version, as messages and events name it."""
        row = self.one("SELECT m.name, v.number FROM versions v JOIN models m ON m.id = v.model_id "
                       "WHERE v.id = ?", [version_id])
        return f"{row['name']}:{row['number']}"

    # -- events ---------------------------------------------------------------------------

    def record_event(self, actor: str, action: str, resource: str, detail: dict | None = None,
                     result: str = "ok", *, role: str | None = None, source: str | None = None) -> None:
        """Append to the audit log. Who, with which role and from where default to the
        caller of the RPC being served (the auth interceptor sets it for every call); a
        refusal, which has no established caller, passes what the interceptor found."""
        who = current_caller.get() or SYSTEM
        self.handle["events"].insert({
            "ts": time.time(), "actor": actor or who.name, "role": who.role if role is None else role,
            "source": who.address if source is None else source,
            "result": result, "action": action, "resource": resource,
            "detail_json": json.dumps(detail or {}, sort_keys=True),
        })

    def events(self, limit: int = 100) -> list[dict]:
        rows = self.handle.query("SELECT * FROM events ORDER BY id DESC LIMIT ?", [limit])
        return [decode_json_columns(r) for r in rows]


def _make_private_files(path: Path) -> None:
    """0600 for the database and those of its side files that exist (fixing older ones)."""
    make_private(path)
    for suffix in PRIVATE_SUFFIXES[1:]:
        make_private(path.with_name(path.name + suffix), create=False)


def decode_json_columns(row: dict) -> dict:
    """A row with each ``X_json`` column replaced by X, decoded."""
    out = dict(row)
    for key in [k for k in out if k.endswith("_json")]:
        out[key[:-5]] = json.loads(out.pop(key) or "null")
    return out


def chunks(items: list, size: int) -> Iterator[list]:
    """Slices of at most ``size`` items: SQLite caps the parameters of one statement."""
    for i in range(0, len(items), size):
        yield items[i:i + size]
