"""The Peer service: other agents read blobs from this one, by digest, with a ticket.

A source serves only what a valid coordinator-signed ticket names, only to the agent
the ticket names (checked against the caller's mesh certificate). Files are found by
digest in this agent's blob store or in what its last scan found under its roots.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from typing import Callable

from cryptography import x509

from llmesh import __version__
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
from llmesh.common.pieces import PIECE_SIZE, PieceIndex, compute_piece_index
from llmesh.common.units import short_digest
from llmesh.v1 import peer_pb2, peer_pb2_grpc

log = logging.getLogger("llmesh.agent.peer")

CHUNK = 1024 * 1024  # ~1 MiB per message


@dataclass(frozen=True)
class FaultHooks:
    """Test-only faults on the source side (set from LLMESH_TEST_* variables by meshctl):
    corrupt the bytes of one piece a number of times, or slow every stream down."""

    corrupt_digest: str = ""
    corrupt_offset: int = -1  # the start of the piece to corrupt
    corrupt_times: int = 0
    throttle_bytes_per_s: float = 0.0


class PeerServicer(peer_pb2_grpc.PeerServicer):
    def __init__(self, runtime, locate: Callable[[str], str | None], faults: FaultHooks = FaultHooks()):
        self.runtime = runtime
        self.locate = locate  # digest -> native path of a local file holding it
        self.faults = faults
        self._corruptions_left = faults.corrupt_times
        self.index_dir = runtime.config.home / "piece-indexes"

    async def Describe(self, request, context):
        return peer_pb2.DescribeResponse(
            agent_id=self.runtime.agent_id, name=self.runtime.config.name,
            agent_version=__version__, platform=self.runtime.facts.platform)

    async def GetPieceIndex(self, request, context):
        try:
            path = self._authorised_path(request.ticket, request.digest, context)
            index = await asyncio.to_thread(self._piece_index, path, request.piece_size or PIECE_SIZE)
            if index.digest != request.digest:
                raise FailedPrecondition(f"this host's copy of {short_digest(request.digest)}… has drifted "
                                         "(its bytes no longer match the digest)")
        except MeshError as exc:
            await context.abort(grpc_status(exc), str(exc))
        return peer_pb2.PieceIndex(digest=index.digest, size=index.size, piece_size=index.piece_size,
                                   hashes=list(index.hashes))

    async def ReadBlob(self, request, context):
        try:
            path = self._authorised_path(request.ticket, request.digest, context)
            if request.offset < 0 or request.length < 0:
                raise InvalidArgument("negative offset or length")
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            await context.abort(grpc_status(NotFound("")), f"cannot read the blob here: {exc.strerror}")
        except MeshError as exc:
            await context.abort(grpc_status(exc), str(exc))
        try:
            async for chunk in self._chunks(fd, request):
                yield chunk
        finally:
            os.close(fd)

    async def _chunks(self, fd: int, request):
        """Read ahead one chunk on a thread while the previous one is sent."""
        offset, end = request.offset, request.offset + request.length
        pending = asyncio.ensure_future(asyncio.to_thread(os.pread, fd, min(CHUNK, end - offset), offset))
        while offset < end:
            data = await pending
            if not data:
                break
            next_offset = offset + len(data)
            if next_offset < end:
                pending = asyncio.ensure_future(
                    asyncio.to_thread(os.pread, fd, min(CHUNK, end - next_offset), next_offset))
            yield peer_pb2.BlobChunk(offset=offset, data=self._maybe_corrupt(request, offset, data))
            if self.faults.throttle_bytes_per_s:
                await asyncio.sleep(len(data) / self.faults.throttle_bytes_per_s)
            offset = next_offset

    def _authorised_path(self, ticket: str, digest: str, context) -> str:
        caller = _caller_agent_id(context)
        tickets.verify_ticket(ticket, self._ca_key(), caller_agent_id=caller, digest=digest)
        path = self.locate(digest)
        if path is None:
            raise NotFound(f"this host holds no file with digest {short_digest(digest)}…")
        return path

    def _ca_key(self):
        return tls.load_cert(self.runtime.identity.ca_pem).public_key()

    def _piece_index(self, path: str, piece_size: int):
        """Hashing a big file for its pieces takes a while: keep the result on disk, valid
        while the file is the same (device, inode, size, mtime)."""
        st = os.stat(path)
        stamp = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, piece_size]
        key = hashlib.sha256(f"{path}\0{stamp}".encode()).hexdigest()[:32]
        cached = self.index_dir / f"{key}.json"
        try:
            data = json.loads(cached.read_text())
            if data["stamp"] == stamp:
                return PieceIndex.from_dict(data["index"])
        except (OSError, ValueError, KeyError, MeshError):
            pass
        index = compute_piece_index(path, piece_size)
        atomic_write(cached, json.dumps({"stamp": stamp, "index": index.to_dict()}))
        return index

    def _maybe_corrupt(self, request, offset: int, data: bytes) -> bytes:
        f = self.faults
        if (self._corruptions_left > 0 and request.digest == f.corrupt_digest
                and offset == request.offset == f.corrupt_offset):
            self._corruptions_left -= 1
            log.warning("test fault hook: corrupting the piece at %d of %s", offset, short_digest(request.digest))
            return bytes([data[0] ^ 0xFF]) + data[1:]
        return data


def _caller_agent_id(context) -> str:
    pems = (context.auth_context() or {}).get("x509_pem_cert")
    if not pems:
        raise PermissionDenied("peer reads need a mesh agent certificate")
    agent_id = tls.agent_id_of(x509.load_pem_x509_certificate(pems[0]))
    if agent_id is None:
        raise PermissionDenied("the client certificate is not an agent certificate")
    return agent_id
