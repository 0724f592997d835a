"""Serving a GGUF with llama.cpp on this host: a supervised server process, and a test client.

    server = LlamaServer(log_dir)
    endpoint = server.start("model.gguf", port=8080, served_name="tiny")   # waits until it answers
    chat_test(endpoint.url, "Say hi", max_tokens=16)                          # ttft, tokens/s
    server.stop()                                                             # whole process group

The server is llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`) or a
`llama-server` binary when one is configured. It runs in its own process group with its output
in a log file; a supervisor thread restarts it (with backoff) when it dies unexpectedly, and
stop() terminates the group, so no process outlives its deployment.
"""
from __future__ import annotations

import atexit
import http.client
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from llmesh.common.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    ResourceExhausted,
    Unavailable,
)

# Modules llama-cpp-python's server imports; without them `-m llama_cpp.server` fails at start.
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "pydantic_settings",
                  "starlette_context")
RUNTIME_OVERHEAD = 256 * 1024 * 1024   # compute buffers, the Python server, the allocator
LOG_TAIL_BYTES = 2000


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
                   "--model_alias", self.served_name]
            cmd += ["--lora_path", str(self.lora_path)] if self.lora_path else []
            cmd += ["--n_threads", str(self.threads)] if self.threads else []
        return cmd + list(self.extra_args)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


class LlamaServer:
    """One supervised llama.cpp server process (one deployment)."""

    def __init__(self, log_dir, *, ready_timeout_s: float = 120.0, max_backoff_s: float = 30.0):
        self.log_dir = Path(log_dir)
        self.ready_timeout_s = ready_timeout_s
        self.max_backoff_s = max_backoff_s
        self.restarts = 0
        self.spec: ServerSpec | None = None
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._restarted = threading.Condition(self._lock)

    # -- public ---------------------------------------------------------------------------------

    def start(self, gguf_path, *, host: str = "127.0.0.1", port: int, served_name: str,
              n_ctx: int = 2048, lora_path=None, binary: str | None = None,
              threads: int | None = None, extra_args=()) -> Endpoint:
        """Check the host can run it, start the server, wait until GET /v1/models answers.

        Raises FailedPrecondition (file or backend missing, port in use, server died at start),
        ResourceExhausted (not enough memory), DeadlineExceeded (not ready in time).
        """
        if self._proc is not None:
            raise FailedPrecondition("this server is already running; stop it first")
        spec = ServerSpec(Path(gguf_path), host, int(port), served_name, int(n_ctx),
                          Path(lora_path) if lora_path else None, binary, threads,
                          list(extra_args))
        check_can_serve(spec)
        self.spec, self.restarts = spec, 0
        self._stopping.clear()
        _LIVE.add(self)
        self._launch_and_wait()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True,
                                            name=f"llama-server:{spec.port}")
        self._supervisor.start()
        return self.endpoint

    @property
    def endpoint(self) -> Endpoint:
        assert self.spec is not None and self._proc is not None
        return Endpoint(self.spec.url, self._proc.pid, self.spec.served_name)

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None else None

    @property
    def log_path(self) -> Path:
        port = self.spec.port if self.spec else 0
        return self.log_dir / f"llama-server-{port}.log"

    def wait_for_restart(self, old_pid: int, timeout_s: float = 120.0) -> Endpoint:
        """Block until the supervisor has a new, answering process in place of `old_pid`."""
        deadline = time.monotonic() + timeout_s
        with self._restarted:
            while self._proc is None or self._proc.pid == old_pid or not self._ready:
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping.is_set():
                    raise DeadlineExceeded(f"the server was not restarted within {timeout_s:.0f}s")
                self._restarted.wait(min(left, 0.5))
            return self.endpoint

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop supervising and terminate the server's whole process group (SIGTERM, then
        SIGKILL after `timeout_s`)."""
        self._stopping.set()
        _LIVE.discard(self)
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            _terminate_group(proc, timeout_s)
        if self._supervisor is not None and self._supervisor is not threading.current_thread():
            self._supervisor.join(timeout_s)
        self._supervisor = None

    # -- internals ------------------------------------------------------------------------------

    _ready = False

    def _launch_and_wait(self) -> None:
        spec = self.spec
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {time.strftime('%Y-%m-%dT%H:%M:%S')}: "
                      f"{' '.join(spec.command())}\n".encode())
            log.flush()
            # Its own session (and so process group): stop() can kill everything it spawned.
            proc = subprocess.Popen(spec.command(), stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        with self._lock:
            self._proc, self._ready = proc, False
        try:
            self._wait_ready(proc)
        except BaseException:
            with self._lock:
                if self._proc is proc:
                    self._proc = None
            _terminate_group(proc, 5.0)
            raise
        with self._restarted:
            self._ready = True
            self._restarted.notify_all()

    def _wait_ready(self, proc: subprocess.Popen) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise FailedPrecondition(f"the llama.cpp server exited with code "
                                         f"{proc.returncode} while starting: {self._log_tail()}")
            if self._stopping.is_set():
                raise Unavailable("stopped while starting")
            if _answers(self.spec.url):
                return
            time.sleep(0.2)
        raise DeadlineExceeded(f"the llama.cpp server did not answer on {self.spec.url} within "
                               f"{self.ready_timeout_s:.0f}s: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - LOG_TAIL_BYTES))
                lines = f.read().decode(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        interesting = [ln for ln in lines if ln.strip() and not ln.startswith("---")]
        return " | ".join(interesting[-3:]) or "(empty log)"

    def _supervise(self) -> None:
        backoff, started = 0.5, time.monotonic()
        while not self._stopping.is_set():
            proc = self._proc
            if proc is not None:
                try:
                    proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    continue
                if self._stopping.is_set():
                    return
                # It died on its own: kill anything left in its group, then start it again.
                _terminate_group(proc, 2.0)
                with self._lock:
                    if self._proc is proc:
                        self._proc, self._ready = None, False
                # A server that stayed up a while earns a fresh backoff; a crash loop does not.
                ran_well = time.monotonic() - started > 60
                backoff = 0.5 if ran_well else min(backoff * 2, self.max_backoff_s)
            if self._stopping.wait(backoff):
                return
            started = time.monotonic()
            try:
                self._launch_and_wait()
                self.restarts += 1
            except Exception:
                # E.g. the port was taken meanwhile: the next round waits longer and tries again.
                backoff = min(backoff * 2, self.max_backoff_s)


# Servers still running when the interpreter exits normally are stopped with it. (An agent
# killed with SIGKILL cannot clean up; its servers keep serving until stopped by pid.)
_LIVE: "weakref.WeakSet[LlamaServer]" = weakref.WeakSet()


@atexit.register
def _stop_all_servers() -> None:
    for server in list(_LIVE):
        server.stop(timeout_s=5.0)


def _terminate_group(proc: subprocess.Popen, timeout_s: float) -> None:
    for sig, wait in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=wait)
            # The leader is gone; children in its group may not be.
            if sig == signal.SIGTERM and _group_alive(proc.pid):
                continue
            return
        except subprocess.TimeoutExpired:
            continue


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


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
