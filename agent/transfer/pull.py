"""The destination side of a pull: fetch a version's missing blobs straight from the
source agents' Peer services, piece by piece, verified, resumable; then materialise
an ordinary model directory from the store.

Several pieces are in flight at once (from every source that holds a verified copy);
writes and hashing run on worker threads. A bad piece is fetched again, alone. When
no source answers, the job stops as ``waiting`` with its verified pieces kept; the
coordinator sends it again when a source is back, and it resumes from them.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import shutil
import time
from collections import deque
from pathlib import Path
from typing import Awaitable, Callable

import grpc

from llmesh.agent.inventory.holdings import Holdings
from llmesh.agent.store.blobs import BlobStore
from llmesh.common import channels, tickets, tls
from llmesh.common.errors import FailedPrecondition, MeshError, PermissionDenied, Unavailable
from llmesh.common.pieces import PieceIndex
from llmesh.v1 import agent_link_pb2 as link_pb
from llmesh.v1 import peer_pb2, peer_pb2_grpc

log = logging.getLogger("llmesh.agent.transfer")

PIECES_IN_FLIGHT = 4
BAD_PIECES_BEFORE_DROPPING_SOURCE = 3
SOURCE_RETRY_S = (0.5, 1.0, 2.0, 4.0)  # how long to keep trying unreachable sources before `waiting`
REPORT_EVERY_S = 0.5
TICKET_RETRY_S = 2.0  # a ticket renewal that failed for want of a link is asked again this soon


class SourcesUnavailable(Unavailable):
    pass


class _Source:
    def __init__(self, spec: link_pb.TransferSource, identity):
        self.host, self.host_id = spec.host, spec.host_id
        self.channel = channels.aio_peer_channel(spec.peer_address, identity)
        self.stub = peer_pb2_grpc.PeerStub(self.channel)
        self.down_until = 0.0
        self.failures = 0  # consecutive failed calls; past SOURCE_RETRY_S the source is given up
        self.bad_pieces = 0
        self.dropped = False


class _File:
    def __init__(self, entry: link_pb.FileEntry):
        self.entry = entry
        self.partial = None
        self.index: PieceIndex | None = None
        self.pieces_left = 0


Report = Callable[[link_pb.JobProgress], None]
RenewTicket = Callable[[str], Awaitable[str]]  # job id -> a fresh ticket from the coordinator


class TransferJob:
    def __init__(self, store: BlobStore, holdings: Holdings, identity: Callable[[], tls.Identity],
                 spec: link_pb.Transfer, report: Report, received_before: int = 0,
                 renew_ticket: RenewTicket | None = None):
        self.store, self.holdings = store, holdings
        self.identity = identity  # this agent's current certificate (renewals replace it)
        self.spec = spec
        self.report = report
        self.renew_ticket = renew_ticket
        self.use_ticket(spec.ticket)
        self.bytes_total = sum(f.size for f in _unique(spec.files))
        self.bytes_done = self.bytes_reused = 0
        self.bytes_received = received_before  # earlier runs of this job count: re-sent bytes show
        self.completed: list[str] = []  # blobs this job brought in
        self.drifted: list[str] = []
        self.cancelled = False
        self._pool = concurrent.futures.ThreadPoolExecutor(PIECES_IN_FLIGHT + 1, thread_name_prefix="transfer")

    # -- the job ---------------------------------------------------------------------------

    def use_ticket(self, ticket: str) -> None:
        """Tickets are short-lived: the job swaps in fresh ones as it goes."""
        self.ticket = ticket
        self._ticket_renew_at = tickets.renew_at(ticket, time.time())

    async def run(self) -> None:
        reporter = asyncio.create_task(self._report_periodically())
        renewer = asyncio.create_task(self._keep_ticket_fresh()) if self.renew_ticket else None
        try:
            path = await self._run()
            self._send("done", copy_path=path)
        except asyncio.CancelledError:
            self._send("cancelled" if self.cancelled else "waiting",
                       error="cancelled" if self.cancelled else "interrupted")
            if not self.cancelled:
                raise
        except SourcesUnavailable as exc:
            self._send("waiting", error=str(exc))
        except MeshError as exc:
            self._send("failed", error=str(exc))
        except Exception as exc:  # a bug must end the job visibly, not hang it
            log.exception("transfer %s failed", self.spec.job_id)
            self._send("failed", error=f"agent error: {exc}")
        finally:
            reporter.cancel()
            if renewer is not None:
                renewer.cancel()
            self._pool.shutdown(wait=False)

    async def _run(self) -> str:
        store = self.store
        files = [_File(f) for f in _unique(self.spec.files)]
        missing = [f for f in files if not await self._reuse(f)]
        self.bytes_done = self.bytes_reused
        if missing:
            await self._call(store.ensure_space, store.space_needed((f.entry.digest, f.entry.size) for f in missing))
            await self._fetch(missing)
        path = await self._call(store.materialize, self.spec.name, self.spec.version, list(self.spec.files))
        await self._call(self.holdings.remember_digests, path, list(self.spec.files))
        if self.spec.dest_dir:
            path = await self._call(self._place_in, Path(self.spec.dest_dir), path)
        return str(path)

    async def _reuse(self, f: _File) -> bool:
        """Blobs already in the store, or files this agent already has anywhere under its
        roots (same digest, any model), cost nothing on the wire."""
        store, digest = self.store, f.entry.digest
        if not store.has(digest):
            local = self.holdings.local_file(digest)
            if local is None:
                return False
            await self._call(store.adopt, local, digest)
        self.bytes_reused += f.entry.size
        return True

    # -- fetching --------------------------------------------------------------------------

    async def _fetch(self, files: list[_File]) -> None:
        sources = [_Source(s, self.identity()) for s in self.spec.sources]
        if not sources:
            raise SourcesUnavailable("no online host holds a verified copy")
        queue: deque = deque()
        try:
            # Piece indexes of all files are asked for at once: a source may have to hash to answer.
            await asyncio.gather(*(self._open(f, sources) for f in files))
            for f in files:
                for piece in f.partial.missing_pieces():
                    queue.append((f, piece))
                f.pieces_left = len(f.partial.missing_pieces())
                self.bytes_done += f.entry.size - sum(f.index.piece_range(p)[1] for p in f.partial.missing_pieces())
                if f.pieces_left == 0:
                    await self._complete(f)
            workers = [asyncio.create_task(self._worker(queue, sources)) for _ in range(PIECES_IN_FLIGHT)]
            try:
                await asyncio.gather(*workers)
            finally:
                for w in workers:
                    w.cancel()
            unfinished = [f for f in files if f.pieces_left]
            if unfinished:
                raise SourcesUnavailable("the sources stopped answering; verified pieces are kept")
        finally:
            for f in files:
                if f.partial is not None and self.cancelled:
                    await self._call(f.partial.abort)
                elif f.partial is not None:
                    await self._call(f.partial.close)
            if self.cancelled:
                await self._call(self._discard_completed)
            for s in sources:
                await s.channel.close()

    async def _open(self, f: _File, sources: list[_Source]) -> None:
        """The piece index comes from a source; it must describe exactly the digest we want."""
        request = peer_pb2.PieceIndexRequest(ticket=self.ticket, digest=f.entry.digest,
                                             piece_size=self.spec.piece_size)
        while any(not s.dropped for s in sources):
            usable = self._usable(sources)
            if not usable:
                await asyncio.sleep(0.25)
                continue
            for source in usable:
                try:
                    reply = await source.stub.GetPieceIndex(request, timeout=600)
                except grpc.aio.AioRpcError as exc:
                    self._source_failed(source, exc)
                    continue
                index = PieceIndex(reply.size, reply.piece_size, tuple(reply.hashes), reply.digest)
                if index.digest != f.entry.digest or index.size != f.entry.size:
                    raise FailedPrecondition(f"{source.host} described {f.entry.path} wrongly")
                f.index = index
                f.partial = await self._call(self.store.open_partial, f.entry.digest, f.entry.size, index)
                return
        raise SourcesUnavailable(f"no source could describe {f.entry.path}")

    async def _worker(self, queue: deque, sources: list[_Source]) -> None:
        while queue:
            source = self._pick(sources)
            if source is None:
                if not any(not s.dropped for s in sources):
                    return  # nobody answers: the job goes to `waiting`, keeping its verified pieces
                await asyncio.sleep(0.25)
                continue
            f, piece = queue.popleft()
            try:
                verified = await self._fetch_piece(source, f, piece)
            except grpc.aio.AioRpcError as exc:
                self._source_failed(source, exc)
                queue.append((f, piece))
                continue
            if not verified:
                source.bad_pieces += 1
                log.warning("piece %d of %s from %s failed verification; fetching it again",
                            piece, f.entry.path, source.host)
                if source.bad_pieces >= BAD_PIECES_BEFORE_DROPPING_SOURCE and len(self._usable(sources)) > 1:
                    source.dropped = True
                queue.append((f, piece))
                continue
            source.failures = 0
            self.bytes_done += f.index.piece_range(piece)[1]
            f.pieces_left -= 1
            if f.pieces_left == 0:
                await self._complete(f)

    async def _fetch_piece(self, source: _Source, f: _File, piece: int) -> bool:
        offset, length = f.index.piece_range(piece)
        call = source.stub.ReadBlob(peer_pb2.ReadBlobRequest(
            ticket=self.ticket, digest=f.entry.digest, offset=offset, length=length), timeout=3600)
        position = 0
        loop = asyncio.get_running_loop()
        writing = None  # one write in flight while the next chunk arrives
        try:
            async for chunk in call:
                if chunk.offset != offset + position or position + len(chunk.data) > length:
                    return False
                if writing is not None:
                    await writing
                writing = loop.run_in_executor(self._pool, f.partial.write, piece, position, chunk.data)
                position += len(chunk.data)
                self.bytes_received += len(chunk.data)
        finally:
            if writing is not None:
                await writing
        if position != length:
            return False
        return await loop.run_in_executor(self._pool, f.partial.finish_piece, piece)

    async def _complete(self, f: _File) -> None:
        await self._call(f.partial.complete)
        f.partial = None
        self.completed.append(f.entry.digest)

    def _discard_completed(self) -> None:
        """A cancelled job takes back the whole blobs it brought in that nothing uses."""
        for digest in self.completed:
            path = self.store.blob_path(digest)
            try:
                if os.stat(path).st_nlink == 1:
                    os.unlink(path)
            except OSError:
                pass

    def _usable(self, sources: list[_Source]) -> list[_Source]:
        now = time.monotonic()
        return [s for s in sources if not s.dropped and s.down_until <= now]

    def _pick(self, sources: list[_Source]) -> _Source | None:
        """Spread pieces over every source that answers (round robin)."""
        usable = self._usable(sources)
        if not usable:
            return None
        sources.append(sources.pop(sources.index(usable[0])))
        return usable[0]

    def _source_failed(self, source: _Source, exc: grpc.aio.AioRpcError) -> None:
        if exc.code() == grpc.StatusCode.FAILED_PRECONDITION and "drifted" in (exc.details() or ""):
            log.warning("%s: %s; using other holders", source.host, exc.details())
            source.dropped = True
            if source.host not in self.drifted:
                self.drifted.append(source.host)
        elif exc.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND):
            log.warning("%s refused: %s", source.host, exc.details())
            source.dropped = True
        else:
            source.failures += 1
            if source.failures > len(SOURCE_RETRY_S):
                log.warning("%s stopped answering (%s)", source.host, exc.details())
                source.dropped = True
            else:
                source.down_until = time.monotonic() + SOURCE_RETRY_S[source.failures - 1]

    # -- placing and reporting -------------------------------------------------------------

    def _place_in(self, dest_dir: Path, materialised: Path) -> Path:
        """--dest: the same files, hard-linked (copied where links fail), into a folder of a root."""
        self.holdings.check_under_roots(dest_dir)
        target = dest_dir / f"{self.spec.name.replace('/', '--')}-v{self.spec.version}"
        if target.exists():
            raise FailedPrecondition(f"{target} already exists")
        building = target.with_name(target.name + ".partial-copy")
        shutil.rmtree(building, ignore_errors=True)

        def link_or_copy(src, dst):
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)
        shutil.copytree(materialised, building, copy_function=link_or_copy,
                        ignore=shutil.ignore_patterns(".llmesh-*"))
        os.rename(building, target)
        return target

    async def _call(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _keep_ticket_fresh(self) -> None:
        """Ask the coordinator for a new ticket before this one expires. It refuses for a
        cancelled job or a revoked host: then the job goes on only until the ticket expires."""
        while True:
            await asyncio.sleep(max(0.0, self._ticket_renew_at - time.time()))
            try:
                self.use_ticket(await self.renew_ticket(self.spec.job_id))
                log.info("job %s: transfer ticket renewed", self.spec.job_id)
            except (PermissionDenied, FailedPrecondition) as exc:
                log.warning("job %s: the coordinator refused a new ticket: %s", self.spec.job_id, exc)
                return
            except MeshError as exc:  # no link right now: try again soon
                log.info("job %s: ticket renewal failed (%s); trying again", self.spec.job_id, exc)
                self._ticket_renew_at = time.time() + TICKET_RETRY_S

    async def _report_periodically(self) -> None:
        while True:
            await asyncio.sleep(REPORT_EVERY_S)
            self._send("running")

    def _send(self, state: str, error: str = "", copy_path: str = "") -> None:
        self.report(link_pb.JobProgress(
            job_id=self.spec.job_id, state=state, bytes_total=self.bytes_total, bytes_done=self.bytes_done,
            bytes_reused=self.bytes_reused, bytes_received=self.bytes_received, error=error,
            copy_path=copy_path, drifted_sources=self.drifted))


def _unique(files):
    """Each digest once: two paths with the same bytes are one blob."""
    seen, out = set(), []
    for f in files:
        if f.digest not in seen:
            seen.add(f.digest)
            out.append(f)
    return out



class JobRunner:
    """The transfer jobs running on this agent, and their last reports."""

    def __init__(self, store: BlobStore, holdings: Holdings, identity: Callable[[], tls.Identity],
                 send: Report, renew_ticket: RenewTicket | None = None):
        self.store, self.holdings, self.identity = store, holdings, identity
        self.send = send
        self.renew_ticket = renew_ticket
        self._tasks: dict[str, asyncio.Task] = {}
        self._jobs: dict[str, TransferJob] = {}
        self._last: dict[str, link_pb.JobProgress] = {}

    def start(self, spec: link_pb.Transfer) -> None:
        running = self._tasks.get(spec.job_id)
        if running is not None and not running.done():
            self._jobs[spec.job_id].use_ticket(spec.ticket)  # it is on its way; the ticket is newer
            return  # sent again after a coordinator restart: it is already on its way
        last = self._last.get(spec.job_id)
        job = TransferJob(self.store, self.holdings, self.identity, spec, self._report,
                          last.bytes_received if last else 0, renew_ticket=self.renew_ticket)
        self._jobs[spec.job_id] = job
        self._tasks[spec.job_id] = asyncio.create_task(job.run())

    def cancel(self, job_id: str) -> None:
        job, task = self._jobs.get(job_id), self._tasks.get(job_id)
        if job is not None and task is not None and not task.done():
            job.cancelled = True
            task.cancel()

    def reports(self) -> list[link_pb.JobProgress]:
        return list(self._last.values())

    def _report(self, progress: link_pb.JobProgress) -> None:
        self._last[progress.job_id] = progress
        if progress.state in ("done", "failed", "cancelled", "waiting"):
            self._tasks.pop(progress.job_id, None)
            self._jobs.pop(progress.job_id, None)
        self.send(progress)

    async def stop(self) -> None:
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
