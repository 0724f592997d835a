"""A persistent cache of file digests, so a rescan of unchanged files costs only `stat`, and
`digest_files`, which serves a scan's files from it and hashes the misses on worker threads.

With a piece size, a file is hashed once for both its digest and its piece index (one pass:
common/pieces.py); the index is cached beside the digest, so the Peer service and the registry
get it without reading the file again.

Rows are keyed by (st_dev, st_ino, st_size, st_mtime_ns): a file rewritten in place gets a new
mtime, a file replaced by rename gets a new inode, so a stale digest is never served. Every row is
loaded into a dict when the cache opens; lookups never touch SQLite. Writes are batched. The
database names every model file of the host: it and its -wal/-shm are readable by the owner alone.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from llmesh.common.errors import InvalidArgument, MeshError
from llmesh.common.hashing import hash_file
from llmesh.common.pieces import PieceIndex, piece_index_of_file
from llmesh.common.platform import binary_flags

log = logging.getLogger("llmesh.agent")

COMMIT_EVERY_ROWS = 500
COMMIT_EVERY_SECONDS = 2.0
SCHEMA_VERSION = 1
PRIVATE_MODE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")

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
        self._indexes: dict[tuple[Key, int], PieceIndex] = self._load_indexes()
        self._pending_indexes: list[tuple] = []

    # -- public API ---------------------------------------------------------------------------

    def get(self, st: os.stat_result) -> str | None:
        return self._digests.get(stat_key(st))

    def get_index(self, st: os.stat_result, piece_size: int) -> PieceIndex | None:
        return self._indexes.get((stat_key(st), piece_size))

    def put(self, st: os.stat_result, digest: str, path: str | os.PathLike, index: PieceIndex | None = None) -> None:
        key = stat_key(st)
        with self._lock:
            self._digests[key] = digest
            self._pending.append((*key, digest, str(path)))
            if index is not None and index.digest == digest:
                self._indexes[(key, index.piece_size)] = index
                self._pending_indexes.append((*key, index.piece_size, json.dumps(index.to_dict())))
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
            make_private(self.path)
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
            db.execute(
                "CREATE TABLE IF NOT EXISTS piece_indexes ("
                " dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL,"
                " mtime_ns INTEGER NOT NULL, piece_size INTEGER NOT NULL, index_json TEXT NOT NULL,"
                " PRIMARY KEY (dev, ino, size, mtime_ns, piece_size)) WITHOUT ROWID")
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("SELECT count(*) FROM file_digests").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        if self.path != ":memory:":
            make_private(self.path)  # SQLite has made its -wal and -shm by now
        return db

    def _load_all(self) -> dict[Key, str]:
        rows = self._db.execute("SELECT dev, ino, size, mtime_ns, digest FROM file_digests")
        return {(dev, ino, size, mtime): digest for dev, ino, size, mtime, digest in rows}

    def _load_indexes(self) -> dict:
        indexes = {}
        for dev, ino, size, mtime, piece_size, text in self._db.execute(
                "SELECT dev, ino, size, mtime_ns, piece_size, index_json FROM piece_indexes"):
            try:
                indexes[((dev, ino, size, mtime), piece_size)] = PieceIndex.from_dict(json.loads(text))
            except (ValueError, MeshError):
                pass  # a damaged row only costs a hash
        return indexes

    def _flush_locked(self) -> None:
        self._last_commit = time.monotonic()
        if not (self._pending or self._pending_indexes) or self._db is None:
            return
        rows, self._pending = self._pending, []
        indexes, self._pending_indexes = self._pending_indexes, []
        try:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO file_digests (dev, ino, size, mtime_ns, digest, path)"
                " VALUES (?, ?, ?, ?, ?, ?)", rows)
            self._db.executemany(
                "INSERT OR REPLACE INTO piece_indexes (dev, ino, size, mtime_ns, piece_size, index_json)"
                " VALUES (?, ?, ?, ?, ?, ?)", indexes)
            self._db.execute("COMMIT")
        except sqlite3.Error as e:
            # The digests stay cached in memory; only the next process will hash them again.
            log.warning("hash cache %s: could not save %d digests: %s", self.path, len(rows), e)
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")


def make_private(db_path: str) -> None:
    """Create ``db_path`` owner-only if it is missing, and make it and the side files SQLite
    keeps beside it owner-only (a cache written by an older agent was 0644)."""
    try:
        os.close(os.open(db_path, binary_flags(os.O_RDWR | os.O_CREAT), PRIVATE_MODE))
    except OSError:
        return  # SQLite reports an unusable path in its own words
    for path in (db_path, *(db_path + suffix for suffix in SQLITE_SIDE_FILES)):
        try:
            os.chmod(path, PRIVATE_MODE)  # on Windows only the read-only flag: left writable
        except OSError:
            pass  # a side file that does not exist (yet)


# -- hashing the files a scan found -------------------------------------------------------------

def describe_os_error(e: OSError) -> str:
    """What went wrong with a file, in words that follow its name."""
    if isinstance(e, FileNotFoundError):
        return "vanished during the scan"
    if isinstance(e, PermissionError):
        return "is unreadable: permission denied"
    return f"cannot be read: {e.strerror or e}"


class HashFailed(Exception):
    """A file that could not be hashed; ``str()`` says why, to follow the file's name."""


@dataclass
class DigestRun:
    digests: dict[Key, str] = field(default_factory=dict)
    failures: dict[Key, str] = field(default_factory=dict)
    files_hashed: int = 0
    bytes_hashed: int = 0
    files_cached: int = 0


def digest_files(cache: HashCache, files: Iterable[tuple[str, os.stat_result]], *,
                 workers: int = 2, progress: Callable[[int, int, int, int], None] | None = None,
                 check_stop: Callable[[], None] | None = None,
                 poll_s: float = 0.25, on_read: Callable[[int], None] | None = None,
                 piece_size: int = 0) -> DigestRun:
    """The digest of every distinct file (by stat key): from the cache, else hashed.

    Misses are hashed largest first on ``workers`` threads. ``progress(files_done, files_total,
    bytes_done, bytes_total)`` runs on the calling thread at most every ``poll_s``;
    ``check_stop()`` may raise to stop (it is also called by the workers after every chunk).
    ``on_read(n)`` runs on a worker after each chunk read (a scrub's throttle sleeps in it).
    """
    run, jobs = DigestRun(), {}
    for path, st in files:
        key = stat_key(st)
        if key in run.digests or key in jobs:
            continue
        cached = cache.get(st)
        if cached is None or (piece_size and cache.get_index(st, piece_size) is None):
            jobs[key] = (path, st)
        else:
            run.digests[key] = cached
            run.files_cached += 1
    if jobs:
        _hash_jobs(cache, jobs, run, workers, progress, check_stop, poll_s, on_read, piece_size)
    cache.flush()
    return run


def _hash_jobs(cache, jobs, run, workers, progress, check_stop, poll_s, on_read=None, piece_size=0) -> None:
    order = sorted(jobs.items(), key=lambda kv: -kv[1][1].st_size)
    total_bytes = sum(st.st_size for _, (_, st) in order)
    hashed, lock = [0], threading.Lock()

    def on_bytes(n: int) -> None:
        if check_stop is not None:
            check_stop()
        if on_read is not None:
            on_read(n)
        with lock:
            hashed[0] += n

    pool = _HashPool(order, lambda path, st: hash_and_cache(cache, path, st, on_bytes, piece_size), workers)
    last_report = 0.0
    try:
        if progress is not None:
            progress(0, len(order), 0, total_bytes)
        for key, digest, error in pool.results(poll_s):
            if check_stop is not None:
                check_stop()
            if key is not None:
                _collect(run, key, digest, error, jobs[key][1].st_size)
            done = run.files_hashed + len(run.failures)
            if progress is not None and (time.monotonic() - last_report >= poll_s
                                         or done == len(order)):
                last_report = time.monotonic()
                progress(done, len(order), hashed[0], total_bytes)
    finally:
        pool.stop()


def _collect(run: DigestRun, key: Key, digest, error, size: int) -> None:
    if isinstance(error, BaseException):
        raise error  # a stop request from a worker, or a bug: never swallowed
    if error is not None:
        run.failures[key] = error
        return
    run.digests[key] = digest
    run.files_hashed += 1
    run.bytes_hashed += size


def hash_and_cache(cache: HashCache, path: str, st: os.stat_result, progress=None, piece_size: int = 0) -> str:
    """Hash ``path`` (``st`` taken before) and cache the digest unless the file changed; with a
    ``piece_size``, its piece index too, from the same pass."""
    try:
        # The walk checked this file (its real path lies under a root): one swapped for another
        # since then, a link to elsewhere included, is not read.
        before = os.stat(path)
        if stat_key(before) != stat_key(st):
            raise HashFailed("changed since the walk; it will be hashed on the next scan")
        index = None
        if piece_size:
            with open(path, "rb", buffering=0) as f:
                index = piece_index_of_file(f, piece_size, progress)
            size, digest = index.size, index.digest
        else:
            size, digest = hash_file(path, progress=progress)
        after = os.stat(path)
    except OSError as e:
        raise HashFailed(describe_os_error(e)) from None
    except InvalidArgument:  # it shrank under the piece index
        raise HashFailed("changed while being hashed; it will be hashed on the next scan") from None
    if size != st.st_size or stat_key(after) != stat_key(st):
        # Never cache (or report) a digest of bytes that were moving under us.
        raise HashFailed("changed while being hashed; it will be hashed on the next scan")
    cache.put(st, digest, path, index)
    return digest


class _HashPool:
    """Worker threads that pull (key, (path, st)) jobs in order and queue (key, digest, error).

    A plain queue instead of concurrent.futures.wait(): waiting on a set of 10,000 futures
    costs O(n) per wake-up.
    """

    def __init__(self, jobs: list, hash_one, workers: int):
        self._jobs, self._lock = iter(jobs), threading.Lock()
        self._total = len(jobs)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stopped = threading.Event()
        self._hash_one = hash_one
        self._threads = [threading.Thread(target=self._work, name="llmesh-hash", daemon=True)
                         for _ in range(max(1, min(workers, len(jobs))))]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        while not self._stopped.is_set():
            with self._lock:
                job = next(self._jobs, None)
            if job is None:
                return
            key, (path, st) = job
            try:
                self._queue.put((key, self._hash_one(path, st), None))
            except HashFailed as e:
                self._queue.put((key, None, str(e)))
            except BaseException as e:  # noqa: BLE001 - handed to the calling thread
                self._queue.put((key, None, e))
                return

    def results(self, timeout: float):
        """Yield each result, and (None, None, None) every ``timeout`` s while waiting."""
        received = 0
        while received < self._total:
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                yield None, None, None
                continue
            received += 1
            yield item

    def stop(self) -> None:
        self._stopped.set()
        for thread in self._threads:
            thread.join()
