"""A stable endpoint in front of a llama.cpp server: a TCP port that forwards each connection
to the server behind it, so that the server can be replaced without clients seeing a failed
request (deployments that follow an alias):

    fwd = Forwarder("127.0.0.1", 8080, old_port)
    ... start the new server on new_port, wait until it answers ...
    fwd.retarget(new_port)        # new connections go to the new server
    fwd.drain(old_port, 30)       # the old server's requests finish
    ... stop the old server ...

Threads, not asyncio: the agent starts servers on worker threads and this must work alike on
Windows, macOS and Linux.
"""
from __future__ import annotations

import socket
import threading
import time
from collections import Counter

from llmesh.common.errors import FailedPrecondition

CHUNK = 64 * 1024
ACCEPT_POLL_S = 0.5


class Forwarder:
    def __init__(self, host: str, port: int, target_port: int):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self._sock = socket.create_server((host, port), family=family)
        except OSError:
            raise FailedPrecondition(f"port {port} is in use on this host") from None
        self._sock.settimeout(ACCEPT_POLL_S)  # so that close() is seen without a connection
        self.host, self.port, self.target = host, port, target_port
        self._active: Counter[int] = Counter()
        self._lock = threading.Condition()
        self._closed = False
        threading.Thread(target=self._accept, name=f"forward-{port}", daemon=True).start()

    def retarget(self, port: int) -> None:
        """New connections go to PORT from now on (open ones stay where they are)."""
        self.target = port

    def drain(self, port: int, timeout_s: float) -> bool:
        """Wait until no connection to PORT is open (True), or the timeout passes (False)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._active[port] and time.monotonic() < deadline:
                self._lock.wait(0.1)
            return not self._active[port]

    def close(self) -> None:
        self._closed = True
        self._sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._forward, args=(client, self.target), daemon=True).start()

    def _forward(self, client: socket.socket, port: int) -> None:
        with self._lock:
            self._active[port] += 1
        try:
            with client, socket.create_connection((self.host, port), timeout=30) as upstream:
                upstream.settimeout(None)
                client.settimeout(None)
                back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
                back.start()
                _pipe(client, upstream)
                back.join()
        except OSError:
            pass  # the client sees its connection close, as it would with the server itself
        finally:
            with self._lock:
                self._active[port] -= 1
                self._lock.notify_all()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(CHUNK):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
