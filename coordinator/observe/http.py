"""The coordinator's HTTP address (TLS, the API's certificate): /healthz, /metrics and the dashboard.

A small stdlib server on its own threads: a scrape never waits on the event loop's other work
except for the registry read it needs, which it hands to the loop (``fleet`` does that).
"""
from __future__ import annotations

import logging
import socket
import ssl
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from llmesh.common.errors import Unavailable
from llmesh.common.tls import Identity, load_identity

log = logging.getLogger("llmesh.coordinator.http")

REQUEST_TIMEOUT_S = 30.0  # a client that stalls mid-request or mid-handshake is dropped


class ObserveHttp:
    def __init__(self, listen: str, identity: Identity, scratch_dir: Path, *, metrics: CollectorRegistry,
                 authorized: Callable[[str], bool], healthy: Callable[[], bool], dashboard=None):
        host, _, port = listen.rpartition(":")
        server_class = _V6Server if host.startswith("[") else _Server
        try:
            self.server = server_class((host.strip("[]"), int(port)), _Handler)
        except OSError as exc:
            raise Unavailable(f"cannot listen on {listen}: {exc}") from None
        self.server.socket = _tls_context(identity, scratch_dir).wrap_socket(
            self.server.socket, server_side=True, do_handshake_on_connect=False)
        self.server.metrics, self.server.authorized, self.server.healthy = metrics, authorized, healthy
        self.server.dashboard = dashboard  # web.Dashboard, or None: /healthz and /metrics only
        self.address = f"{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="llmesh-http", daemon=True)

    def start(self) -> str:
        self._thread.start()
        return self.address

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        """A failed handshake (plain HTTP, an untrusting client) or a dropped connection: one line."""
        log.debug("HTTP connection from %s failed: %s", client_address[0], sys.exc_info()[1])


class _V6Server(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = REQUEST_TIMEOUT_S
    server_version = "llmesh"

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        path, _, query = self.path.partition("?")
        if path == "/healthz":
            if self.server.healthy():
                self.reply(200, b"ok\n")
            else:
                self.reply(503, b"shutting down\n")
        elif path == "/metrics":
            token = _bearer(self.headers.get("Authorization", ""))
            if not token or not self.server.authorized(token):
                self.reply(401, b"an API token is needed: Authorization: Bearer L10...\n",
                            {"WWW-Authenticate": 'Bearer realm="llmesh"'})
                return
            try:
                body = generate_latest(self.server.metrics)
            except Exception as exc:  # the registry could not be read: say so, keep serving
                log.warning("a /metrics scrape failed: %s", exc)
                self.reply(503, f"metrics unavailable: {exc}\n".encode())
                return
            self.reply(200, body, {"Content-Type": CONTENT_TYPE_LATEST})
        elif not (self.server.dashboard and self.server.dashboard.get(self, path, dict(parse_qsl(query)))):
            self.reply(404, b"not found: try /, /healthz or /metrics\n")

    def do_POST(self):  # noqa: N802 (the stdlib's name)
        path = self.path.partition("?")[0]
        if not (self.server.dashboard and self.server.dashboard.post(self, path)):
            self.reply(404, b"not found\n")

    def reply(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        headers = {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 (the stdlib's name)
        log.debug("%s %s", self.address_string(), format % args)


def _bearer(header: str) -> str:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _tls_context(identity: Identity, scratch_dir: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    load_identity(context, identity, scratch_dir)
    return context
