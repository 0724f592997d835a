"""The one place where gRPC channels and server ports are built.

Every server and client in llmesh goes through here, so message-size limits,
keepalives and TLS cannot be forgotten: there is no plaintext port or channel.
- the coordinator's API port: TLS; people authenticate with a token, agents join;
- the coordinator's link port and every agent's Peer port: mutual TLS, mesh CA only.
"""
from __future__ import annotations

from collections import namedtuple
from typing import Callable

import grpc

from llmesh.common.errors import Unavailable
from llmesh.common.protocol import METADATA_KEY, PROTOCOL_TEXT
from llmesh.common.tls import Identity

# Model bytes move in ~1 MiB messages; inventories of big roots can be larger.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# Agents verify each other by the mesh CA and the transfer ticket, not by host name:
# every agent certificate carries this name, and peers dial with it as the TLS target.
PEER_TLS_NAME = "llmesh-peer"

_COMMON_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    # Bigger TLS records and HTTP/2 windows for ~1 MiB messages: fewer seals per byte.
    ("grpc.tsi.max_frame_size", 1024 * 1024),
    ("grpc.http2.bdp_probe", 1),
]
_SERVER_OPTIONS = _COMMON_OPTIONS + [
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.so_reuseport", 0),  # two coordinators must not share a port silently
]


def aio_server(interceptors=()) -> grpc.aio.Server:
    return grpc.aio.server(options=_SERVER_OPTIONS, interceptors=list(interceptors))


def bind(server, address: str, identity: Identity, *, require_client_cert: bool) -> str:
    """Bind a TLS port (port 0 = any free port); return the bound address."""
    credentials = grpc.ssl_server_credentials([(identity.key_pem, identity.cert_pem)],
                                              root_certificates=identity.ca_pem,
                                              require_client_auth=require_client_cert)
    return _add_port(server, address, credentials)


def bind_renewable(server, address: str, current: Callable[[], Identity]) -> str:
    """A mutual-TLS port whose certificate can be renewed while the server runs:
    each new handshake asks ``current()`` for the identity to present."""
    def configuration(identity: Identity):
        return grpc.ssl_server_certificate_configuration([(identity.key_pem, identity.cert_pem)],
                                                         root_certificates=identity.ca_pem)

    served = {"identity": current()}

    def fetch():
        identity = current()
        if identity is served["identity"]:
            return None  # unchanged: keep the configuration in use
        served["identity"] = identity
        return configuration(identity)

    credentials = grpc.dynamic_ssl_server_credentials(configuration(served["identity"]), fetch,
                                                      require_client_authentication=True)
    return _add_port(server, address, credentials)


def _add_port(server, address: str, credentials) -> str:
    try:
        port = server.add_secure_port(address, credentials)
    except RuntimeError as exc:  # grpc raises RuntimeError when it cannot bind
        raise Unavailable(f"cannot listen on {address}: {exc}") from None
    if port == 0:
        raise Unavailable(f"cannot listen on {address}: address in use or not available")
    host = address.rpartition(":")[0]
    return f"{host}:{port}"


def _channel_credentials(ca_pem: bytes, identity: Identity | None):
    if identity is not None:
        return grpc.ssl_channel_credentials(identity.ca_pem, identity.key_pem, identity.cert_pem)
    return grpc.ssl_channel_credentials(ca_pem)


def _options(target_name: str | None):
    return _COMMON_OPTIONS + ([("grpc.ssl_target_name_override", target_name)] if target_name else [])


def _call_metadata(token: str, protocol: str) -> tuple:
    """What every call carries: the API token, and our wire protocol (so the coordinator can
    refuse another major)."""
    bearer = (("authorization", f"Bearer {token}"),) if token else ()
    return bearer + (((METADATA_KEY, protocol),) if protocol else ())


class _CallMetadata(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                    grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Call metadata added by an interceptor. Call credentials would do the same through a plugin
    that runs on a thread of its own for every call; every channel here is TLS, so the token is
    never sent in the clear."""

    def __init__(self, metadata: tuple):
        self.metadata = metadata

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        return _CallDetails(details.method, details.timeout, tuple(details.metadata or ()) + self.metadata,
                            details.credentials, details.wait_for_ready, details.compression)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, requests):
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation, details, requests):
        return continuation(self._details(details), requests)


class _CallDetails(namedtuple("_CallDetails", "method timeout metadata credentials wait_for_ready compression"),
                   grpc.ClientCallDetails):
    pass


class _AioCallMetadata(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor,
                       grpc.aio.StreamUnaryClientInterceptor, grpc.aio.StreamStreamClientInterceptor):
    def __init__(self, metadata: tuple):
        self.metadata = metadata

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        return grpc.aio.ClientCallDetails(details.method, details.timeout,
                                          grpc.aio.Metadata(*(tuple(details.metadata or ()) + self.metadata)),
                                          details.credentials, details.wait_for_ready)

    async def intercept_unary_unary(self, continuation, details, request):
        return await continuation(self._details(details), request)

    async def intercept_unary_stream(self, continuation, details, request):
        return await continuation(self._details(details), request)

    async def intercept_stream_unary(self, continuation, details, requests):
        return await continuation(self._details(details), requests)

    async def intercept_stream_stream(self, continuation, details, requests):
        return await continuation(self._details(details), requests)


def client_channel(address: str, ca_pem: bytes, *, token: str = "", identity: Identity | None = None,
                   target_name: str | None = None, protocol: str = PROTOCOL_TEXT) -> grpc.Channel:
    """A channel for people's calls (token) or an agent's (identity) to the coordinator; every
    call carries ``protocol`` (the test harness may claim another, see agent/testing.py)."""
    channel = grpc.secure_channel(address, _channel_credentials(ca_pem, identity), _options(target_name))
    metadata = _call_metadata(token, protocol)
    return grpc.intercept_channel(channel, _CallMetadata(metadata)) if metadata else channel


def aio_client_channel(address: str, ca_pem: bytes, *, token: str = "", identity: Identity | None = None,
                       target_name: str | None = None, protocol: str = PROTOCOL_TEXT) -> grpc.aio.Channel:
    metadata = _call_metadata(token, protocol)
    return grpc.aio.secure_channel(address, _channel_credentials(ca_pem, identity), _options(target_name),
                                   interceptors=[_AioCallMetadata(metadata)] if metadata else None)


def aio_peer_channel(address: str, identity: Identity) -> grpc.aio.Channel:
    """Agent to agent: mutual TLS with mesh certificates (peers check no protocol metadata)."""
    return aio_client_channel(address, identity.ca_pem, identity=identity, target_name=PEER_TLS_NAME,
                              protocol="")
