"""A STAND-IN for the Ollama daemon, for tests: the Ollama server cannot be installed here.

It implements only the endpoints llmesh uses, as Ollama's API documentation describes them:

    HEAD   /api/blobs/:digest   200 if the blob is held, 404 if not
    POST   /api/blobs/:digest   201 Created; 400 when the body's sha256 is not the digest
    POST   /api/create          {model, files, adapters?, template?, system?, parameters?, stream?}
                                every referenced blob must exist (400 otherwise); streams
                                newline-delimited {"status": ...} ending in {"status": "success"}
    GET    /api/tags            {"models": [{name, model, modified_at, size, digest, details}]}
    GET    /api/ps              {"models": [{name, model, size, digest, expires_at, size_vram}]}: what a
                                test put in `loaded` (nothing is really loaded)
    DELETE /api/delete          {model}: 200, or 404 if unknown
    POST   /api/generate        {model, prompt, stream: false}: a CANNED response (no inference)

It records every request (`requests`) so tests can count uploads. Nothing here runs a model.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CANNED_RESPONSE = "(stand-in Ollama: canned response, no model was run)"


class OllamaStandIn:
    """Runs on 127.0.0.1:<free port> in a thread; use as a context manager."""

    def __init__(self):
        self.blobs: dict[str, bytes] = {}
        self.models: dict[str, dict] = {}
        self.loaded: dict[str, dict] = {}  # name -> {size, size_vram}: what GET /api/ps reports
        self.requests: list[tuple[str, str]] = []   # (method, path)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def count(self, method: str, prefix: str) -> int:
        return sum(1 for m, p in self.requests if m == method and p.startswith(prefix))

    def __enter__(self) -> "OllamaStandIn":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _handler_for(state: OllamaStandIn):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet in test output
            pass

        def _record(self) -> None:
            with state._lock:
                state.requests.append((self.command, self.path))

        def _send_json(self, status: int, payload, content_type="application/json") -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _json_body(self):
            try:
                return json.loads(self._body() or b"{}")
            except ValueError:
                return None

        def _blob_digest(self) -> str | None:
            if not self.path.startswith("/api/blobs/"):
                return None
            return self.path[len("/api/blobs/"):]

        def do_HEAD(self):
            self._record()
            digest = self._blob_digest()
            status = 200 if digest in state.blobs else 404
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            self._record()
            if self.path == "/api/ps":
                return self._send_json(200, {"models": [
                    {"name": n, "model": n, "size": m["size"], "size_vram": m["size_vram"],
                     "digest": m.get("digest", ""), "expires_at": "2099-01-01T00:00:00Z",
                     "details": {"format": "gguf"}} for n, m in sorted(state.loaded.items())]})
            if self.path != "/api/tags":
                return self._send_json(404, {"error": "not found"})
            self._send_json(200, {"models": [
                {"name": n, "model": n, "modified_at": m["modified_at"], "size": m["size"],
                 "digest": m["digest"], "details": {"format": "gguf"}}
                for n, m in sorted(state.models.items())]})

        def do_DELETE(self):
            self._record()
            body = self._json_body() or {}
            name = _qualified(body.get("model") or "")
            if self.path != "/api/delete" or name not in state.models:
                return self._send_json(404, {"error": f"model '{body.get('model')}' not found"})
            del state.models[name]
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):
            self._record()
            digest = self._blob_digest()
            if digest is not None:
                return self._upload(digest)
            body = self._json_body()
            if body is None:
                return self._send_json(400, {"error": "invalid JSON"})
            if self.path == "/api/create":
                return self._create(body)
            if self.path == "/api/generate":
                return self._generate(body)
            self._send_json(404, {"error": "not found"})

        def _upload(self, digest: str):
            data = self._body()
            actual = "sha256:" + hashlib.sha256(data).hexdigest()
            if actual != digest:
                return self._send_json(400, {"error": "digest mismatch"})
            state.blobs[digest] = data
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _create(self, body: dict):
            name = body.get("model")
            files = body.get("files") or {}
            adapters = body.get("adapters") or {}
            if not name or not files:
                return self._send_json(400, {"error": "neither 'from' nor 'files' was specified"
                                             if not files else "model name is required"})
            for digest in list(files.values()) + list(adapters.values()):
                if digest not in state.blobs:
                    return self._send_json(400, {"error": f"blob {digest} not found"})
            if any(not state.blobs[d].startswith(b"GGUF") for d in files.values()):
                return self._send_json(400, {"error": "invalid file magic"})
            layers = list(files.values()) + list(adapters.values())
            state.models[_qualified(name)] = {
                "files": files, "adapters": adapters, "template": body.get("template"),
                "system": body.get("system"), "parameters": body.get("parameters"),
                "size": sum(len(state.blobs[d]) for d in layers),
                "digest": hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest(),
                "modified_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            statuses = [{"status": "parsing GGUF"}]
            statuses += [{"status": f"using existing layer {d}"} for d in layers]
            statuses += [{"status": "writing manifest"}, {"status": "success"}]
            if body.get("stream") is False:
                return self._send_json(200, statuses[-1])
            data = b"".join(json.dumps(s).encode() + b"\n" for s in statuses)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _generate(self, body: dict):
            name = _qualified(body.get("model") or "")
            if name not in state.models:
                return self._send_json(404, {"error": f"model '{body.get('model')}' not found"})
            self._send_json(200, {"model": body["model"], "created_at": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "response": CANNED_RESPONSE, "done": True,
                "done_reason": "stop", "eval_count": len(CANNED_RESPONSE.split())})

    return Handler


def _qualified(name: str) -> str:
    # Ollama treats "name" and "name:latest" as the same model.
    return name if ":" in name else name + ":latest"
