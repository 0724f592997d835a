"""The blob socket's batched TLS (llmesh.common.batched_tls): real TLS with mesh certificates on
loopback sockets, no agents. The batching must not change what arrives, how a connection ends,
or who gets in (the agents' own checks on top are in test_security.py and test_transfer.py)."""
import datetime
import hashlib
import os
import socket
import ssl
import threading

import pytest
from cryptography import x509

from llmesh.agent.transfer.blob_client import BlobReads
from llmesh.common import blob_socket, tls
from llmesh.common.batched_tls import RECV_BATCH, SEND_BLOCK, BatchedTLS
from llmesh.common.channels import PEER_TLS_NAME
from llmesh.common.tls import Identity

MIB = 1024 * 1024
RECORD = 16 * 1024  # TLS's largest record


def identity(ca_key, ca_cert, name: str) -> Identity:
    key = tls.new_key()
    cert = tls.issue(ca_key, ca_cert, key.public_key(), f"agent {name}",
                     sans=[x509.UniformResourceIdentifier(tls.agent_uri(name)), x509.DNSName(PEER_TLS_NAME)],
                     ttl=datetime.timedelta(hours=1), server=True, client=True)
    return Identity(tls.key_pem(key), tls.cert_pem(cert), tls.cert_pem(ca_cert))


@pytest.fixture(scope="module")
def mesh_ids():
    ca_key, ca_cert = tls.make_ca("test mesh")
    return identity(ca_key, ca_cert, "source"), identity(ca_key, ca_cert, "dest")


class Server:
    """Accepts one connection, shakes hands (batched, or as a plain SSLSocket: an agent of before
    the batching) and runs ``serve(tls)`` on a thread; what it raised is kept in ``error``."""

    def __init__(self, ident: Identity, serve, batched=True, raw_wrapper=None):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.contexts = blob_socket.Contexts(lambda: ident, server=True)
        self.serve, self.batched, self.raw_wrapper = serve, batched, raw_wrapper
        self.error: BaseException | None = None
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        conn, _ = self.listener.accept()
        conn.settimeout(60)
        raw = self.raw_wrapper(conn) if self.raw_wrapper else conn
        try:
            if self.batched:
                stream = BatchedTLS(raw, self.contexts.get(), server_side=True)
                stream.do_handshake()
            else:
                stream = self.contexts.get().wrap_socket(conn, server_side=True)
            self.serve(stream)
        except BaseException as exc:  # noqa: BLE001  (the test looks at it)
            self.error = exc
        finally:
            self.release.wait(60)
            conn.close()
            self.listener.close()

    def join(self):
        self.release.set()
        self.thread.join(60)
        assert not self.thread.is_alive()


def payload(size: int, seed: int = 1) -> bytes:
    return hashlib.shake_256(seed.to_bytes(4, "big")).digest(size)


def connect(ident: Identity, address: str, batched=True):
    contexts = blob_socket.Contexts(lambda: ident, server=False)
    if batched:
        return blob_socket.connect(address, contexts, 30)
    host, _, port = address.rpartition(":")
    return contexts.get().wrap_socket(socket.create_connection((host, int(port)), timeout=30),
                                      server_hostname=PEER_TLS_NAME)


# Sizes that are no multiple of a record, of a send block or of a receive batch, written in uneven
# slices (a record's last byte, one byte over, a bytes, a memoryview of a bytearray).
SIZE = 2 * RECV_BATCH + 3 * SEND_BLOCK + 12345
SLICES = [1, RECORD - 1, RECORD + 1, SEND_BLOCK + 7, 300001]


@pytest.mark.parametrize("client_batched,server_batched", [(True, True), (True, False), (False, True)],
                         ids=["both batched", "batched client, plain server", "plain client, batched server"])
def test_odd_sizes_arrive_whole_and_in_order_also_with_an_agent_that_does_not_batch(
        mesh_ids, client_batched, server_batched):
    source, dest = mesh_ids
    data = payload(SIZE)

    def serve(stream):
        request = blob_socket.recv_frame(stream)
        blob_socket.send_frame(stream, {"ok": True, "echo": request["n"]})
        view, at = memoryview(bytearray(data)), 0
        for i, n in enumerate(SLICES * 10):
            if at >= len(data):
                break
            part = view[at:at + n]
            stream.sendall(bytes(part) if i % 2 else part)
            at += len(part)
        stream.sendall(view[at:])
        stream.close()  # the end: the reader's next read gets 0 bytes

    server = Server(source, serve, batched=server_batched)
    stream = connect(dest, server.address, batched=client_batched)
    blob_socket.send_frame(stream, {"n": 7})
    assert blob_socket.recv_frame(stream) == {"ok": True, "echo": 7}
    received, buffer = hashlib.sha256(), memoryview(bytearray(4 * MIB + 1))
    total = 0
    while True:
        n = blob_socket.recv_into_full(stream, buffer[:min(len(buffer), SIZE - total) or 1])
        if total == SIZE:
            assert n == 0  # the end of the connection: no more bytes
            break
        assert n == min(len(buffer), SIZE - total)  # full batches until the last
        received.update(buffer[:n])
        total += n
    stream.close()
    server.join()
    assert server.error is None
    assert received.hexdigest() == hashlib.sha256(data).hexdigest()


class CutAfter:
    """The source's socket, cut (FIN, no TLS close) once ``limit`` bytes have gone: a source that
    dies in the middle of a TLS record."""

    def __init__(self, raw: socket.socket):
        self.raw, self.sent, self.limit = raw, 0, None

    def sendall(self, data) -> None:
        data = memoryview(data)
        if self.limit is not None:
            data = data[:max(0, self.limit - self.sent)]
        self.raw.sendall(data)
        self.sent += len(data)
        if self.limit is not None and self.sent >= self.limit:
            self.raw.shutdown(socket.SHUT_WR)

    def recv_into(self, buffer) -> int:
        return self.raw.recv_into(buffer)

    def settimeout(self, seconds) -> None:
        self.raw.settimeout(seconds)

    def close(self) -> None:
        self.raw.close()


@pytest.mark.parametrize("cut_at", [RECORD + 1000, 5, 3 * SEND_BLOCK + RECORD // 2])
def test_a_source_that_dies_mid_record_ends_the_read_with_one_clear_error(mesh_ids, cut_at):
    source, dest = mesh_ids
    cuts = []

    def cut(raw):
        cuts.append(CutAfter(raw))
        return cuts[0]

    def serve(stream):
        blob_socket.recv_frame(stream)
        blob_socket.send_frame(stream, {"ok": True})
        cuts[0].limit = cuts[0].sent + cut_at  # bytes of ciphertext that still go out
        stream.sendall(payload(4 * MIB))

    server = Server(source, serve, raw_wrapper=cut)
    got = []
    with pytest.raises(ConnectionError) as raised:  # not a TimeoutError: it ends at once
        BlobReads(lambda: dest).read(server.address, "ticket", "digest", 0, 4 * MIB,
                                     lambda position, data: got.append(bytes(data)))
    server.join()
    assert not isinstance(raised.value, TimeoutError)
    received = sum(map(len, got))
    assert f"the source sent {received} of {4 * MIB} bytes" in str(raised.value)
    assert received < cut_at and received % RECORD == 0  # whole records only: never a forged tail
    assert b"".join(got) == payload(4 * MIB)[:received]


def test_a_silent_source_times_out_and_close_all_wakes_a_waiting_reader(mesh_ids):
    source, dest = mesh_ids

    def serve(stream):
        blob_socket.recv_frame(stream)
        blob_socket.send_frame(stream, {"ok": True})
        stream.sendall(payload(RECORD + 10))  # then nothing more

    server = Server(source, serve)
    stream = connect(dest, server.address)
    blob_socket.send_frame(stream, {})
    blob_socket.recv_frame(stream)
    stream.settimeout(0.5)
    buffer = memoryview(bytearray(MIB))
    with pytest.raises(TimeoutError):
        blob_socket.recv_into_full(stream, buffer)
    stream.close()
    server.join()

    asked = threading.Event()

    def serve_and_say(stream):
        serve(stream)
        asked.set()  # the reader holds its connection (it asks after registering it)

    server = Server(source, serve_and_say)
    reads, outcome = BlobReads(lambda: dest), []

    def read():
        try:
            reads.read(server.address, "ticket", "digest", 0, MIB, lambda position, data: None)
        except Exception as exc:  # noqa: BLE001
            outcome.append(exc)
    reader = threading.Thread(target=read)
    reader.start()
    assert asked.wait(60)
    reads.close_all()  # the job ends while the reader waits for bytes that do not come
    reader.join(60)
    server.join()
    assert not reader.is_alive()
    # (closed or reset, as the kernel has it: the read ends at once, not after its timeout)
    assert len(outcome) == 1 and isinstance(outcome[0], ConnectionError), outcome
    assert not isinstance(outcome[0], TimeoutError)


def test_a_certificate_of_another_mesh_is_refused_and_the_client_hears_why(mesh_ids):
    source, _ = mesh_ids
    other_key, other_cert = tls.make_ca("another mesh")
    foreign = identity(other_key, other_cert, "stranger")
    stranger = Identity(foreign.key_pem, foreign.cert_pem, source.ca_pem)  # trusts the mesh, not trusted
    server = Server(source, lambda stream: pytest.fail("a stranger got past the handshake"))
    with pytest.raises(ssl.SSLError) as raised:  # TLS 1.3: the client learns it at its first read
        stream = connect(stranger, server.address)
        blob_socket.send_frame(stream, {})
        blob_socket.recv_frame(stream)
    server.join()
    assert isinstance(server.error, ssl.SSLError)
    assert "alert" in str(raised.value)  # the server's alert came through, not just a closed socket


def test_large_writes_stay_whole_across_send_blocks(mesh_ids):
    """Client to server too, and a write larger than the server's receive batch."""
    source, dest = mesh_ids
    data, seen = os.urandom(3 * RECV_BATCH + 1), []

    def serve(stream):
        buffer = memoryview(bytearray(len(data) + 1))
        seen.append(bytes(buffer[:blob_socket.recv_into_full(stream, buffer)]))

    server = Server(source, serve)
    stream = connect(dest, server.address)
    stream.sendall(data)
    stream.shutdown(socket.SHUT_WR)
    server.join()
    stream.close()
    assert server.error is None and seen == [data]
