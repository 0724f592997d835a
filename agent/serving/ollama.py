"""Deploying to Ollama through its HTTP API (no `ollama` command, no shared disk needed).

    client = OllamaClient("http://127.0.0.1:11434")
    deploy_to_ollama(client, "model.Q4_K_M.gguf", digest, "oracle-farore",
                     template=..., parameters={"temperature": 0.7, "stop": ["</s>"]})

Deploying uploads each file as a blob (`HEAD /api/blobs/:digest` first: blobs Ollama already
holds are skipped; `POST /api/blobs/:digest` streams the file, and Ollama checks the digest),
then `POST /api/create` names the model from those digests with `files`, `adapters`, `template`,
`system` and `parameters`. The equivalent Modelfile is written next to the model as
`<name>.Modelfile`, so a person can run `ollama create NAME -f NAME.Modelfile` by hand and get
the same model.
"""
from __future__ import annotations

import http.client
import json
from pathlib import Path
from urllib.parse import quote, urlsplit

from llmesh.common.errors import FailedPrecondition, InvalidArgument, MeshError, NotFound, Unavailable
from llmesh.common.files import atomic_write
from llmesh.common.hashing import hash_file, is_digest

DEFAULT_URL = "http://127.0.0.1:11434"
UPLOAD_CHUNK = 4 * 1024 * 1024


class OllamaError(MeshError):
    code = "FAILED_PRECONDITION"


class OllamaClient:
    """A small client for the parts of the Ollama API llmesh uses (stdlib http.client)."""

    def __init__(self, base_url: str = DEFAULT_URL, timeout_s: float = 600.0):
        parts = urlsplit(base_url if "//" in base_url else "http://" + base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidArgument(f"not an Ollama URL: {base_url!r}")
        self.base_url = f"{parts.scheme}://{parts.netloc}"
        self._parts = parts
        self.timeout_s = timeout_s

    # -- blobs ------------------------------------------------------------------------------------

    def has_blob(self, digest: str) -> bool:
        """HEAD /api/blobs/:digest: 200 if Ollama holds the blob, 404 if not."""
        status, _ = self._request("HEAD", _blob_path(digest))
        if status in (200, 404):
            return status == 200
        raise self._error(status, b"", f"HEAD blob {digest}")

    def push_blob(self, path, digest: str) -> None:
        """POST /api/blobs/:digest with the file's bytes, streamed; Ollama answers 201 Created,
        or 400 when the bytes do not hash to the digest."""
        path = Path(path)
        size = path.stat().st_size
        conn = self._connection()
        try:
            conn.putrequest("POST", _blob_path(digest))
            conn.putheader("Content-Length", str(size))
            conn.putheader("Content-Type", "application/octet-stream")
            conn.endheaders()
            with open(path, "rb") as f:
                while chunk := f.read(UPLOAD_CHUNK):
                    conn.send(chunk)
            response = conn.getresponse()
            body = response.read()
        except OSError as exc:
            raise Unavailable(f"Ollama at {self.base_url} is unreachable: {exc}") from None
        finally:
            conn.close()
        if response.status not in (200, 201):
            raise self._error(response.status, body, f"upload of {path.name}")

    # -- models -----------------------------------------------------------------------------------

    def create(self, name: str, files: dict[str, str], adapters: dict[str, str] | None = None,
               template: str | None = None, parameters: dict | None = None,
               system: str | None = None, progress=None) -> list[str]:
        """POST /api/create from uploaded blobs ({filename: digest}); returns the status lines.

        `progress(status)` is called for each streamed status line; an `error` line raises.
        """
        body = {"model": name, "files": files, "stream": True}
        optional = {"adapters": adapters, "template": template, "parameters": parameters,
                    "system": system}
        body.update({k: v for k, v in optional.items() if v})
        statuses = []
        for message in self._stream("POST", "/api/create", body, f"create {name}"):
            if "error" in message:
                raise OllamaError(f"Ollama could not create {name}: {message['error']}")
            statuses.append(message.get("status", ""))
            if progress:
                progress(message.get("status", ""))
        if not statuses or statuses[-1] != "success":
            raise OllamaError(f"Ollama did not finish creating {name} "
                              f"(last status: {statuses[-1] if statuses else 'none'})")
        return statuses

    def list_models(self) -> list[dict]:
        """GET /api/tags: the local models ({name, model, size, digest, details, ...})."""
        return self._json("GET", "/api/tags", None, "list models").get("models", [])

    def loaded(self) -> list[dict]:
        """GET /api/ps: the models Ollama holds in memory now, as OllamaLoaded fields."""
        return [{"name": m.get("name") or m.get("model") or "", "digest": m.get("digest") or "",
                 "size_bytes": int(m.get("size") or 0), "vram_bytes": int(m.get("size_vram") or 0),
                 "expires_at": m.get("expires_at") or ""}
                for m in self._json("GET", "/api/ps", None, "list loaded models").get("models", [])]

    def delete(self, name: str) -> None:
        """DELETE /api/delete; NotFound if Ollama has no such model."""
        status, body = self._request("DELETE", "/api/delete", {"model": name})
        if status == 404:
            raise NotFound(f"Ollama has no model {name!r}")
        if status != 200:
            raise self._error(status, body, f"delete {name}")

    def generate(self, name: str, prompt: str, *, options: dict | None = None,
                 system: str | None = None) -> dict:
        """POST /api/generate with stream=false: {response, done, eval_count, ...}."""
        body = {"model": name, "prompt": prompt, "stream": False}
        body.update({k: v for k, v in (("options", options), ("system", system)) if v})
        return self._json("POST", "/api/generate", body, f"generate with {name}")

    # -- transport --------------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._parts.scheme == "https" else \
            http.client.HTTPConnection
        return cls(self._parts.hostname, self._parts.port, timeout=self.timeout_s)

    def _request(self, method: str, path: str, body=None) -> tuple[int, bytes]:
        conn = self._connection()
        try:
            data = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, path, data, headers)
            response = conn.getresponse()
            return response.status, response.read()
        except OSError as exc:
            raise Unavailable(f"Ollama at {self.base_url} is unreachable: {exc}") from None
        finally:
            conn.close()

    def _json(self, method: str, path: str, body, what: str) -> dict:
        status, data = self._request(method, path, body)
        if status != 200:
            raise self._error(status, data, what)
        return json.loads(data or b"{}")

    def _stream(self, method: str, path: str, body, what: str):
        conn = self._connection()
        try:
            conn.request(method, path, json.dumps(body).encode(),
                         {"Content-Type": "application/json"})
            response = conn.getresponse()
            if response.status != 200:
                raise self._error(response.status, response.read(), what)
            for line in response:
                if line.strip():
                    yield json.loads(line)
        except OSError as exc:
            raise Unavailable(f"Ollama at {self.base_url} is unreachable: {exc}") from None
        finally:
            conn.close()

    def _error(self, status: int, body: bytes, what: str) -> MeshError:
        try:
            detail = json.loads(body).get("error") or ""
        except (ValueError, AttributeError):
            detail = body.decode(errors="replace").strip()[:200]
        cls = NotFound if status == 404 else OllamaError
        return cls(f"Ollama refused {what} ({status}){': ' + detail if detail else ''}")


def _blob_path(digest: str) -> str:
    if not is_digest(digest):
        raise InvalidArgument(f"not a sha256 digest: {digest!r}")
    return "/api/blobs/" + quote(digest, safe=":")


# -- deployment ---------------------------------------------------------------------------------

def deploy_to_ollama(client: OllamaClient, gguf_path, digest: str | None, served_name: str,
                     template: str | None = None, parameters: dict | None = None,
                     adapter=None, *, system: str | None = None, modelfile_path=None,
                     progress=None) -> dict:
    """Upload what Ollama lacks, create `served_name`, write the equivalent Modelfile.

    adapter: None, a GGUF LoRA path, or (path, digest). Digests left as None are computed.
    Returns {model, uploaded: [digests], skipped: [digests], modelfile, statuses}.
    """
    model = _blob_source(gguf_path, digest)
    adapters = [_blob_source(*adapter) if isinstance(adapter, tuple) else
                _blob_source(adapter, None)] if adapter else []
    uploaded, skipped = [], []
    for path, blob in [model] + adapters:
        if client.has_blob(blob):
            skipped.append(blob)
            continue
        client.push_blob(path, blob)
        uploaded.append(blob)
    modelfile = write_modelfile(Path(modelfile_path) if modelfile_path else
                                model[0].parent / modelfile_name(served_name), model[0],
                                adapter=adapters[0][0] if adapters else None,
                                template=template, parameters=parameters, system=system)
    statuses = client.create(served_name, {model[0].name: model[1]},
                             adapters={p.name: d for p, d in adapters} or None,
                             template=template, parameters=parameters, system=system,
                             progress=progress)
    return {"model": served_name, "uploaded": uploaded, "skipped": skipped,
            "modelfile": str(modelfile), "statuses": statuses}


def modelfile_name(served_name: str) -> str:
    """`<name>.Modelfile`: one per served name, since one GGUF can be deployed several times
    (e.g. with different adapters) and each deployment keeps its own recipe."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in served_name)
    return f"{safe}.Modelfile"


def _blob_source(path, digest: str | None) -> tuple[Path, str]:
    path = Path(path)
    if not path.is_file():
        raise FailedPrecondition(f"{path} does not exist on this host")
    if digest is None:
        _, digest = hash_file(path)
    elif not is_digest(digest):
        raise InvalidArgument(f"not a sha256 digest: {digest!r}")
    return path, digest


def modelfile_text(model: Path, *, adapter: Path | None = None, template: str | None = None,
                   parameters: dict | None = None, system: str | None = None,
                   relative_to: Path | None = None) -> str:
    """The Modelfile that `ollama create -f` turns into the same model as deploy_to_ollama."""
    def ref(p: Path) -> str:
        # Files beside the Modelfile are named relatively (the folder can move); others fully.
        if relative_to is not None and Path(p).resolve().parent == Path(relative_to).resolve():
            return "./" + Path(p).name
        return str(p)

    lines = [f"FROM {ref(model)}"]
    if adapter:
        lines.append(f"ADAPTER {ref(adapter)}")
    if template:
        lines.append(f'TEMPLATE """{template}"""')
    if system:
        lines.append(f'SYSTEM """{system}"""')
    for key, value in (parameters or {}).items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            lines.append(f"PARAMETER {key} {_parameter_value(item)}")
    return "\n".join(lines) + "\n"


def _parameter_value(value) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_modelfile(path: Path, model: Path, **fields) -> Path:
    text = modelfile_text(model, relative_to=path.parent, **fields)
    atomic_write(path, text)
    return path
