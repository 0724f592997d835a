"""The destination side of a pull: fetch a version's missing blobs straight from the
source agents' Peer services, piece by piece, verified, resumable; then materialise
an ordinary model directory from the store.

Several pieces are in flight at once (from every source that holds a verified copy);
writes and hashing run on worker threads. A bad piece is fetched again, alone; a source
whose pieces keep failing is dropped and reported, and the coordinator re-verifies its copy.
When no source answers, the job stops as ``waiting`` with its verified pieces kept; the
coordinator sends it again when a source is back, and it resumes from them.

A run of a job owns the partial blobs it opens (``_Partials``) and its worker threads: when it
ends, however it ends, its tasks and threads are finished first, then every partial is ended
(kept for resuming when the job waits, deleted when it failed or was cancelled), and no partial
can be opened after that.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
from collections import deque
from typing import Awaitable, Callable

import grpc

from llmesh.agent.inventory.holdings import Holdings
from llmesh.agent.store.blobs import BlobStore, PartialBlob
from llmesh.agent.testing import ReceiveFaults
from llmesh.agent.transfer import placement
from llmesh.agent.transfer.blob_client import BlobReads
from llmesh.agent.transfer.partials import Partials
from llmesh.agent.transfer.sources import Source, SourcesUnavailable, find_blob_sockets
from llmesh.agent.transfer.swarm import Swarm, index_request
from llmesh.common import blob_socket, tickets, tls
from llmesh.common.errors import FailedPrecondition, MeshError, PermissionDenied
from llmesh.common.hashing import SHA256, piece_hash_available
from llmesh.common.pieces import PIECE_SIZES, PieceIndex
from llmesh.common.ratelimit import TokenBucket, take_all
from llmesh.common.units import short_digest
from llmesh.v1 import agent_link_pb2 as link_pb
from llmesh.v1 import peer_pb2

log = logging.getLogger("llmesh.agent.transfer")

PIECES_IN_FLIGHT = 4
BAD_PIECES_BEFORE_DROPPING_SOURCE = 3
SOURCE_RETRY_S = (0.5, 1.0, 2.0, 4.0)  # how long to keep trying unreachable sources before `waiting`
REPORT_EVERY_S = 0.5
TICKET_RETRY_S = 2.0  # a ticket renewal that failed for want of a link is asked again this soon


class _File:
    def __init__(self, entry: link_pb.FileEntry):
        self.entry = entry
        self.partial: PartialBlob | None = None
        self.index: PieceIndex | None = None
        self.pieces_left = 0


Report = Callable[[link_pb.JobProgress], None]
RenewTicket = Callable[[str], Awaitable[str]]  # job id -> a fresh ticket from the coordinator


class TransferJob:
    def __init__(self, store: BlobStore, holdings: Holdings, identity: Callable[[], tls.Identity],
                 spec: link_pb.Transfer, report: Report, received_before: int = 0,
                 faults: ReceiveFaults | None = None, renew_ticket: RenewTicket | None = None,
                 download_limit: TokenBucket | None = None):
        self.store, self.holdings = store, holdings
        # The agent's --max-download-rate, and this pull's own --limit: the slower one decides.
        self.limits = [download_limit, TokenBucket(spec.rate_limit) if spec.rate_limit > 0 else None]
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
        self.suspects: list[str] = []  # sources whose pieces kept failing verification
        self.sources: list[Source] = []  # of the current fetch, for per-source progress
        self.swarm: Swarm | None = None  # a fan-out's destination: the other destinations are sources too
        self.cancelled = False
        self.started = False
        self.released = asyncio.Event()  # set once the run has ended every partial it held
        self._partials = Partials(store, faults)
        # A piece read from a blob socket holds a thread for its whole piece: two more for the rest.
        self._pool = concurrent.futures.ThreadPoolExecutor(PIECES_IN_FLIGHT + 2, thread_name_prefix="transfer")
        self._blob_reads = BlobReads(identity)
        self._counting = threading.Lock()  # bytes_received grows on the blob socket threads

    # -- the job ---------------------------------------------------------------------------

    def use_ticket(self, ticket: str) -> None:
        """Tickets are short-lived: the job swaps in fresh ones as it goes."""
        self.ticket = ticket
        self._ticket_renew_at = tickets.renew_at(ticket, time.time())

    async def run(self) -> None:
        self.started = True
        reporter = asyncio.create_task(self._report_periodically())
        state, error, path, interrupted = "failed", "", "", False
        renewer = asyncio.create_task(self._keep_ticket_fresh()) if self.renew_ticket else None
        try:
            path = await self._run()
            state = "done"
        except asyncio.CancelledError:
            state, error = ("cancelled", "cancelled") if self.cancelled else ("waiting", "interrupted")
            interrupted = not self.cancelled
        except SourcesUnavailable as exc:
            state, error = "waiting", str(exc)
        except MeshError as exc:
            error = str(exc)
        except Exception as exc:  # a bug must end the job visibly, not hang it
            log.exception("transfer %s failed", self.spec.job_id)
            error = f"agent error: {exc}"
        finally:
            reporter.cancel()
            if renewer is not None:
                renewer.cancel()
            # Shielded: a second cancellation (the agent stopping) must not leave partials claimed.
            await asyncio.shield(self._release(discard=state in ("failed", "cancelled")))
        self._send(state, error=error, copy_path=path)
        if interrupted:
            raise asyncio.CancelledError

    async def _release(self, discard: bool) -> None:
        """The end of a run: wait for this job's threads (a write, an open, a completion in
        flight), then end every partial it holds; a failed or cancelled job keeps nothing."""
        try:
            self._blob_reads.close_all()  # wakes the threads still receiving
            await asyncio.to_thread(self._pool.shutdown, True)
            await asyncio.to_thread(self._partials.end_all, discard or self.cancelled)
            if self.cancelled:
                await asyncio.to_thread(self._discard_completed)
        finally:
            self.released.set()

    async def _run(self) -> str:
        store, spec = self.store, self.spec
        target = None
        if spec.dest_dir:  # checked before the first byte: refused now, not after the transfer
            target = await self._call(placement.check_pull, store, self.holdings, spec.name, spec.version,
                                      list(spec.files), spec.dest_dir)
        files = [_File(f) for f in _unique(spec.files)]
        missing = [f for f in files if not await self._reuse(f)]
        self.bytes_done = self.bytes_reused
        if missing:
            await self._call(store.ensure_space, store.space_needed((f.entry.digest, f.entry.size) for f in missing))
            await self._fetch(missing)
        path = await self._call(store.materialize, spec.name, spec.version, list(spec.files))
        await self._call(self.holdings.remember_digests, path, list(spec.files))
        if target is not None:
            path = await self._call(placement.place, path, target)
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
        sources = [Source(s, self.identity()) for s in self.spec.sources]
        self.sources = list(sources)
        self._origin = [s for s in sources if not s.swarm]
        self._peers = [s for s in sources if s.swarm]
        swarm = Swarm(self.spec.swarm_rank, self.spec.swarm_size, self._peers) if self._peers else None
        self.swarm = swarm
        watcher = None
        if not sources:
            raise SourcesUnavailable("no online host holds a verified copy")
        queue: deque = deque()
        try:
            # Piece indexes of all files are asked for at once: a source may have to hash to answer.
            await _all_or_none([self._open(f, sources) for f in files] + [find_blob_sockets(sources)])
            for f in files:
                missing = f.partial.missing_pieces()
                for piece in (swarm.order(missing, f.index.count) if swarm else missing):
                    queue.append((f, piece))
                f.pieces_left = len(f.partial.missing_pieces())
                self.bytes_done += f.entry.size - sum(f.index.piece_range(p)[1] for p in f.partial.missing_pieces())
                if f.pieces_left == 0:
                    await self._complete(f)
            if swarm is not None:
                watcher = asyncio.create_task(swarm.watch(
                    self._peers, files, lambda f: index_request(self.ticket, f, f.index.piece_size)))
            await _all_or_none([self._worker(queue, sources) for _ in range(PIECES_IN_FLIGHT)])
            unfinished = [f for f in files if f.pieces_left]
            if unfinished:
                raise SourcesUnavailable(self._why_no_source())
        finally:
            if watcher is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
            for s in sources:
                await s.channel.close()

    async def _open(self, f: _File, sources: list[Source]) -> None:
        """The piece index comes from a source; it must describe exactly the digest we want."""
        request = index_request(self.ticket, f, self.spec.piece_size)
        while any(not s.dropped for s in sources):
            usable = sorted(self._usable(sources), key=lambda s: s.swarm)  # the origin's index first
            if not usable:
                await asyncio.sleep(0.25)
                continue
            for source in usable:
                try:
                    reply = await source.stub.GetPieceIndex(request, timeout=600)
                except grpc.aio.AioRpcError as exc:
                    self._source_failed(source, exc.code().name, exc.details() or "")
                    continue
                index = PieceIndex(reply.size, reply.piece_size, tuple(reply.hashes), reply.digest,
                                   reply.piece_hash or SHA256)
                if (index.digest != f.entry.digest or index.size != f.entry.size
                        or index.piece_size not in PIECE_SIZES):
                    raise FailedPrecondition(f"{source.host} described {f.entry.path} wrongly")
                if not piece_hash_available(index.algorithm):  # we asked for hashes we can check
                    raise FailedPrecondition(f"{source.host} sent {index.algorithm} piece hashes for "
                                             f"{f.entry.path}, which this host cannot verify")
                f.index = index
                f.partial = await self._call(self._partials.open, f.entry.digest, f.entry.size, index,
                                             self._trusted_index_id(f, index, source))
                return
        raise SourcesUnavailable(f"no source could describe {f.entry.path}")

    def _trusted_index_id(self, f: _File, index: PieceIndex, source: Source) -> str | None:
        """The registry's index id for this file, as the ticket names it, when the source's index is
        that one: then every verified piece proves the file (its index came from the pass that made
        its sha256) and the whole file is never hashed again here. Else None: the whole file is checked."""
        piece_size, ids = tickets.piece_index_ids(self.ticket)
        expected = ids.get(f.entry.digest)
        if not expected or piece_size != index.piece_size:
            return None
        if index.index_id != expected:
            log.warning("%s's piece index of %s is not the one on record; checking the whole file",
                        source.host, f.entry.path)
            return None
        return expected

    async def _worker(self, queue: deque, sources: list[Source]) -> None:
        while queue:
            picked = self._next_piece(queue, sources)
            if picked is None:
                if not any(not s.dropped for s in sources):
                    return  # nobody answers: the job goes to `waiting`, keeping its verified pieces
                await asyncio.sleep(0.1 if self.swarm else 0.25)
                continue
            f, piece, source = picked
            try:
                verified = await self._fetch_piece(source, f, piece)
            except grpc.aio.AioRpcError as exc:
                self._source_failed(source, exc.code().name, exc.details() or "")
                queue.append((f, piece))
                continue
            except MeshError as exc:  # the blob socket's refusal
                self._source_failed(source, exc.code, str(exc))
                queue.append((f, piece))
                continue
            except OSError as exc:  # the blob socket: unreachable, or the stream ended early
                self._source_failed(source, "UNAVAILABLE", str(exc) or type(exc).__name__)
                queue.append((f, piece))
                continue
            if not verified:
                self._bad_piece(source, f, piece)
                queue.append((f, piece))
                continue
            source.failures = 0
            source.delivered(f.index.piece_range(piece)[1], time.monotonic())
            self.bytes_done += f.index.piece_range(piece)[1]
            f.pieces_left -= 1
            if f.pieces_left == 0:
                await self._complete(f)

    def _next_piece(self, queue: deque, sources: list[Source]):
        """(file, piece, source) to fetch next, or None to wait a little."""
        if self.swarm is None:
            source = self._pick(sources)
            return None if source is None else (*queue.popleft(), source)
        origin = self._pick(self._origin)
        chosen = self.swarm.choose(queue, self._usable(self._peers), origin is not None, time.monotonic())
        if chosen is None:
            return None
        f, piece, peer = chosen
        return f, piece, peer or origin

    def _bad_piece(self, source: Source, f: _File, piece: int) -> None:
        """A source whose pieces keep failing is dropped from this run and reported: its copy may
        have changed under an unchanged mtime, which only a re-hash of it can tell."""
        source.bad_pieces += 1
        log.warning("piece %d of %s from %s failed verification; fetching it again",
                    piece, f.entry.path, source.host)
        if source.bad_pieces >= BAD_PIECES_BEFORE_DROPPING_SOURCE and not source.dropped:
            log.warning("%s sent %d pieces that failed verification; not using it any more",
                        source.host, source.bad_pieces)
            source.dropped = True
            if source.host not in self.suspects:
                self.suspects.append(source.host)

    def _why_no_source(self) -> str:
        if self.suspects:
            return (f"pieces from {', '.join(self.suspects)} failed verification "
                    f"{BAD_PIECES_BEFORE_DROPPING_SOURCE} times; re-verifying that copy")
        return "the sources stopped answering; verified pieces are kept"

    async def _fetch_piece(self, source: Source, f: _File, piece: int) -> bool:
        address = source.blob_address
        if address is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(self._pool, self._read_piece, address, f, piece)
            except blob_socket.Unreachable as exc:  # a firewall, a port not forwarded: gRPC carries the bodies
                log.info("%s; using the Peer port", exc)
                source.no_blob_socket()
                return await self._fetch_piece(source, f, piece)
            return await asyncio.get_running_loop().run_in_executor(self._pool, f.partial.finish_piece, piece)
        return await self._fetch_piece_over_grpc(source, f, piece)

    def _read_piece(self, address: str, f: _File, piece: int) -> None:
        """On a pool thread: the piece from the source's blob socket into the partial, which hashes
        each batch as it is written (TLS, write and hash release the GIL: pieces go in parallel)."""
        offset, length = f.index.piece_range(piece)
        partial = f.partial

        def sink(position: int, data: memoryview) -> None:
            with self._counting:
                self.bytes_received += len(data)
            partial.write(piece, position, data, aligned=True)

        self._blob_reads.read(address, self.ticket, f.entry.digest, offset, length, sink, self.limits)

    async def _fetch_piece_over_grpc(self, source: Source, f: _File, piece: int) -> bool:
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
                await take_all(self.limits, len(chunk.data))
                if writing is not None:
                    await writing
                writing = loop.run_in_executor(self._pool, f.partial.write, piece, position, chunk.data)
                position += len(chunk.data)
                with self._counting:
                    self.bytes_received += len(chunk.data)
        finally:
            if writing is not None:
                await writing
        if position != length:
            return False
        return await loop.run_in_executor(self._pool, f.partial.finish_piece, piece)

    async def _complete(self, f: _File) -> None:
        trusted = f.partial.trusted_index
        await self._call(self._partials.complete, f.partial)
        log.info("%s received: %s", short_digest(f.entry.digest),
                 "every piece matched the index on record, no second pass" if trusted
                 else "whole file checked against its sha256")
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

    def _usable(self, sources: list[Source]) -> list[Source]:
        now = time.monotonic()
        return [s for s in sources if not s.dropped and s.down_until <= now]

    def _pick(self, sources: list[Source]) -> Source | None:
        """Spread pieces over every source that answers (round robin)."""
        usable = self._usable(sources)
        if not usable:
            return None
        sources.append(sources.pop(sources.index(usable[0])))
        return usable[0]

    def _source_failed(self, source: Source, code: str, details: str) -> None:
        """``code``: the gRPC status name (StatusCode.name, or a MeshError's code: the same names)."""
        if code == "FAILED_PRECONDITION" and "drifted" in details:
            log.warning("%s: %s; using other holders", source.host, details)
            source.dropped = True
            if source.host not in self.drifted:
                self.drifted.append(source.host)
        elif code in ("PERMISSION_DENIED", "NOT_FOUND"):
            log.warning("%s refused: %s", source.host, details)
            source.dropped = True
        else:
            source.failures += 1
            if source.failures > len(SOURCE_RETRY_S):
                log.warning("%s stopped answering (%s)", source.host, details)
                source.dropped = True
            else:
                source.down_until = time.monotonic() + SOURCE_RETRY_S[source.failures - 1]

    # -- reporting -------------------------------------------------------------------------

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
            copy_path=copy_path, drifted_sources=self.drifted, suspect_sources=self.suspects,
            sources=[s.progress(time.monotonic()) for s in self.sources]))


async def _all_or_none(coroutines: list[Awaitable]) -> None:
    """Run the coroutines together. If one fails (or this is cancelled), the others are
    cancelled and awaited before the error goes on: nothing of them outlives this call."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    if not tasks:
        return
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            raise result


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
                 send: Report, faults: ReceiveFaults | None = None,
                 renew_ticket: RenewTicket | None = None, download_limit: TokenBucket | None = None):
        self.store, self.holdings, self.identity = store, holdings, identity
        self.send = send
        self.faults = faults  # the test harness's (llmesh.agent.testing); None in production
        self.renew_ticket = renew_ticket
        self.download_limit = download_limit
        self._tasks: dict[str, asyncio.Task] = {}
        self._jobs: dict[str, TransferJob] = {}
        self._last: dict[str, link_pb.JobProgress] = {}
        if faults is not None:
            log.warning("test fault hooks are active: %s", faults.describe())

    def start(self, spec: link_pb.Transfer) -> None:
        running = self._tasks.get(spec.job_id)
        if running is not None and not running.done():
            self._jobs[spec.job_id].use_ticket(spec.ticket)  # it is on its way; the ticket is newer
            return  # sent again after a coordinator restart: it is already on its way
        last = self._last.get(spec.job_id)
        job = TransferJob(self.store, self.holdings, self.identity, spec, self._report,
                          last.bytes_received if last else 0, self.faults, renew_ticket=self.renew_ticket,
                          download_limit=self.download_limit)
        self._jobs[spec.job_id] = job
        self._tasks[spec.job_id] = asyncio.create_task(job.run())

    async def cancel(self, job_id: str, digests: list[str]) -> None:
        """Stop the job if it runs here, then delete the partials of ``digests`` that no running
        job is receiving: a cancelled (or failed) job leaves nothing in tmp/, run here or not."""
        job, task = self._jobs.get(job_id), self._tasks.get(job_id)
        if job is not None and task is not None and not task.done():
            job.cancelled = True
            task.cancel()
            await asyncio.wait([task])
            if job.started:
                await job.released.wait()  # its partials are no longer claimed: they can go
            self._tasks.pop(job_id, None)
            self._jobs.pop(job_id, None)
        for digest in digests:
            await asyncio.to_thread(self.store.discard_partial, digest)

    def check_pull(self, check: link_pb.CheckPull) -> None:
        """Raise why this host cannot take a pull, before the job exists (runs on a thread)."""
        placement.check_pull(self.store, self.holdings, check.name, check.version, list(check.files),
                             check.dest_dir)

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
