"""What this agent's Peer service served or refused, for the coordinator's audit log.

Blobs are read as many piece streams of ~1 MiB messages: entries are folded per job, reader,
digest and result while the reads go on, and an entry is reported once it has been quiet for
QUIET_S (so a pulled blob is one audit row), or after LONGEST_S at the latest (so a long
read shows up while it runs). Entries wait for the link when it is down, up to MAX_KEPT.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from llmesh.v1 import agent_link_pb2 as link_pb

log = logging.getLogger("llmesh.agent.peer")

QUIET_S = 2.0
LONGEST_S = 60.0
MAX_KEPT = 10_000
MAX_ERROR_CHARS = 300


@dataclass
class _Entry:
    first_at: float
    last_at: float
    bytes: int = 0
    calls: int = 0
    error: str = ""


class PeerReadLog:
    def __init__(self):
        self._entries: dict[tuple[str, str, str, str], _Entry] = {}
        self.dropped = 0
        self._lock = threading.Lock()  # the blob socket records from its own threads


    def record(self, job: str, reader: str, digest: str, nbytes: int, result: str, error: str = "",
               now: float | None = None) -> None:
        with self._lock:
            self._record(job, reader, digest, nbytes, result, error, now or time.time())

    def _record(self, job: str, reader: str, digest: str, nbytes: int, result: str, error: str, now: float) -> None:
        key = (job, reader, digest[:100], result)
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= MAX_KEPT:
                oldest = min(self._entries, key=lambda k: self._entries[k].first_at)
                del self._entries[oldest]
                self.dropped += 1
                log.warning("peer read log full: %d entries dropped before the coordinator heard of them",
                            self.dropped)
            entry = self._entries[key] = _Entry(now, now)
        entry.last_at = now
        entry.bytes += nbytes
        entry.calls += 1
        if error:
            entry.error = error[:MAX_ERROR_CHARS]

    def take_due(self, now: float | None = None) -> list[link_pb.PeerRead]:
        """Remove and return the entries ready to report."""
        now = now or time.time()
        with self._lock:
            due = [k for k, e in self._entries.items() if now - e.last_at >= QUIET_S or now - e.first_at >= LONGEST_S]
            return [self._message(k, self._entries.pop(k)) for k in due]

    @staticmethod
    def _message(key: tuple[str, str, str, str], entry: _Entry) -> link_pb.PeerRead:
        job, reader, digest, result = key
        return link_pb.PeerRead(job_id=job, reader_agent_id=reader, digest=digest, bytes=entry.bytes,
                                calls=entry.calls, result=result, error=entry.error,
                                first_at=entry.first_at, last_at=entry.last_at)
