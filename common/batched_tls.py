"""TLS over a plain socket through memory BIOs, so that bulk bytes cost one syscall per batch.

An ``ssl.SSLSocket`` makes a ``recv`` (two, header and body) per 16 KiB TLS record and a ``send``
per record written: ~65 000-130 000 syscalls per GB on each side. Here the socket is read in large
batches into the incoming BIO and the plaintext drained from it, and a large plaintext block is
encrypted into the outgoing BIO and sent with one ``sendall`` (docs/transfer-data-path.md, section 5,
has the numbers). The TLS work is the same OpenSSL code, and releases the GIL the same way.

The object stands in for the ``SSLSocket`` it replaces where the blob socket uses one: ``sendall``,
``recv``, ``recv_into``, ``getpeercert``, ``settimeout``, ``shutdown``, ``close``. Errors are the
same kinds: ``ssl.SSLError`` for a refused handshake (after the alert has gone to the peer),
``TimeoutError`` when the peer sends nothing for the socket's timeout, and, as with
``suppress_ragged_eofs``, a read returns 0 bytes when the connection ends (with or without a TLS
close), also in the middle of a record.
"""
from __future__ import annotations

import socket
import ssl

RECV_BATCH = 1024 * 1024  # bytes of ciphertext asked of the socket per recv
# Plaintext encrypted per sendall: bounds the outgoing BIO's memory, and a slow reader still gets
# each sendall (whose timeout covers all of it) done well within the socket's timeout.
SEND_BLOCK = 256 * 1024


class BatchedTLS:
    def __init__(self, raw: socket.socket, context: ssl.SSLContext, server_side: bool,
                 server_hostname: str | None = None, recv_batch: int = RECV_BATCH, send_block: int = SEND_BLOCK):
        self.raw = raw
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=server_side,
                                     server_hostname=server_hostname)
        self._batch = memoryview(bytearray(recv_batch))
        self._send_block = send_block
        self._ended = False

    def __enter__(self) -> BatchedTLS:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def do_handshake(self) -> None:
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()  # at the end, the next do_handshake raises SSLEOFError, as SSLSocket does
            except ssl.SSLError:
                self._flush_quietly()  # the alert, so the peer learns why
                raise
        self._flush()

    # -- reading ------------------------------------------------------------------------------

    def recv_into(self, buffer, nbytes: int = 0) -> int:
        """Plaintext into ``buffer`` (at most one record's worth per call); 0 at the end."""
        nbytes = nbytes or len(buffer)
        while True:
            try:
                return self._tls.read(nbytes, buffer)
            except ssl.SSLWantReadError:
                if self._ended:
                    return 0
                self._fill()
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return 0
            finally:
                if self._outgoing.pending:  # TLS 1.3 post-handshake answers (key update); a
                    self._flush_quietly()   # failed send shows as the end at the next read

    def recv(self, n: int) -> bytes:
        buffer = bytearray(n)
        got = self.recv_into(buffer)
        return bytes(buffer[:got])

    def _fill(self) -> None:
        n = self.raw.recv_into(self._batch)
        if n:
            self._incoming.write(self._batch[:n])
        else:
            self._ended = True
            self._incoming.write_eof()

    # -- writing ------------------------------------------------------------------------------

    def sendall(self, data) -> None:
        view = memoryview(data).cast("B")
        for start in range(0, len(view), self._send_block):
            block = view[start:start + self._send_block]
            written = 0
            while written < len(block):  # a memory BIO never blocks: one call writes it all
                written += self._tls.write(block[written:])
            self._flush()

    def _flush(self) -> None:
        if self._outgoing.pending:
            self.raw.sendall(self._outgoing.read())

    def _flush_quietly(self) -> None:
        try:
            self._flush()
        except OSError:
            pass

    def bare(self) -> socket.socket:
        """The connection under the TLS session, for a body that follows in sealed frames
        (llmesh.common.sealed): only once every TLS byte received has been read."""
        if self._incoming.pending or self._tls.pending():
            raise ConnectionError("the peer sent more over TLS than the exchange before a sealed body")
        self._flush()
        return self.raw

    # -- the socket ---------------------------------------------------------------------------

    def getpeercert(self, binary_form: bool = False):
        return self._tls.getpeercert(binary_form)

    def settimeout(self, seconds: float | None) -> None:
        self.raw.settimeout(seconds)

    def fileno(self) -> int:
        return self.raw.fileno()

    def shutdown(self, how: int) -> None:
        self.raw.shutdown(how)

    def close(self) -> None:
        self.raw.close()


def connect_tls(raw: socket.socket, context: ssl.SSLContext, server_hostname: str) -> BatchedTLS:
    tls = BatchedTLS(raw, context, server_side=False, server_hostname=server_hostname)
    tls.do_handshake()
    return tls

