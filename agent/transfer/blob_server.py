"""The source side of the blob socket (llmesh.common.blob_socket): blob bodies to other agents.

Everything the Peer service checks is checked here, by the Peer service's own code: the caller's
mesh certificate (the TLS handshake refuses any other), the revocation list (before the first
byte and before every chunk, so a removed host's stream is cut at once), the ticket (this caller,
this digest, unexpired), and that the file still lies under this agent's roots when it is opened
(Holdings.open_held) or is a verified piece of a blob being received (a swarm member). A refused
request gets one error frame and no byte of the blob. Every read and refusal goes into the same
PeerReadLog, so the coordinator's audit log sees both paths alike. The upload limit and the test
fault hooks apply as on the gRPC path.

One thread per connection (TLS and reads release the GIL: several readers use several cores).
The session runs through memory BIOs (llmesh.common.batched_tls), so that once a reader that
sent a key has the answer, the body goes in sealed frames on the bare connection
(llmesh.common.sealed); a reader that sent none gets it in TLS records, as before.
"""
from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
import time
from typing import Callable

from cryptography import x509

from llmesh.agent.transfer.peer import PeerServicer, caller_of
from llmesh.common import blob_socket, sealed
from llmesh.common.batched_tls import BatchedTLS
from llmesh.common.errors import InvalidArgument, MeshError, Unavailable
from llmesh.common.ratelimit import chunk_for
from llmesh.common.tls import Identity
from llmesh.common.units import short_digest

log = logging.getLogger("llmesh.agent.peer")

MAX_CONNECTIONS = 32
IDLE_TIMEOUT_S = 60.0  # a reader that stops reading (or never asks) is dropped after this
FAULT_DELAY_STEP_S = 0.05  # test throttling sleeps in steps, looking at the revocation list between


class BlobServer:
    def __init__(self, peer: PeerServicer, identity: Callable[[], Identity]):
        self.peer = peer
        self.contexts = blob_socket.Contexts(identity, server=True)
        self._listener: socket.socket | None = None
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.port = 0

    def start(self, host: str, port: int = 0) -> int:
        """Listen on ``host``:``port`` (0: any free port); returns the port."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.bind((host, port))
            listener.listen(64)
        except OSError as exc:
            listener.close()
            raise Unavailable(f"cannot listen for blob reads on {host}:{port}: {exc.strerror}") from None
        self._listener, self.port = listener, listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name="llmesh-blob-accept", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
            except OSError:
                pass
            self._listener.close()
        if self._thread is not None:
            self._thread.join(5)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                if self._stopping.is_set():
                    return
                time.sleep(0.1)
                continue
            if not self._slots.acquire(blocking=False):
                conn.close()  # too many readers at once: they retry, as after any dropped connection
                continue
            threading.Thread(target=self._serve, args=(conn,), name="llmesh-blob-read", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(IDLE_TIMEOUT_S)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                tls = BatchedTLS(conn, self.contexts.get(), server_side=True)
                tls.do_handshake()
            except (OSError, ssl.SSLError) as exc:  # no mesh certificate, or not TLS at all
                log.info("blob socket: handshake refused: %s", exc)
                return
            with tls:
                self._answer(tls)
        except OSError:
            pass  # the reader went away
        finally:
            conn.close()
            self._slots.release()

    def _answer(self, tls: BatchedTLS) -> None:
        peer = self.peer
        caller, job, digest, sent, failure, fd = None, "", "", 0, None, None
        try:
            try:
                caller = caller_of(x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)))
                request = blob_socket.recv_frame(tls)
                digest = str(request.get("digest", ""))[:100]
                offset, length = _range(request)
                job = peer.authorised(caller, str(request.get("ticket", "")), digest)
                read, fd = peer.reader(digest)
            except MeshError as exc:
                failure = exc
                blob_socket.send_frame(tls, blob_socket.refusal(exc))
                return
            key = sealed.key_of(request)
            if key is None:
                blob_socket.send_frame(tls, {"ok": True})
                body = tls
            else:
                blob_socket.send_frame(tls, {"ok": True, "sealed": sealed.SUITE})
                bare = tls.bare()
                if blob_socket.recv_exactly(bare, len(sealed.GO)) != sealed.GO:
                    raise ConnectionError("the reader did not say go")
                body = sealed.SealedWriter(bare, key, blob_socket.BODY_CHUNK)
            try:
                sent = self._body(body, read, caller, digest, offset, length)
            except MeshError as exc:  # revoked while streaming: the connection is cut
                failure = exc
                log.warning("blob stream of %s to agent %s cut: %s", short_digest(digest), caller.agent_id, exc)
        finally:
            if fd is not None:
                os.close(fd)
            if caller is not None or failure is not None:
                peer.record(job, caller, digest, sent, failure)

    def _body(self, body: BatchedTLS | sealed.SealedWriter, read, caller, digest: str, start: int,
              length: int) -> int:
        peer, faults, limit = self.peer, self.peer.faults, self.peer.upload_limit
        chunk = chunk_for(limit, blob_socket.BODY_CHUNK)  # small sends under a low limit keep it smooth
        offset, end = start, start + length
        while offset < end and not self._stopping.is_set():
            data = read(min(chunk, end - offset), offset)
            if not data:
                break
            if faults is not None:
                data = faults.corrupt(digest, start, offset, data)
            if limit is not None:
                time.sleep(limit.reserve(len(data)))
            if faults is not None and faults.delay_s(len(data)):  # before: the reader waits for the bytes
                self._fault_delay(faults.delay_s(len(data)), caller)
            peer.check_revocation(caller)
            body.sendall(data)
            offset += len(data)
        return offset - start

    def _fault_delay(self, seconds: float, caller) -> None:
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            time.sleep(min(left, FAULT_DELAY_STEP_S))
            self.peer.check_revocation(caller)


def _range(request: dict) -> tuple[int, int]:
    if request.get("v") != blob_socket.VERSION:
        raise InvalidArgument(f"unsupported blob socket request version {request.get('v')!r}")
    offset, length = request.get("offset"), request.get("length")
    if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length < 0:
        raise InvalidArgument("negative or missing offset or length")
    return offset, length

