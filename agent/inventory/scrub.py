"""The integrity scrub: every copy this agent holds, read again in full and hashed.

A scan trusts the hash cache, keyed by (dev, inode, size, mtime): a byte flipped on disk with
the size and mtime kept (bit rot, a careless tool) stays invisible to it. A scrub re-reads every
byte through the same path as `models verify` (``Scanner.inspect`` without the cache, so the
walk's confinement holds: no link out of the roots is followed) and reports each copy's fresh
digest; the coordinator compares them with the versions it records. It runs on request and on a
schedule, and reads at most ``share`` of the time and ``rate`` bytes a second so serving and
transfers keep the disk.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from llmesh.common.errors import InvalidArgument, MeshError, NotFound
from llmesh.common.files import atomic_write
from llmesh.common.ratelimit import TokenBucket

log = logging.getLogger("llmesh.agent")

REPORT_EVERY_S = 2.0  # progress reports while a scrub runs
LAST_SCRUB_FILE = "last-scrub.json"  # when the last scrub ended: the schedule survives restarts


class ScrubStopped(Exception):
    """The agent is stopping: the scrub in progress ends as cancelled."""


class Throttle:
    """Paces a scrub's reads on its worker threads, two ways at once (the longer pause wins):

    - a share of the disk's time: a read that took t seconds earns a pause of t*(1-share)/share,
      so the scrub reads at most ``share`` of the wall time at whatever speed the disk has. The
      workers share one budget (every read costs t/share seconds of a common timeline), so two
      workers together still read at most that share. A worker's first read of a copy has no
      start to measure from and goes unpaced; share 1: no pause.
    - a rate, through the same token bucket as transfers (0: no limit): after each read it sleeps
      until those bytes are due.

    ``clock`` and ``sleep`` are injectable for tests."""

    def __init__(self, rate: float, share: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if not 0 < share <= 1:
            raise InvalidArgument(f"scrub share {share:g}: must be above 0 and at most 1")
        self.bucket = TokenBucket(int(rate), clock)
        self.share, self.clock, self.sleep = float(share), clock, sleep
        self._free_at = float("-inf")  # when the reads so far have had their share of the time
        self._marks = threading.local()  # per worker: when its last pause ended
        self._lock = threading.Lock()  # the workers share _free_at

    @property
    def bytes(self) -> int:
        return self.bucket.bytes

    def due(self, n: int, read_s: float | None) -> float:
        """The seconds to pause after reading ``n`` bytes in ``read_s`` seconds (None: unknown)."""
        with self._lock:
            wait = self.bucket.reserve(n)
            if read_s is not None and self.share < 1:
                now = self.clock()
                # No credit for idle time before this read began: a pause after a slow read is never skipped.
                self._free_at = max(self._free_at, now - read_s) + read_s / self.share
                wait = max(wait, self._free_at - now)
        return wait

    def __call__(self, n: int) -> None:
        began = getattr(self._marks, "at", None)
        wait = self.due(n, None if began is None else max(0.0, self.clock() - began))
        if wait > 0:
            self.sleep(wait)
        self._marks.at = self.clock()


@dataclass
class ScrubRun:
    scrub_id: str
    trigger: str  # request | schedule
    state: str = "running"
    started_at: float = field(default_factory=time.time)
    finished_at: float = 0.0
    copies_total: int = 0
    copies_checked: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    error: str = ""
    findings: list[dict] = field(default_factory=list)

    def report(self, with_findings: bool) -> dict:
        fields = {k: v for k, v in self.__dict__.items() if k != "findings"}
        return {**fields, "findings": list(self.findings) if with_findings else []}


class Scrubber:
    """Runs one scrub at a time over the copies of the agent's last inventory.

    inspect(path, use_cache, on_read) -> FoundModel is the scanner's; models() the last inventory
    (None before the first scan); report(dict) sends a ScrubReport when linked."""

    def __init__(self, inspect, models: Callable[[], list | None], report: Callable[[dict], None],
                 home: Path, interval_s: float, rate: float, share: float = 1.0,
                 stopping: threading.Event | None = None):
        self.inspect, self.models, self.send = inspect, models, report
        self.home, self.interval_s, self.rate, self.share = Path(home), float(interval_s), float(rate), float(share)
        self.stopping = stopping or threading.Event()
        self.current: ScrubRun | None = None
        self._task: asyncio.Task | None = None

    def start(self, scrub_id: str = "", trigger: str = "request") -> str:
        """The id of the scrub that runs: this one, or the one already running."""
        if self.current is not None and self._task is not None and not self._task.done():
            return self.current.scrub_id
        self.current = ScrubRun(scrub_id or uuid.uuid4().hex, trigger)
        self._task = asyncio.create_task(self._run(self.current))
        return self.current.scrub_id

    def report_again(self) -> None:
        """On a new link: the last scrub's state (its findings if it ended) may not have arrived."""
        if self.current is not None:
            self.send(self.current.report(self.current.state != "running"))

    async def schedule(self) -> None:
        """Scrub every interval_s (0: never), counted from the end of the last scrub."""
        if self.interval_s <= 0:
            return
        while not self.stopping.is_set():
            due = self._last_finished() + self.interval_s
            await asyncio.sleep(max(0.0, min(due - time.time(), 3600.0)))
            if time.time() >= due and (self._task is None or self._task.done()):
                self.start(trigger="schedule")
                await asyncio.shield(self._task)

    def _last_finished(self) -> float:
        try:
            return float(json.loads((self.home / LAST_SCRUB_FILE).read_text())["finished_at"])
        except (OSError, ValueError, KeyError, TypeError):
            # Never scrubbed here: the first one waits a whole interval, not the agent's start.
            self._save_finished(time.time())
            return time.time()

    def _save_finished(self, when: float) -> None:
        atomic_write(self.home / LAST_SCRUB_FILE, json.dumps({"finished_at": when}).encode())

    async def stop(self) -> None:
        self.stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self, run: ScrubRun) -> None:
        while self.models() is None and not self.stopping.is_set():
            await asyncio.sleep(0.2)  # the first scan is what says which copies there are
        self.send(run.report(False))
        ticker = asyncio.create_task(self._progress(run))
        try:
            await asyncio.to_thread(scrub_copies, list(self.models() or []), self.inspect, Throttle(self.rate, self.share),
                                    run, self.stopping)
            run.state = "done"
        except ScrubStopped:
            run.state, run.error = "cancelled", "the agent stopped"
        except Exception as exc:  # reported, never raised into the agent
            log.exception("scrub %s failed", run.scrub_id)
            run.state, run.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            ticker.cancel()
        run.finished_at = time.time()
        if run.state == "done":
            self._save_finished(run.finished_at)
        log.info("scrub %s %s: %d copies, %d bytes re-hashed", run.scrub_id, run.state, run.copies_checked,
                 run.bytes_done)
        self.send(run.report(True))

    async def _progress(self, run: ScrubRun) -> None:
        while True:
            await asyncio.sleep(REPORT_EVERY_S)
            self.send(run.report(False))


def scrub_copies(models: list, inspect, throttle: Throttle, run: ScrubRun,
                 stopping: threading.Event | None = None) -> None:
    """Re-hash each model (a FoundModel of the inventory) in full; fills ``run`` as it goes."""
    run.copies_total = len(models)
    run.bytes_total = sum(m.size_bytes for m in models)
    counting = threading.Lock()  # the scanner's hash workers read in parallel

    def on_read(n: int) -> None:
        if stopping is not None and stopping.is_set():
            raise ScrubStopped()
        with counting:
            run.bytes_done += n
        throttle(n)

    for model in models:
        try:
            found = inspect(model.path, False, on_read)
            finding = {"path": model.path, "digest": found.digest, "outcome": "hashed", "error": ""}
        except NotFound as exc:
            finding = {"path": model.path, "digest": "", "outcome": "missing", "error": str(exc)}
        except MeshError as exc:
            finding = {"path": model.path, "digest": "", "outcome": "error", "error": str(exc)}
        run.findings.append(finding)
        run.copies_checked += 1
