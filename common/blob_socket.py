"""The blob socket: a plain mutual-TLS socket that carries blob bodies between agents.

Chosen over gRPC messages by numbers (docs/transfer-data-path.md): 20-35 % less CPU per byte, and
its work (TLS, the destination's write and hash) runs on threads that release the GIL, one per
piece in flight, instead of funnelling every message through one asyncio loop.

It is as closed as the Peer port: TLS 1.2+ with mesh certificates only, both ways (the server
presents the ``llmesh-peer`` name every agent certificate carries; the client must present a mesh
agent certificate), and each request carries the same coordinator-signed ticket the Peer service
checks. There is no plaintext variant.

One request per connection:

    client -> server   frame {"v": 1, "ticket", "digest", "offset", "length", "seal", "key"}
    server -> client   frame {"ok": true, "sealed": "aes-256-gcm"}, then, once the client has
                       sent one "go" byte on the bare connection, exactly ``length`` bytes in
                       sealed frames on it (llmesh.common.sealed: AES-GCM with the client's key,
                       which only this TLS session carried)
                    or frame {"ok": true} and exactly ``length`` bytes in TLS (a client that sent
                       no key, or an agent from before sealed frames that ignores it)
                    or frame {"code": "PERMISSION_DENIED", "error": "..."} and close

A frame is a 4-byte big-endian length and that much UTF-8 JSON. The server closes the connection
mid-body to cut a stream (a revoked reader): the client sees fewer bytes than asked.
"""
from __future__ import annotations

import json
import socket
import ssl
import struct
from typing import Callable

from llmesh.common.batched_tls import BatchedTLS, connect_tls
from llmesh.common.channels import PEER_TLS_NAME
from llmesh.common.errors import InvalidArgument, MeshError, Unavailable
from llmesh.common.tls import Identity, load_identity

VERSION = 1
MAX_FRAME = 64 * 1024
BODY_CHUNK = 4 * 1024 * 1024  # bytes per send/recv batch on either side


class Unreachable(ConnectionError):
    """The blob socket could not be connected to (before any TLS): not proof that the agent is down."""


def _context(identity: Identity, server: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED  # both ways: mesh certificates only
    context.load_verify_locations(cadata=identity.ca_pem.decode())
    load_identity(context, identity)
    if not server:
        context.check_hostname = True
    return context


class Contexts:
    """TLS contexts for the current identity of this agent (renewals replace it): one is built
    again only when ``current()`` returns another identity."""

    def __init__(self, current: Callable[[], Identity], server: bool):
        self.current, self.server = current, server
        self._for: Identity | None = None
        self._context: ssl.SSLContext | None = None

    def get(self) -> ssl.SSLContext:
        identity = self.current()
        if identity is not self._for or self._context is None:
            self._context, self._for = _context(identity, self.server), identity
        return self._context


def send_frame(sock, message: dict) -> None:
    data = json.dumps(message, separators=(",", ":")).encode()
    sock.sendall(struct.pack("!I", len(data)) + data)


def recv_frame(sock) -> dict:
    (length,) = struct.unpack("!I", recv_exactly(sock, 4))
    if length > MAX_FRAME:
        raise InvalidArgument(f"blob socket frame of {length} bytes (at most {MAX_FRAME})")
    try:
        message = json.loads(recv_exactly(sock, length))
    except ValueError:
        raise InvalidArgument("malformed blob socket frame") from None
    if not isinstance(message, dict):
        raise InvalidArgument("malformed blob socket frame")
    return message


def recv_exactly(sock, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        got = sock.recv(n - len(data))
        if not got:
            raise ConnectionError("the blob socket closed early")
        data += got
    return bytes(data)


def recv_into_full(sock, view: memoryview) -> int:
    """Fill ``view`` (TLS hands out one record, ~16 KiB, per call; the socket is read in larger
    batches underneath, llmesh.common.batched_tls); fewer bytes only at the end."""
    got = 0
    while got < len(view):
        n = sock.recv_into(view[got:])
        if not n:
            break
        got += n
    return got


def refusal(exc: MeshError) -> dict:
    return {"code": exc.code, "error": str(exc)}


def connect(address: str, contexts: Contexts, timeout_s: float) -> BatchedTLS:
    """A mutual-TLS connection to another agent's blob socket (``host:port``)."""
    host, _, port = address.rpartition(":")
    try:
        raw = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s)
    except ValueError:
        raise Unavailable(f"bad blob socket address {address!r}") from None
    except OSError as exc:  # refused, dropped by a firewall, no route: the caller may use gRPC
        raise Unreachable(f"cannot connect to the blob socket {address}: {exc}") from exc
    try:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connect_tls(raw, contexts.get(), PEER_TLS_NAME)
    except BaseException:
        raw.close()
        raise
