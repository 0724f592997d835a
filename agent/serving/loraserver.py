"""One base model, several LoRA adapters, one process: an OpenAI-compatible server that loads the
base GGUF once and serves each adapter under its own name (the request's `model` picks it), with
adapters added, replaced, rescaled and removed at run time. Run by shared.py as

    python -m llmesh.agent.serving.loraserver --model base.gguf --port 8080 --state served.json

Neither llama-cpp-python's server (one --lora_path, fixed at start) nor `llama-server` (its
`/lora-adapters` only rescales the adapters given with --lora at start) can load an adapter into a
running server, so llmesh runs this one. Its adapter API is shaped like llama-server's:

    GET  /lora-adapters                [{"id": 0, "name": "oracle", "path": "a.gguf", "scale": 1.0}, ...]
    POST /lora-adapters                [{"id": 0, "scale": 0.5}]                  rescale (as llama-server)
                                       [{"name": "oracle", "path": "b.gguf"}]     add, or replace in place
                                       [{"name": "base", "path": null}]           a name for the base alone
    DELETE /lora-adapters/NAME         stop serving NAME

The state file holds what is served; it is rewritten on each change, so a restart by the
supervisor serves the same names. Requests run one at a time (one llama.cpp context): an adapter
change waits for the request in flight and never cuts it short.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from llmesh.common.files import atomic_write

# What a chat or completion request may set; everything else in the body is ignored, as OpenAI's
# clients send fields llama.cpp has no use for.
SAMPLING = ("max_tokens", "temperature", "top_p", "top_k", "min_p", "typical_p", "stop", "seed",
            "presence_penalty", "frequency_penalty", "repeat_penalty", "logit_bias", "response_format")


class RequestError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Served:
    name: str
    path: str | None      # the adapter's GGUF; None: the base alone
    scale: float
    handle: object = None  # llama_adapter_lora_p


class Models:
    """The loaded base and the names served on it; every method holds the one lock."""

    def __init__(self, model_path: str, n_ctx: int, n_threads: int | None, state_path: Path):
        import llama_cpp

        self.llama_cpp = llama_cpp
        self.model_path = model_path
        self.llm = llama_cpp.Llama(model_path, n_ctx=n_ctx, n_threads=n_threads, verbose=False)
        self.state_path = state_path
        self.served: dict[str, Served] = {}
        self.lock = threading.Lock()
        self.active: tuple | None = None  # (handle, scale) set on the context; None: nothing yet
        entries = json.loads(state_path.read_text()) if state_path.is_file() else []
        for entry in entries:
            self._put(entry["name"], entry.get("path"), float(entry.get("scale", 1.0)))

    # -- adapters ----------------------------------------------------------------------------

    def listing(self) -> list[dict]:
        return [{"id": i, "name": s.name, "path": s.path, "scale": s.scale}
                for i, s in enumerate(self.served.values())]

    def change(self, items) -> list[dict]:
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise RequestError(400, "send a JSON list of {name, path[, scale]} or {id|name, scale}")
        with self.lock:
            try:
                return self._change(items)
            finally:
                self._save()  # what was applied before an item that failed stays applied

    def _change(self, items) -> list[dict]:
        by_id = list(self.served)
        for item in items:
            if "path" in item:
                name = item.get("name")
                if not isinstance(name, str) or not name:
                    raise RequestError(400, "an adapter to load needs a name")
                self._put(name, item["path"] or None, float(item.get("scale", 1.0)))
                continue
            name = item.get("name")
            if name is None and isinstance(item.get("id"), int) and 0 <= item["id"] < len(by_id):
                name = by_id[item["id"]]
            if name not in self.served:
                raise RequestError(404, f"no adapter {item.get('name', item.get('id'))!r} is served here")
            self.served[name].scale = float(item.get("scale", 1.0))
        return self.listing()

    def remove(self, name: str) -> list[dict]:
        with self.lock:
            served = self.served.pop(name, None)
            if served is None:
                raise RequestError(404, f"{name!r} is not served here")
            self._free(served)
            self._save()
            return self.listing()

    def _put(self, name: str, path: str | None, scale: float) -> None:
        """Serve NAME with the adapter at PATH: loaded first, so a file llama.cpp refuses leaves
        what was served as it was."""
        handle = None
        if path is not None:
            if not os.path.isfile(path):
                raise RequestError(400, f"the adapter file {path} does not exist")
            handle = self.llama_cpp.llama_adapter_lora_init(self.llm.model, path.encode())
            if not handle:
                raise RequestError(400, f"llama.cpp cannot load the adapter {Path(path).name} on "
                                        f"{Path(self.model_path).name} (trained on another base?)")
        old = self.served.get(name)
        self.served[name] = Served(name, path, scale, handle)
        if old is not None:
            self._free(old)

    def _free(self, served: Served) -> None:
        if served.handle is None:
            return
        # The context must not keep a pointer to an adapter that is freed.
        self.llama_cpp.llama_set_adapters_lora(self.llm.ctx, None, 0, None)
        self.active = None
        self.llama_cpp.llama_adapter_lora_free(served.handle)

    def _save(self) -> None:
        entries = [{"name": s.name, "path": s.path, "scale": s.scale} for s in self.served.values()]
        atomic_write(self.state_path, json.dumps(entries, indent=1))

    def _use(self, name: str | None) -> Served:
        """Set the context's adapters for a request to NAME (under the lock)."""
        if name not in self.served:
            if len(self.served) == 1:  # as llama-cpp-python's server: one model answers to any name
                name = next(iter(self.served))
            elif name is None:
                raise RequestError(400, f"say which model: {', '.join(self.served) or '(none served)'}")
            else:
                raise RequestError(404, f"model {name!r} is not served here; served: "
                                        f"{', '.join(self.served) or '(none)'}")
        served = self.served[name]
        wanted = (served.handle, served.scale) if served.handle is not None else (None, 0.0)
        if self.active != wanted:
            lc = self.llama_cpp
            if served.handle is None:
                lc.llama_set_adapters_lora(self.llm.ctx, None, 0, None)
            else:
                adapters = (lc.llama_adapter_lora_p_ctypes * 1)(served.handle)
                lc.llama_set_adapters_lora(self.llm.ctx, adapters, 1, (ctypes.c_float * 1)(served.scale))
            # The cached prompt was computed with other weights: it cannot be reused.
            self.llm.reset()
            self.active = wanted
        return served

    # -- generation --------------------------------------------------------------------------

    def generate(self, kind: str, body: dict):
        """Yields the response chunks (one, or a stream's), holding the lock until the last."""
        args = {k: body[k] for k in SAMPLING if body.get(k) is not None}
        stream = bool(body.get("stream"))
        with self.lock:
            served = self._use(body.get("model"))
            if kind == "chat":
                if not isinstance(body.get("messages"), list):
                    raise RequestError(400, "messages: a list of {role, content} is required")
                result = self.llm.create_chat_completion(body["messages"], stream=stream, **args)
            else:
                if not isinstance(body.get("prompt"), str):
                    raise RequestError(400, "prompt: a string is required")
                result = self.llm.create_completion(body["prompt"], stream=stream, **args)
            for chunk in (result if stream else [result]):
                chunk["model"] = served.name
                yield chunk


class Handler(BaseHTTPRequestHandler):
    models: Models  # set on the class by serve()
    # Keep-alive, streams chunked: the client closes first, so no TIME_WAIT holds the server's
    # port after it stops (a deployment started again on that port finds it free).
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # one line per request in the server's log
        sys.stderr.write(f"{time.strftime('%H:%M:%S')} {self.command} {self.path} {args[1] if len(args) > 1 else ''}\n")

    def do_GET(self):
        if self.path in ("/health", "/v1/health"):
            return self._json(200, {"status": "ok"})
        if self.path in ("/v1/models", "/models"):
            return self._json(200, {"object": "list", "data": [
                {"id": s["name"], "object": "model", "owned_by": "llmesh", "adapter": s["path"], "scale": s["scale"]}
                for s in self.models.listing()]})
        if self.path == "/lora-adapters":
            return self._json(200, self.models.listing())
        self._json(404, _error(f"no such endpoint: GET {self.path}"))

    def do_POST(self):
        try:
            body = self._body()
            if self.path == "/lora-adapters":
                return self._json(200, self.models.change(body))
            kind = {"/v1/chat/completions": "chat", "/v1/completions": "text"}.get(self.path)
            if kind is None:
                raise RequestError(404, f"no such endpoint: POST {self.path}")
            if not isinstance(body, dict):
                raise RequestError(400, "send a JSON object")
            chunks = self.models.generate(kind, body)
            try:
                first = next(chunks)  # errors before any output become an error response
                if not body.get("stream"):
                    return self._json(200, first)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self._event(first)
                for chunk in chunks:
                    self._event(chunk)
                self._chunk(b"data: [DONE]\n\n")
                self._chunk(b"")
            except OSError:
                pass  # the client went away
            finally:
                chunks.close()  # stops generating and frees the lock
        except RequestError as exc:
            self._json(exc.status, _error(str(exc)))

    def do_DELETE(self):
        prefix = "/lora-adapters/"
        if not self.path.startswith(prefix):
            return self._json(404, _error(f"no such endpoint: DELETE {self.path}"))
        try:
            self._json(200, self.models.remove(self.path[len(prefix):]))
        except RequestError as exc:
            self._json(exc.status, _error(str(exc)))

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            raise RequestError(400, "the body is not JSON") from None

    def _event(self, chunk) -> None:
        self._chunk(b"data: " + json.dumps(chunk).encode() + b"\n\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _json(self, status: int, value) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _error(message: str) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error"}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmesh.agent.serving.loraserver", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="The base model's GGUF.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--n_ctx", type=int, default=2048)
    parser.add_argument("--n_threads", type=int, default=None)
    parser.add_argument("--state", required=True, help="JSON list of {name, path, scale}: what to serve.")
    args = parser.parse_args(argv)
    try:
        models = Models(args.model, args.n_ctx, args.n_threads, Path(args.state))
    except (RequestError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    Handler.models = models
    if ":" in args.host:
        ThreadingHTTPServer.address_family = socket.AF_INET6
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    print(f"serving {', '.join(models.served) or '(nothing yet)'} on {args.host}:{args.port}", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
