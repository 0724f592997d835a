"""The Peer service: other agents read blobs from this one, by digest, with a ticket.

A source serves only what a valid coordinator-signed ticket names, only to the agent
the ticket names (checked against the caller's mesh certificate), and never to a revoked
certificate: the revocation list is checked on every call and before every message of a
stream, so a host removed from the mesh stops receiving bytes at once. Every read and
every refusal goes into a PeerReadLog, which the agent reports to the coordinator's audit
log. Files are found by digest in this agent's blob store or in what its last scan found
under its roots, and opened only if their real path still lies there (Holdings.open_held).
Pieces come in the sizes common/pieces.py allows.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cryptography import x509

from llmesh import __version__
from llmesh.agent.testing import PeerFaults
from llmesh.agent.transfer.peer_reads import PeerReadLog
from llmesh.agent.transfer.revocations import Revocations
from llmesh.common import tickets, tls
from llmesh.common.errors import (
    FailedPrecondition,
    InvalidArgument,
    MeshError,
    NotFound,
    PermissionDenied,
    grpc_status,
)
from llmesh.common.files import atomic_write
from llmesh.common.hashing import PIECE_HASHES, SHA256, piece_hash_available
from llmesh.common.pieces import PIECE_SIZE, PieceIndex, check_piece_size, piece_index_of_file
from llmesh.common.platform import pread
from llmesh.common.ratelimit import TokenBucket, chunk_for
from llmesh.common.units import short_digest
from llmesh.v1 import peer_pb2, peer_pb2_grpc

log = logging.getLogger("llmesh.agent.peer")

CHUNK = 1024 * 1024  # ~1 MiB per message


@dataclass(frozen=True)
class Caller:
    agent_id: str
    serial: str  # of the certificate it presented, lower-case hex


class PeerServicer(peer_pb2_grpc.PeerServicer):
    def __init__(self, *, agent_id: str, name: str, platform: str, ca_pem: Callable[[], bytes],
                 index_dir: Path, open_held: Callable[[str], tuple[str, int]], revocations: Revocations,
                 reads: PeerReadLog, faults: PeerFaults | None = None, upload_limit: TokenBucket | None = None,
                 cached_index: Callable[[os.stat_result, int], PieceIndex | None] | None = None,
                 receiving: Callable[[str], object] | None = None):
        self.agent_id, self.name, self.platform = agent_id, name, platform  # what Describe says
        self.ca_pem = ca_pem      # the mesh CA, which signs tickets
        self.index_dir = index_dir  # piece indexes computed here, kept across restarts
        self.open_held = open_held  # digest -> (path, read-only fd) of a local file holding it
        self.revocations = revocations  # as the coordinator last said
        self.reads = reads        # what was served and refused, for the audit log
        self.faults = faults      # test harness only (llmesh.agent.testing); None in production
        self.upload_limit = upload_limit  # --max-upload-rate and quiet hours, over every reader
        self.cached_index = cached_index  # the scan's piece indexes (hash cache), by stat and piece size
        self.receiving = receiving  # digest -> the PartialBlob receiving it (a swarm serves its verified pieces)
        self.blob_port = 0  # of the blob socket (agent/transfer/blob_server.py) once it listens

    async def Describe(self, request, context):
        return peer_pb2.DescribeResponse(agent_id=self.agent_id, name=self.name,
                                         agent_version=__version__, platform=self.platform,
                                         blob_port=self.blob_port)

    async def GetPieceIndex(self, request, context):
        caller, job = None, ""
        try:
            caller = _caller(context)
            job = self.authorised(caller, request.ticket, request.digest)
            piece_size = check_piece_size(request.piece_size or PIECE_SIZE)
            accepted = _accepted_piece_hashes(request)
            partial = self._partial(request.digest)
            if partial is not None and partial.index.piece_size == piece_size:
                if partial.index.algorithm not in accepted:
                    raise FailedPrecondition(f"this host receives {short_digest(request.digest)}… in "
                                             f"{partial.index.algorithm} pieces, which the caller cannot verify")
                self.record(job, caller, request.digest, 0, None)
                return _index_message(partial.index, partial=True, have=partial.verified_pieces())
            try:
                index = await asyncio.to_thread(self._piece_index, request.digest, piece_size, accepted)
            except OSError as exc:
                raise NotFound(f"cannot read the blob here: {exc.strerror}") from None
            self.check_revocation(caller)  # hashing takes a while: revoked meanwhile?
            if index.digest != request.digest:
                raise FailedPrecondition(f"this host's copy of {short_digest(request.digest)}… has drifted "
                                         "(its bytes no longer match the digest)")
        except MeshError as exc:
            self.record(job, caller, request.digest, 0, exc)
            if self.faults is not None and self.faults.refusal_delay_s:  # a source slow to say no
                await asyncio.sleep(self.faults.refusal_delay_s)
            await context.abort(grpc_status(exc), str(exc))
        self.record(job, caller, request.digest, 0, None)
        return _index_message(index)

    def _partial(self, digest: str):
        """The blob this agent is receiving now, as a swarm member, when it holds no copy."""
        return self.receiving(digest) if self.receiving is not None else None

    async def ReadBlob(self, request, context):
        caller, job, sent, failure = None, "", 0, None
        try:
            try:
                caller = _caller(context)
                job = self.authorised(caller, request.ticket, request.digest)
                if request.offset < 0 or request.length < 0:
                    raise InvalidArgument("negative offset or length")
                read, fd = self.reader(request.digest)
            except MeshError as exc:
                failure = exc
                await context.abort(grpc_status(exc), str(exc))
            try:
                async for chunk in self._chunks(read, request, caller):
                    sent += len(chunk.data)
                    yield chunk
            except MeshError as exc:  # revoked while streaming
                failure = exc
                log.warning("stream of %s to agent %s cut: %s", short_digest(request.digest), caller.agent_id, exc)
                await context.abort(grpc_status(exc), str(exc))
            finally:
                if fd is not None:
                    os.close(fd)
        finally:
            self.record(job, caller, request.digest, sent, failure)

    def reader(self, digest: str):
        """(read(length, offset), fd to close or None): a held file, else the verified pieces of a
        blob being received here (a swarm member never serves a byte it has not verified)."""
        try:
            _, fd = self.open_held(digest)
            return (lambda length, offset: pread(fd, length, offset)), fd
        except OSError as exc:
            held_error = NotFound(f"cannot read the blob here: {exc.strerror}")
        except NotFound as exc:
            held_error = exc
        partial = self._partial(digest)
        if partial is None:
            raise held_error
        return (lambda length, offset: partial.read_verified(offset, length)), None

    async def _chunks(self, read, request, caller: Caller):
        """Read ahead one chunk on a thread while the previous one is sent. The caller's
        certificate is checked again before every message: a revocation cuts the stream."""
        offset, end = request.offset, request.offset + request.length
        chunk = chunk_for(self.upload_limit, CHUNK)  # small messages under a low limit keep it smooth
        pending = asyncio.ensure_future(asyncio.to_thread(read, min(chunk, end - offset), offset))
        while offset < end:
            data = await pending
            if not data:
                break
            next_offset = offset + len(data)
            if next_offset < end:
                pending = asyncio.ensure_future(
                    asyncio.to_thread(read, min(chunk, end - next_offset), next_offset))
            if self.faults is not None:
                data = self.with_faults(request, offset, data)
            if self.upload_limit is not None:
                await self.upload_limit.take(len(data))
            self.check_revocation(caller)
            yield peer_pb2.BlobChunk(offset=offset, data=data)
            if self.faults is not None and self.faults.delay_s(len(data)):
                await self.revocations.wait_for_change(self.faults.delay_s(len(data)))
            offset = next_offset

    def authorised(self, caller: Caller, ticket: str, digest: str) -> str:
        """The job of a valid ticket for this caller and digest."""
        try:
            job, refusal = tickets.verify_ticket(ticket, self._ca_key(), caller_agent_id=caller.agent_id,
                                                 digest=digest).job, None
        except PermissionDenied as exc:
            job, refusal = "", exc
        self.check_revocation(caller)  # first: a revoked host hears that, whatever its ticket
        if refusal is not None:
            raise refusal
        return job

    def check_revocation(self, caller: Caller) -> None:
        self.revocations.check(caller.serial, caller.agent_id)

    def record(self, job: str, caller: Caller | None, digest: str, sent: int, failure: MeshError | None) -> None:
        result = "ok" if failure is None else "denied" if isinstance(failure, PermissionDenied) else "failed"
        self.reads.record(job, caller.agent_id if caller else "", digest, sent, result,
                          str(failure) if failure else "")

    def _ca_key(self):
        return tls.load_cert(self.ca_pem()).public_key()

    def _piece_index(self, digest: str, piece_size: int, accepted: list[str] = (SHA256,)):
        """Hashing a big file for its pieces takes a while: keep the result on disk, valid
        while the file is the same (device, inode, size, mtime). ``accepted``: the piece hashes
        the caller can verify, preferred first."""
        path, fd = self.open_held(digest)
        with open(fd, "rb", buffering=0) as f:
            st = os.fstat(fd)
            scanned = self.cached_index(st, piece_size) if self.cached_index else None
            if scanned is not None and scanned.algorithm in accepted:
                return scanned  # hashed with its digest in the scan (what the registry binds): no second read
            algorithm = next((a for a in accepted if piece_hash_available(a)), SHA256)
            stamp = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, piece_size]
            if algorithm != SHA256:  # the sha256 ones keep the names they had
                stamp.append(algorithm)
            key = hashlib.sha256(f"{path}\0{stamp}".encode()).hexdigest()[:32]
            cached = self.index_dir / f"{key}.json"
            try:
                data = json.loads(cached.read_text())
                if data["stamp"] == stamp:
                    return PieceIndex.from_dict(data["index"])
            except (OSError, ValueError, KeyError, MeshError):
                pass
            index = piece_index_of_file(f, piece_size, algorithm=algorithm)
        atomic_write(cached, json.dumps({"stamp": stamp, "index": index.to_dict()}))
        return index

    def with_faults(self, request, offset: int, data: bytes) -> bytes:
        sent = self.faults.corrupt(request.digest, request.offset, offset, data)
        if sent is not data:
            log.warning("test fault hook: corrupting the piece at %d of %s", offset, short_digest(request.digest))
        return sent


def _caller(context) -> Caller:
    pems = (context.auth_context() or {}).get("x509_pem_cert")
    if not pems:
        raise PermissionDenied("peer reads need a mesh agent certificate")
    return caller_of(x509.load_pem_x509_certificate(pems[0]))


def caller_of(cert: x509.Certificate) -> "Caller":
    """Who presented ``cert`` (already verified against the mesh CA by the TLS handshake)."""
    agent_id = tls.agent_id_of(cert)
    if agent_id is None:
        raise PermissionDenied("the client certificate is not an agent certificate")
    return Caller(agent_id, format(cert.serial_number, "x"))


def _index_message(index: PieceIndex, partial: bool = False, have: list[int] = ()) -> peer_pb2.PieceIndex:
    return peer_pb2.PieceIndex(digest=index.digest, size=index.size, piece_size=index.piece_size,
                               hashes=list(index.hashes), partial=partial, have=list(have),
                               piece_hash="" if index.algorithm == SHA256 else index.algorithm)


def _accepted_piece_hashes(request) -> list[str]:
    """The caller's piece hashes, in its order, that exist; an older caller names none: sha256."""
    return [a for a in request.piece_hashes if a in PIECE_HASHES] or [SHA256]
