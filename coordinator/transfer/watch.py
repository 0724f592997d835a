"""Job watches (WatchJobs): each stream sleeps until the registry says a job it follows changed.

The registry calls ``JobWatches.changed`` on its writer thread after it wrote a job's row; the
watch wakes on the event loop, reads the row and sends it: a state change at once, progress at
most every PROGRESS_EVERY_S a job. Nothing polls; a stream whose client went away is cancelled
by gRPC at its one await and unregisters itself.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from llmesh.common.errors import InvalidArgument, Unavailable
from llmesh.coordinator.registry.jobs import FINISHED_STATES as FINISHED

PROGRESS_EVERY_S = 0.2
MAX_IDS = 1000  # a fan-out to every host of a big mesh; more is a mistake


class _Watch:
    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.dirty: set[str] = set()   # changed since last sent
        self.urgent: set[str] = set()  # their state changed: send without waiting
        self.closing = False


class JobWatches:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._by_job: dict[str, set[_Watch]] = {}
        self._closed = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def changed(self, job_id: str, state_changed: bool) -> None:
        """A job's row changed; any thread. A watch that registers after this check reads the row
        itself, so nothing is missed."""
        loop = self._loop
        if loop is not None and job_id in self._by_job and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake, job_id, state_changed)

    def _wake(self, job_id: str, state_changed: bool) -> None:
        for watch in self._by_job.get(job_id, ()):
            watch.dirty.add(job_id)
            if state_changed:
                watch.urgent.add(job_id)
            watch.event.set()

    def close(self) -> None:
        """The coordinator stops: every open watch ends with UNAVAILABLE rather than hanging."""
        self._closed = True
        for watches in self._by_job.values():
            for watch in watches:
                watch.closing = True
                watch.event.set()

    async def follow(self, job_ids: list[str], read: Callable[[str], Awaitable[dict]]) -> AsyncIterator[dict]:
        """Each job as ``read`` gives it now, then again whenever it changes, until all have finished.
        An unknown id fails (``read``'s NotFound) before anything is sent."""
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            raise InvalidArgument("name at least one job to watch")
        if len(ids) > MAX_IDS:
            raise InvalidArgument(f"at most {MAX_IDS} jobs in one watch, not {len(ids)}")
        if self._closed:
            raise Unavailable("the coordinator is stopping")
        watch = _Watch()
        for job_id in ids:  # before the first read: a change after it wakes us
            self._by_job.setdefault(job_id, set()).add(watch)
        try:
            sent = {job_id: await read(job_id) for job_id in ids}
            last = dict.fromkeys(ids, time.monotonic())
            for job in sent.values():
                yield job
            unfinished = {job_id for job_id, job in sent.items() if job["state"] not in FINISHED}
            while unfinished:
                if watch.closing:
                    raise Unavailable("the coordinator is stopping; watch the jobs again once it is back")
                now = time.monotonic()
                ready = (watch.urgent | {j for j in watch.dirty if now >= last[j] + PROGRESS_EVERY_S}) & unfinished
                if not ready:
                    due = min((last[j] + PROGRESS_EVERY_S for j in watch.dirty & unfinished), default=None)
                    watch.event.clear()
                    try:
                        await asyncio.wait_for(watch.event.wait(), None if due is None else max(0.0, due - now))
                    except asyncio.TimeoutError:
                        pass  # a throttled job's progress is due
                    continue
                watch.dirty -= ready
                watch.urgent -= ready
                for job_id in [j for j in ids if j in ready]:
                    job = await read(job_id)
                    if _shown(job) != _shown(sent[job_id]):
                        sent[job_id], last[job_id] = job, time.monotonic()
                        yield job
                    if job["state"] in FINISHED:
                        unfinished.discard(job_id)
        finally:
            for job_id in ids:
                watches = self._by_job.get(job_id)
                if watches is not None:
                    watches.discard(watch)
                    if not watches:
                        del self._by_job[job_id]


def _shown(job: dict) -> dict:
    """What a watcher sees change (updated_at moves on every report, even an unchanged one)."""
    return {k: v for k, v in job.items() if k != "updated_at"}
