"""The one place where gRPC channels and server ports are built.

Every server and client in llmesh goes through here, so message-size limits,
keepalives (and, with the security issue, TLS) cannot be forgotten.
"""
from __future__ import annotations

import grpc

from .errors import Unavailable

# Model bytes move in ~1 MiB messages; inventories of big roots can be larger.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

_COMMON_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
_SERVER_OPTIONS = _COMMON_OPTIONS + [
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.so_reuseport", 0),  # two coordinators must not share a port silently
]


def aio_server() -> grpc.aio.Server:
    return grpc.aio.server(options=_SERVER_OPTIONS)


def bind(server, address: str) -> str:
    """Bind a server to host:port (port 0 = any free port); return the bound address."""
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:  # grpc raises RuntimeError when it cannot bind
        raise Unavailable(f"cannot listen on {address}: {exc}") from None
    if port == 0:
        raise Unavailable(f"cannot listen on {address}: address in use or not available")
    host = address.rpartition(":")[0]
    return f"{host}:{port}"


def client_channel(address: str) -> grpc.Channel:
    return grpc.insecure_channel(address, options=_COMMON_OPTIONS)


def aio_client_channel(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(address, options=_COMMON_OPTIONS)
