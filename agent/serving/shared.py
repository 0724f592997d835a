"""Several deployments on one base model server: llama.cpp deployments with LoRA adapters run in a
loraserver.py process per base (and port), each served under its own name; another adapter on the
same base joins the running process, an adapter is swapped in place, and the last deployment to
leave stops the process.

    shared = SharedServer(log_dir)
    a = shared.start("base.gguf", port=8080, served_name="oracle", adapter_path="a.gguf")
    b = shared.join("oracle-b", "b.gguf")               # same pid, same port
    a2 = shared.swap(a, "a2.gguf")                      # "oracle" now answers with a2; same pid
    b.stop(); a2.stop()                                 # the last one stops the process
"""
from __future__ import annotations

import http.client
import json
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

from llmesh.agent.serving.llamacpp import Endpoint, ServerSpec, check_can_serve
from llmesh.agent.serving.supervisor import Supervised, Supervisor
from llmesh.common.errors import FailedPrecondition


class Member:
    """One deployment on a shared server: what Deployments keeps per deployment id."""

    def __init__(self, shared: "SharedServer", served_name: str, adapter_path: str | None):
        self.shared, self.served_name, self.adapter_path = shared, served_name, adapter_path

    @property
    def spec(self) -> ServerSpec:
        return self.shared.spec

    @property
    def pid(self) -> int | None:
        return self.shared.pid

    @property
    def restarts(self) -> int:
        return self.shared.restarts

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.spec.url, self.shared.pid, self.served_name)

    def stop(self, timeout_s: float = 10.0) -> None:
        self.shared.leave(self, timeout_s)


class SharedServer(Supervised):
    """One loraserver.py process (supervised) and the deployments served by it."""

    def __init__(self, log_dir, *, ready_timeout_s: float = 120.0, max_backoff_s: float = 30.0):
        self.log_dir = Path(log_dir)
        self.ready_timeout_s, self.max_backoff_s = ready_timeout_s, max_backoff_s
        self.spec: ServerSpec | None = None
        self.members: list[Member] = []
        self._supervisor: Supervisor | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self.pid is not None and bool(self.members)

    def serves(self, gguf_path: Path, port: int) -> bool:
        """Whether a deployment of GGUF_PATH on PORT (0: any) belongs on this server."""
        return (self.running and self.spec.gguf_path == Path(gguf_path)
                and port in (0, self.spec.port))

    def start(self, gguf_path, *, host: str = "127.0.0.1", port: int, served_name: str,
              adapter_path=None, n_ctx: int = 2048, threads: int | None = None) -> Member:
        """Check the host can run it, start the process serving SERVED_NAME, wait until it answers."""
        spec = ServerSpec(Path(gguf_path), host, int(port), served_name, int(n_ctx),
                          Path(adapter_path) if adapter_path else None, None, threads)
        check_can_serve(spec)
        self.spec = spec
        self.log_dir.mkdir(parents=True, exist_ok=True)
        state = self.log_dir / f"lora-server-{spec.port}.json"
        state.write_text(json.dumps([{"name": served_name, "path": str(adapter_path) if adapter_path else None,
                                      "scale": 1.0}]))
        command = [sys.executable, "-m", "llmesh.agent.serving.loraserver", "--model", str(spec.gguf_path),
                   "--host", host, "--port", str(spec.port), "--n_ctx", str(spec.n_ctx), "--state", str(state)]
        command += ["--n_threads", str(threads)] if threads else []
        self._supervisor = Supervisor(command, self.log_dir / f"lora-server-{spec.port}.log",
                                      lambda: _answers(spec.url), name="the llama.cpp adapter server",
                                      address=spec.url, ready_timeout_s=self.ready_timeout_s,
                                      max_backoff_s=self.max_backoff_s)
        self._supervisor.start()
        member = Member(self, served_name, str(adapter_path) if adapter_path else None)
        self.members = [member]
        return member

    def join(self, served_name: str, adapter_path=None) -> Member:
        """Serve SERVED_NAME (with the adapter, or the base alone) on the running process."""
        with self._lock:
            if any(m.served_name == served_name for m in self.members):
                raise FailedPrecondition(f"{served_name!r} is already served on port {self.spec.port}")
            member = Member(self, served_name, str(adapter_path) if adapter_path else None)
            self._load(member)
            self.members.append(member)
            return member

    def swap(self, old: Member, adapter_path=None) -> Member:
        """OLD's served name answers with another adapter from now on; the same process, no
        restart. A file llama.cpp cannot load leaves OLD serving as it was."""
        with self._lock:
            member = Member(self, old.served_name, str(adapter_path) if adapter_path else None)
            self._load(member)
            self.members[self.members.index(old)] = member
            return member

    def leave(self, member: Member, timeout_s: float = 10.0) -> None:
        with self._lock:
            if member not in self.members:
                return
            self.members.remove(member)
            if self.members:
                _call(self.spec.url, "DELETE", f"/lora-adapters/{member.served_name}")
                return
        self.stop(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        self.members = []
        if self._supervisor is not None:
            self._supervisor.stop(timeout_s)

    def _load(self, member: Member) -> None:
        _call(self.spec.url, "POST", "/lora-adapters",
              [{"name": member.served_name, "path": member.adapter_path, "scale": 1.0}])


def _answers(url: str) -> bool:
    """Ready: it loaded the base and what its state file names (else it exits), and listens."""
    try:
        _call(url, "GET", "/v1/models", timeout=2)
        return True
    except FailedPrecondition:
        return False


def _call(url: str, method: str, path: str, body=None, timeout: float = 300.0):
    """One request to the adapter server; its error as one line (FailedPrecondition)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, json.dumps(body) if body is not None else None,
                     {"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
    except OSError as exc:
        raise FailedPrecondition(f"the llama.cpp adapter server at {url} did not answer: {exc}") from None
    finally:
        conn.close()
    try:
        value = json.loads(data)
    except ValueError:
        value = None
    if response.status != 200:
        message = (value or {}).get("error", {}).get("message") if isinstance(value, dict) else None
        raise FailedPrecondition(message or f"{url}{path} answered {response.status}")
    return value
