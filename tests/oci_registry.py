"""A real OCI registry for the tests (Debian's docker-registry, the CNCF distribution server) on a
loopback port, and a small HTTP proxy in front of it that counts requests and injects faults:
a piece corrupted once, a Bearer token challenge, a status code, a dropped connection."""
from __future__ import annotations

import base64
import http.client
import http.server
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from harness import free_port

REGISTRY_BINARY = shutil.which("docker-registry") or shutil.which("registry")
WHY_NO_REGISTRY = ("no OCI registry binary: install Debian's docker-registry package "
                   "(`make test` does it as root: SYSTEM_PACKAGES)")


class LocalRegistry:
    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        config = root / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.address}\n")
        self.log = open(root / "registry.log", "wb")
        self.process = subprocess.Popen([REGISTRY_BINARY, "serve", str(config)], stdout=self.log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("docker-registry did not start: " + (root / "registry.log").read_text())
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


class FaultProxy:
    """Forwards to ``upstream``; ``corrupt_range`` ("bytes=A-B"): flip a byte of the first
    response to that range; ``token``: demand ``Authorization: Bearer <token>`` with a challenge
    whose realm is this proxy's /token; ``status``: answer every /v2/ request with it;
    ``drop``: close the connection without an answer."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.requests: list[tuple[str, str, str]] = []  # (method, path, range)
        self.corrupt_range = ""
        self.token = ""
        self.token_basic = ""  # when set, the token endpoint wants these Basic credentials (user:password)
        self.status = 0
        self.drop = False
        self.delay_s = 0.0  # before answering each blob range: a slow link, so a test can act mid-pull
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                proxy.handle(self)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, method: str, part: str) -> int:
        with self.lock:
            return sum(1 for m, p, _ in self.requests if m == method and part in p)

    def ranges(self) -> list[str]:
        with self.lock:
            return [r for m, p, r in self.requests if m == "GET" and "/blobs/" in p and r]

    def handle(self, h) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else None
        with self.lock:
            self.requests.append((h.command, h.path, h.headers.get("Range", "")))
        if h.path.startswith("/token"):
            if self.token_basic and h.headers.get("Authorization") != \
                    "Basic " + base64.b64encode(self.token_basic.encode()).decode():
                return self._reply(h, 401, {"Content-Type": "application/json"},
                                   b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}')
            return self._reply(h, 200, {"Content-Type": "application/json"}, b'{"token": "%s"}' % self.token.encode())
        if self.drop:
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        if self.status:
            return self._reply(h, self.status, {"Content-Type": "application/json"},
                               b'{"errors":[{"code":"X","message":"injected by the test proxy"}]}')
        if self.token and h.headers.get("Authorization") != f"Bearer {self.token}":
            challenge = f'Bearer realm="http://{self.address}/token",service="test",scope="repository:x:pull"'
            return self._reply(h, 401, {"WWW-Authenticate": challenge, "Content-Type": "application/json"},
                               b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}')
        if self.delay_s and h.headers.get("Range"):
            time.sleep(self.delay_s)
        conn = http.client.HTTPConnection(self.upstream, timeout=60)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in ("host", "authorization", "connection")}
        conn.request(h.command, h.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        out = {k: v for k, v in resp.getheaders() if k.lower() not in ("transfer-encoding", "connection",
                                                                       "content-length")}
        if self.corrupt_range and h.headers.get("Range") == self.corrupt_range and data:
            self.corrupt_range = ""
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        if "Location" in out and out["Location"].startswith(f"http://{self.upstream}"):
            out["Location"] = out["Location"].replace(self.upstream, self.address, 1)
        conn.close()
        self._reply(h, resp.status, out, data)

    @staticmethod
    def _reply(h, status: int, headers: dict, data: bytes) -> None:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
