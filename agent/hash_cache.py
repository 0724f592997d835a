"""A persistent cache of file digests, so a rescan of unchanged files costs only `stat`.

Rows are keyed by (st_dev, st_ino, st_size, st_mtime_ns): a file rewritten in place gets a new
mtime, a file replaced by rename gets a new inode, so a stale digest is never served. Every row is
loaded into a dict when the cache opens; lookups never touch SQLite. Writes are batched.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time

COMMIT_EVERY_ROWS = 500
COMMIT_EVERY_SECONDS = 2.0
SCHEMA_VERSION = 1

Key = tuple[int, int, int, int]


def stat_key(st: os.stat_result) -> Key:
    return (_int64(st.st_dev), _int64(st.st_ino), st.st_size, st.st_mtime_ns)


def _int64(value: int) -> int:
    # SQLite integers are signed 64-bit; some file systems hand out larger inode numbers.
    return (value + 2**63) % 2**64 - 2**63


class HashCache:
    """Thread-safe map from a file's stat identity to its 'sha256:<hex>' digest."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        self._lock = threading.Lock()
        self._pending: list[tuple[int, int, int, int, str, str]] = []
        self._last_commit = time.monotonic()
        self._db = self._open()
        self._digests: dict[Key, str] = self._load_all()

    # -- public API ---------------------------------------------------------------------------

    def get(self, st: os.stat_result) -> str | None:
        return self._digests.get(stat_key(st))

    def put(self, st: os.stat_result, digest: str, path: str | os.PathLike) -> None:
        key = stat_key(st)
        with self._lock:
            self._digests[key] = digest
            self._pending.append((*key, digest, str(path)))
            if (len(self._pending) >= COMMIT_EVERY_ROWS
                    or time.monotonic() - self._last_commit >= COMMIT_EVERY_SECONDS):
                self._flush_locked()

    def flush(self) -> None:
        """Write every pending row now (the scanner calls this at the end of a scan)."""
        with self._lock:
            self._flush_locked()

    def close(self) -> None:
        with self._lock:
            if self._db is None:
                return
            self._flush_locked()
            self._db.close()
            self._db = None

    def __len__(self) -> int:
        return len(self._digests)

    def __enter__(self) -> "HashCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError:
            # The cache only saves work: a damaged file is set aside and rebuilt, never fatal.
            if self.path != ":memory:" and os.path.exists(self.path):
                os.replace(self.path, self.path + ".corrupt")
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                db.execute("DROP TABLE IF EXISTS file_digests")
            db.execute(
                "CREATE TABLE IF NOT EXISTS file_digests ("
                " dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL,"
                " mtime_ns INTEGER NOT NULL, digest TEXT NOT NULL, path TEXT NOT NULL,"
                " PRIMARY KEY (dev, ino, size, mtime_ns)) WITHOUT ROWID")
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("SELECT count(*) FROM file_digests").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _load_all(self) -> dict[Key, str]:
        rows = self._db.execute("SELECT dev, ino, size, mtime_ns, digest FROM file_digests")
        return {(dev, ino, size, mtime): digest for dev, ino, size, mtime, digest in rows}

    def _flush_locked(self) -> None:
        self._last_commit = time.monotonic()
        if not self._pending or self._db is None:
            return
        rows, self._pending = self._pending, []
        self._db.execute("BEGIN")
        self._db.executemany(
            "INSERT OR REPLACE INTO file_digests (dev, ino, size, mtime_ns, digest, path)"
            " VALUES (?, ?, ?, ?, ?, ?)", rows)
        self._db.execute("COMMIT")
