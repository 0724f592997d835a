"""Bandwidth limits: token buckets, and the quiet-hours schedule that lowers them.

A bucket starts empty and saves at most BURST_S seconds' worth of bytes while idle. A sender
reserves a chunk's bytes and waits until they are paid for (the bucket goes into debt meanwhile).
From the start, no more than ``rate * T`` bytes pass in T seconds; over any window of T seconds at
most ``rate * (T + BURST_S) + one chunk``. With chunks of at most 1/8 s of the rate (the Peer
service cuts its messages to that under a limit: ``chunk_for``) that is the limit + 7.5 % over
5 s, inside the 10 % promised. A receiver sees its sender's messages (up to 1 MiB): its bound over
5 s holds for download limits from 4 MB/s up, and over a whole pull for any limit.

Quiet hours (``HH:MM-HH:MM=RATE``, local time, may wrap midnight) cap a bucket's rate while the
clock is inside them: the lower of the agent's own limit and the window's wins. A rate of 0 means
no limit.
"""
from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from llmesh.common.errors import InvalidArgument
from llmesh.common.units import parse_rate

BURST_S = 0.25


@dataclass(frozen=True)
class QuietHours:
    start_min: int   # minutes after local midnight
    end_min: int     # exclusive; before start_min when the window wraps midnight
    rate: int        # bytes/s while inside

    def covers(self, minute_of_day: int) -> bool:
        if self.start_min <= self.end_min:
            return self.start_min <= minute_of_day < self.end_min
        return minute_of_day >= self.start_min or minute_of_day < self.end_min

    @classmethod
    def parse(cls, text: str) -> "QuietHours":
        window, sep, rate = str(text).partition("=")
        start, dash, end = window.strip().partition("-")
        if not sep or not dash:
            raise InvalidArgument(f"--quiet-hours {text!r}: expected HH:MM-HH:MM=RATE, e.g. 09:00-18:00=50MB/s")
        start_min, end_min = _minute(start, text), _minute(end, text)
        if start_min == end_min:
            raise InvalidArgument(f"--quiet-hours {text!r}: the window is empty")
        limit = parse_rate(rate, "--quiet-hours rate")
        if limit <= 0:
            raise InvalidArgument(f"--quiet-hours {text!r}: the rate must be above 0")
        return cls(start_min, end_min, limit)


def _minute(hhmm: str, text: str) -> int:
    hours, colon, minutes = hhmm.strip().partition(":")
    try:
        h, m = int(hours), int(minutes)
    except ValueError:
        h = m = -1
    if not colon or not (0 <= h <= 24 and 0 <= m < 60) or h * 60 + m > 24 * 60:
        raise InvalidArgument(f"--quiet-hours {text!r}: {hhmm.strip()!r} is not a time HH:MM")
    return h * 60 + m


def _local_minute() -> int:
    t = time.localtime()
    return t.tm_hour * 60 + t.tm_min


class Schedule:
    """A rate that quiet hours may lower: ``rate()`` is the limit now (0: none)."""

    def __init__(self, base: int, quiet: Iterable[QuietHours] = (), minute_of_day: Callable[[], int] = _local_minute):
        self.base, self.quiet, self.minute_of_day = base, tuple(quiet), minute_of_day

    def rate(self) -> int:
        if not self.quiet:
            return self.base
        now = self.minute_of_day()
        caps = [q.rate for q in self.quiet if q.covers(now)] + ([self.base] if self.base else [])
        return min(caps, default=0)


class TokenBucket:
    """One limit shared by every stream that goes through it (a whole agent's uploads, one pull)."""

    def __init__(self, rate: Callable[[], int] | int, clock: Callable[[], float] = time.monotonic):
        self._rate = rate if callable(rate) else (lambda: rate)
        self.clock = clock
        self._tokens = 0.0
        self._at = clock()
        self.bytes = 0  # reserved so far: what went (or is about to go) through
        self._lock = threading.Lock()  # blob socket threads and the event loop share a bucket

    @property
    def rate(self) -> int:
        return self._rate()

    def reserve(self, n: int) -> float:
        """Count ``n`` bytes against the limit; the seconds to wait before sending them."""
        with self._lock:
            return self._reserve(n)

    def _reserve(self, n: int) -> float:
        self.bytes += n
        rate, now = self._rate(), self.clock()
        if rate <= 0:
            self._tokens, self._at = 0.0, now
            return 0.0
        self._tokens = min(rate * BURST_S, self._tokens + (now - self._at) * rate)
        self._at = now
        self._tokens -= n
        return max(0.0, -self._tokens / rate)

    async def take(self, n: int) -> None:
        wait = self.reserve(n)
        if wait > 0:
            await asyncio.sleep(wait)


def chunk_for(bucket: "TokenBucket | None", largest: int) -> int:
    """The message size to send under ``bucket``: 1/8 s of its rate, 16 KiB to ``largest``."""
    rate = bucket.rate if bucket is not None else 0
    return largest if rate <= 0 else max(16 * 1024, min(largest, rate // 8))


async def take_all(buckets: Iterable[TokenBucket | None], n: int) -> None:
    """Wait for every limit that applies: the slowest decides."""
    waits = [b.reserve(n) for b in buckets if b is not None]
    wait = max(waits, default=0.0)
    if wait > 0:
        await asyncio.sleep(wait)


def wait_all(buckets: Iterable[TokenBucket | None], n: int) -> None:
    """take_all for a thread: block until every limit that applies lets ``n`` bytes through."""
    wait = max((b.reserve(n) for b in buckets if b is not None), default=0.0)
    if wait > 0:
        time.sleep(wait)


def quiet_hours(texts: Iterable[str]) -> tuple[QuietHours, ...]:
    return tuple(QuietHours.parse(t) for t in texts)
