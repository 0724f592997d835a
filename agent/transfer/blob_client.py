"""The destination side of the blob socket (llmesh.common.blob_socket): read one piece's range
from a source, on a worker thread, handing each batch of bytes to a sink as it arrives.

A job's reads end with the job: ``close_all`` cuts every connection still open (a thread blocked
in recv wakes with an error) and refuses new ones, so no thread of a finished job lingers.
"""
from __future__ import annotations

import socket
import threading
from typing import Callable, Iterable

from llmesh.common import blob_socket, sealed
from llmesh.common.batched_tls import BatchedTLS
from llmesh.common.errors import FailedPrecondition, error_for_code
from llmesh.common.platform import direct_buffer
from llmesh.common.ratelimit import TokenBucket, chunk_for, wait_all
from llmesh.common.tls import Identity

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0  # a source that sends nothing for this long is treated as gone
BATCH_ALIGN = 64 * 1024

# (position in the range, bytes) as they arrive, in order. The bytes are in a page-aligned buffer
# (platform.direct_buffer) and every batch but the range's last is a multiple of 64 KiB.
Sink = Callable[[int, memoryview], None]


class BlobReads:
    def __init__(self, identity: Callable[[], Identity]):
        self.contexts = blob_socket.Contexts(identity, server=False)
        self._lock = threading.Lock()
        self._open: set[BatchedTLS] = set()
        self._closed = False

    def read(self, address: str, ticket: str, digest: str, offset: int, length: int, sink: Sink,
             limits: Iterable[TokenBucket | None] = ()) -> int:
        """Read ``length`` bytes at ``offset`` of ``digest`` into ``sink``; the bytes it got.
        Raises the source's refusal as a MeshError (before any byte), or OSError / ConnectionError
        (unreachable, or the stream ended early: fewer bytes than asked)."""
        limits = [b for b in limits if b is not None]
        sock = blob_socket.connect(address, self.contexts, CONNECT_TIMEOUT_S)
        try:
            self._hold(sock)
            sock.settimeout(READ_TIMEOUT_S)
            key = sealed.new_key()  # inside the TLS session: only the source it authenticated learns it
            blob_socket.send_frame(sock, {"v": blob_socket.VERSION, "ticket": ticket, "digest": digest,
                                          "offset": offset, "length": length, "seal": sealed.SUITE,
                                          "key": sealed.key_text(key)})
            answer = blob_socket.recv_frame(sock)
            if not answer.get("ok"):
                raise error_for_code(str(answer.get("code", "INTERNAL")), str(answer.get("error", "refused")))
            body = sock  # a source that does not seal: the body in TLS records
            if answer.get("sealed") == sealed.SUITE:
                bare = sock.bare()
                bare.sendall(sealed.GO)
                body = sealed.SealedReader(bare, key, blob_socket.BODY_CHUNK)
            # Under a limit, batches of 1/8 s of it keep the receiving pace smooth.
            batch = min([chunk_for(b, blob_socket.BODY_CHUNK) for b in limits] + [blob_socket.BODY_CHUNK])
            batch = max(BATCH_ALIGN, batch - batch % BATCH_ALIGN)  # batches stay aligned in the file
            buffer = direct_buffer(min(batch, length))  # page-aligned: the sink may write it direct
            position = 0
            while position < length:
                view = buffer[:min(len(buffer), length - position)]
                n = blob_socket.recv_into_full(body, view)
                if n:
                    wait_all(limits, n)
                    sink(position, view[:n])
                    position += n
                if n < len(view):
                    raise ConnectionError(f"the source sent {position} of {length} bytes")
            return position
        finally:
            self._release(sock)

    def close_all(self) -> None:
        with self._lock:
            self._closed = True
            held = list(self._open)
        for sock in held:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _hold(self, sock: BatchedTLS) -> None:
        with self._lock:
            if self._closed:
                raise FailedPrecondition("the job has ended")
            self._open.add(sock)

    def _release(self, sock: BatchedTLS) -> None:
        with self._lock:
            self._open.discard(sock)
        sock.close()
