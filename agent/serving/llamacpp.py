"""Serving a GGUF with llama.cpp on this host: a server process (kept running by supervisor.py),
the checks before starting one, and a test client.

    server = LlamaServer(log_dir)
    endpoint = server.start("model.gguf", port=8080, served_name="tiny")   # waits until it answers
    chat_test(endpoint.url, "Say hi", max_tokens=16)                          # ttft, tokens/s
    server.stop()                                                             # whole process group

The server is llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`) or a
`llama-server` binary when one is configured. (Deployments with LoRA adapters run in llmesh's own
adapter server instead, several on one base: shared.py, loraserver.py.) A Supervisor runs it in its own process group
with its output in a log file, restarts it (with backoff) when it dies unexpectedly, and stop()
terminates the group, so no process outlives its deployment.
"""
from __future__ import annotations

import http.client
import importlib.util
import json
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from llmesh.agent.serving.supervisor import Supervised, Supervisor
from llmesh.common.errors import FailedPrecondition, InvalidArgument, ResourceExhausted, Unavailable

# Modules llama-cpp-python's server imports; without them `-m llama_cpp.server` fails at start.
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "pydantic_settings",
                  "starlette_context")
RUNTIME_OVERHEAD = 256 * 1024 * 1024   # compute buffers, the Python server, the allocator


@dataclass(frozen=True)
class Endpoint:
    url: str          # e.g. http://127.0.0.1:8080 (the OpenAI API is under /v1)
    pid: int
    served_name: str


@dataclass
class ServerSpec:
    """Everything needed to (re)start one server process."""
    gguf_path: Path
    host: str
    port: int
    served_name: str
    n_ctx: int
    lora_path: Path | None = None
    binary: str | None = None
    threads: int | None = None
    extra_args: list[str] = field(default_factory=list)

    def command(self) -> list[str]:
        if self.binary:
            cmd = [self.binary, "-m", str(self.gguf_path), "--host", self.host,
                   "--port", str(self.port), "-c", str(self.n_ctx), "--alias", self.served_name]
            cmd += ["--lora", str(self.lora_path)] if self.lora_path else []
            cmd += ["-t", str(self.threads)] if self.threads else []
        else:
            cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.gguf_path),
                   "--host", self.host, "--port", str(self.port), "--n_ctx", str(self.n_ctx),
                   "--model_alias", self.served_name,
                   # a new request must not cut another client's stream short (the default does)
                   "--interrupt_requests", "False"]
            cmd += ["--lora_path", str(self.lora_path)] if self.lora_path else []
            cmd += ["--n_threads", str(self.threads)] if self.threads else []
        return cmd + list(self.extra_args)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


class LlamaServer(Supervised):
    """One llama.cpp server process (one deployment), kept running by a Supervisor."""

    def __init__(self, log_dir, *, ready_timeout_s: float = 120.0, max_backoff_s: float = 30.0):
        self.log_dir = Path(log_dir)
        self.ready_timeout_s = ready_timeout_s
        self.max_backoff_s = max_backoff_s
        self.spec: ServerSpec | None = None
        self._supervisor: Supervisor | None = None

    def start(self, gguf_path, *, host: str = "127.0.0.1", port: int, served_name: str,
              n_ctx: int = 2048, lora_path=None, binary: str | None = None,
              threads: int | None = None, extra_args=()) -> Endpoint:
        """Check the host can run it, start the server, wait until GET /v1/models answers.

        Raises FailedPrecondition (file or backend missing, port in use, server died at start),
        ResourceExhausted (not enough memory), DeadlineExceeded (not ready in time).
        """
        if self.pid is not None:
            raise FailedPrecondition("this server is already running; stop it first")
        spec = ServerSpec(Path(gguf_path), host, int(port), served_name, int(n_ctx),
                          Path(lora_path) if lora_path else None, binary, threads,
                          list(extra_args))
        check_can_serve(spec)
        self.spec = spec
        self._supervisor = Supervisor(spec.command(), self.log_path, lambda: _answers(spec.url),
                                      name="the llama.cpp server", address=spec.url,
                                      ready_timeout_s=self.ready_timeout_s,
                                      max_backoff_s=self.max_backoff_s)
        self._supervisor.start()
        return self.endpoint

    @property
    def endpoint(self) -> Endpoint:
        assert self.spec is not None and self.pid is not None
        return Endpoint(self.spec.url, self.pid, self.spec.served_name)

    @property
    def log_path(self) -> Path:
        port = self.spec.port if self.spec else 0
        return self.log_dir / f"llama-server-{port}.log"

    def wait_for_restart(self, old_pid: int, timeout_s: float = 120.0) -> Endpoint:
        """Block until the supervisor has a new, answering process in place of `old_pid`."""
        if self._supervisor is None:
            raise FailedPrecondition("this server was never started")
        self._supervisor.wait_for_restart(old_pid, timeout_s)
        return self.endpoint

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop supervising and terminate the server's whole process group (asked to stop,
        then killed after `timeout_s`)."""
        if self._supervisor is not None:
            self._supervisor.stop(timeout_s)


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
    try:
        conn.request("GET", "/v1/models")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


# -- checks before starting -----------------------------------------------------------------------

def check_can_serve(spec: ServerSpec) -> None:
    """Everything that would make a start fail, as one clear error, before any process starts."""
    for path, what in ((spec.gguf_path, "model"), (spec.lora_path, "adapter")):
        if path is not None and not path.is_file():
            raise FailedPrecondition(f"the {what} file {path} does not exist on this host")
    if not 0 < spec.port < 65536:
        raise InvalidArgument(f"port {spec.port} is not a valid port")
    check_backend(spec.binary)
    check_port_free(spec.host, spec.port)
    check_memory(spec.gguf_path, spec.n_ctx)


def check_backend(binary: str | None) -> None:
    if binary:
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            raise FailedPrecondition(f"llama.cpp backend missing on this host: the llama-server "
                                     f"binary {binary!r} is not an executable file")
        return
    missing = [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise FailedPrecondition("llama.cpp backend missing on this host: install "
                                 "'llama-cpp-python[server]' (pip install 'llmesh[serve]'); "
                                 f"missing {', '.join(missing)}")


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            raise FailedPrecondition(f"port {port} is in use on this host") from None


def estimate_memory(gguf_path: Path, n_ctx: int) -> int:
    """Bytes a server needs: the weights (mapped), the f16 KV cache for n_ctx, and overhead."""
    import gguf

    try:
        reader = gguf.GGUFReader(str(gguf_path))
    except Exception as exc:  # gguf raises ValueError, struct.error, ... on damaged files
        raise FailedPrecondition(f"{gguf_path} is not a readable GGUF file: {exc}") from None
    arch = _field(reader, "general.architecture") or "llama"
    layers = int(_field(reader, f"{arch}.block_count") or 0)
    embd = int(_field(reader, f"{arch}.embedding_length") or 0)
    heads = int(_field(reader, f"{arch}.attention.head_count") or 1)
    kv_heads = int(_field(reader, f"{arch}.attention.head_count_kv") or heads)
    kv_width = embd // max(1, heads) * kv_heads
    kv_cache = 2 * n_ctx * layers * kv_width * 2
    return gguf_path.stat().st_size + kv_cache + RUNTIME_OVERHEAD


def _field(reader, key: str):
    f = reader.fields.get(key)
    if f is None:
        return None
    value = f.parts[f.data[0]]
    if f.types and f.types[0].name == "STRING":
        return bytes(value).decode()
    return value[0]


def check_memory(gguf_path: Path, n_ctx: int) -> None:
    needed = estimate_memory(gguf_path, n_ctx)
    available = psutil.virtual_memory().available
    if needed > available:
        raise ResourceExhausted(f"not enough memory: serving {gguf_path.name} with n_ctx={n_ctx} "
                                f"needs about {needed / 2**30:.1f} GiB, "
                                f"{available / 2**30:.1f} GiB available")


# -- testing an endpoint --------------------------------------------------------------------------

def chat_test(url: str, prompt: str = "Say hello.", max_tokens: int = 32, *,
              model: str | None = None, timeout_s: float = 120.0, **request_fields) -> dict:
    """Send one chat prompt with stream=true to an OpenAI-compatible endpoint; measure it.

    Returns {text, ttft_s, tokens_per_s, tokens, total_s, passed}: ttft_s is the time from
    sending to the first content chunk, tokens_per_s the rate of the chunks after it (each
    streamed chunk is one token on llama.cpp servers); passed means some text came back.
    """
    body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
            "stream": True, **({"model": model} if model else {}), **request_fields}
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    started = time.perf_counter()
    first = last = None
    pieces: list[str] = []
    try:
        conn.request("POST", "/v1/chat/completions", json.dumps(body),
                     {"Content-Type": "application/json", "Accept": "text/event-stream"})
        response = conn.getresponse()
        if response.status != 200:
            raise Unavailable(f"{url} answered {response.status}: "
                              f"{response.read(300).decode(errors='replace').strip()}")
        for text in _sse_contents(response):
            now = time.perf_counter()
            first = first or now
            last = now
            pieces.append(text)
    except OSError as exc:
        raise Unavailable(f"cannot reach {url}: {exc}") from None
    finally:
        conn.close()
    total = time.perf_counter() - started
    tokens = len(pieces)
    rate = (tokens - 1) / (last - first) if tokens > 1 and last > first else None
    return {"text": "".join(pieces), "ttft_s": (first - started) if first else None,
            "tokens_per_s": rate, "tokens": tokens, "total_s": total, "passed": tokens > 0}


def _sse_contents(response):
    """The content strings of an OpenAI chat stream, one per chunk that carries text."""
    for raw in response:
        line = raw.decode(errors="replace").strip()
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            chunk = json.loads(data)
        except ValueError:
            continue
        for choice in chunk.get("choices") or []:
            text = (choice.get("delta") or {}).get("content") or choice.get("text")
            if text:
                yield text
