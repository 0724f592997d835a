"""A client of the OCI distribution protocol (Docker registry v2, Ollama's registry).

Manifests by tag or digest (OCI, Docker schema 2, Ollama's media types), blobs by digest with
HTTP Range, uploads (POST then a monolithic PUT, skipping blobs the registry already has) and
the token dance a registry asks for (``WWW-Authenticate: Bearer realm=…,service=…,scope=…``
answered from the realm, with Basic credentials when the agent holds some). Every failure is
one MeshError line: 401/403, 404 (unknown repository, tag or blob), 429, a dropped connection.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import socket
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from llmesh.common.errors import (
    FailedPrecondition,
    InvalidArgument,
    MeshError,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from llmesh.common.hashing import format_digest, is_digest
from llmesh.common.refs import HubRef

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
# Ollama's layer media types (a model, its template, parameters, system prompt, licence, adapter).
OLLAMA_MODEL = "application/vnd.ollama.image.model"
OLLAMA_TEMPLATE = "application/vnd.ollama.image.template"
OLLAMA_PARAMS = "application/vnd.ollama.image.params"
OLLAMA_SYSTEM = "application/vnd.ollama.image.system"
OLLAMA_LICENSE = "application/vnd.ollama.image.license"
OLLAMA_ADAPTER = "application/vnd.ollama.image.adapter"
ACCEPT = ", ".join((DOCKER_MANIFEST, OCI_MANIFEST))
TIMEOUT_S = 60.0
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_REDIRECTS = 5
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Manifest:
    raw: bytes          # the bytes as served: their sha256 is the manifest's digest
    digest: str
    media_type: str
    config: dict        # {"mediaType", "digest", "size"}
    layers: list        # [{"mediaType", "digest", "size", …}]

    @property
    def blobs(self) -> list[dict]:
        """Every blob the manifest names, the config first, each digest once."""
        seen, out = set(), []
        for b in [self.config, *self.layers]:
            if b and b["digest"] not in seen:
                seen.add(b["digest"])
                out.append(b)
        return out


def parse_manifest(raw: bytes, expected_digest: str = "") -> Manifest:
    digest = format_digest(hashlib.sha256(raw).hexdigest())
    if expected_digest and expected_digest != digest:
        raise FailedPrecondition(f"manifest bytes do not match their digest {expected_digest}")
    try:
        doc = json.loads(raw)
        config = doc.get("config") or {}
        layers = list(doc.get("layers") or [])
        for b in [config, *layers]:
            if not is_digest(b.get("digest", "")) or not isinstance(b.get("size"), int) or b["size"] < 0:
                raise ValueError(b)
    except (ValueError, AttributeError, TypeError):
        raise FailedPrecondition("the registry's manifest is not an image manifest this agent reads "
                                 "(schema 2 / OCI with sha256 digests)") from None
    return Manifest(raw, digest, doc.get("mediaType") or DOCKER_MANIFEST, config, layers)


class Registry:
    """One registry repository (``ref.registry``/``ref.repository``), spoken to over HTTP(S)."""

    def __init__(self, ref: HubRef, *, username: str = "", password: str = "", timeout_s: float = TIMEOUT_S):
        if ref.kind != "oci":
            raise InvalidArgument(f"{ref} is not a registry reference")
        self.ref = ref
        self.timeout_s = timeout_s
        self._basic = base64.b64encode(f"{username}:{password}".encode()).decode() if username else ""
        self._token = ""
        self.requests = 0

    @property
    def name(self) -> str:
        return self.ref.registry

    # -- reading ----------------------------------------------------------------------------

    def manifest(self, reference: str = "") -> Manifest:
        reference = reference or self.ref.tag
        status, headers, body = self._request("GET", f"manifests/{reference}", headers={"Accept": ACCEPT},
                                              limit=MAX_MANIFEST_BYTES)
        expected = reference if is_digest(reference) else ""
        manifest = parse_manifest(body, expected)
        served = headers.get("docker-content-digest", "")
        if served and served != manifest.digest:
            raise FailedPrecondition(f"{self.ref}: manifest bytes do not match the digest the registry sent")
        return manifest

    def blob_range(self, digest: str, start: int, length: int) -> bytes:
        """``length`` bytes of a blob from ``start`` (the registry may redirect to storage)."""
        headers = {"Range": f"bytes={start}-{start + length - 1}"}
        status, _, body = self._request("GET", f"blobs/{digest}", headers=headers, limit=length)
        if status == 200 and start == 0 and len(body) >= length:
            body = body[:length]  # a registry that ignores Range: the piece is the head
        elif status == 200 and start:
            raise FailedPrecondition(f"{self.ref.registry} does not serve byte ranges of blobs")
        if len(body) != length:
            raise Unavailable(f"{self.ref.registry} sent {len(body)} bytes of {digest[:19]}… "
                              f"at {start}, expected {length}")
        return body

    def has_blob(self, digest: str) -> bool:
        status, _, _ = self._request("HEAD", f"blobs/{digest}", ok=(200, 404))
        return status == 200

    # -- writing ----------------------------------------------------------------------------

    def push_blob(self, digest: str, data: "bytes | Path") -> bool:
        """Upload a blob (bytes, or a file streamed from disk) unless the registry has it; True
        if bytes were sent."""
        if self.has_blob(digest):
            return False
        _, headers, _ = self._request("POST", "blobs/uploads/", ok=(202,), body=b"")
        location = headers.get("location", "")
        if not location:
            raise FailedPrecondition(f"{self.ref.registry} gave no upload location")
        sep = "&" if "?" in location else "?"
        self._request("PUT", location + sep + urllib.parse.urlencode({"digest": digest}), ok=(201, 204),
                      body=data, headers={"Content-Type": "application/octet-stream"})
        return True

    def push_manifest(self, raw: bytes, media_type: str = DOCKER_MANIFEST, reference: str = "") -> str:
        self._request("PUT", f"manifests/{reference or self.ref.tag}", ok=(201, 204), body=raw,
                      headers={"Content-Type": media_type})
        return format_digest(hashlib.sha256(raw).hexdigest())

    # -- HTTP -------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        if path.startswith("/"):
            return self.ref.base_url + path
        return f"{self.ref.base_url}/v2/{self.ref.repository}/{path}"

    def _request(self, method: str, path: str, *, headers=None, body: bytes | None = None,
                 ok=(200, 206), limit: int = MAX_MANIFEST_BYTES):
        url = self._url(path)
        for attempt in range(2):  # the second try answers an auth challenge
            status, resp_headers, data, url_final = self._send(method, url, headers or {}, body, limit)
            if status == 401 and attempt == 0 and self._answer_challenge(resp_headers.get("www-authenticate", "")):
                continue
            break
        if status in ok:
            return status, resp_headers, data
        raise self._error(status, method, path, data)

    def _send(self, method: str, url: str, headers: dict, body, limit: int):
        for _ in range(MAX_REDIRECTS + 1):
            parts = urllib.parse.urlsplit(url)
            conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
            conn = conn_cls(parts.netloc, timeout=self.timeout_s)
            sent = dict(headers)
            if self._token:
                sent["Authorization"] = f"Bearer {self._token}"
            elif self._basic:
                sent["Authorization"] = f"Basic {self._basic}"
            stream = None
            try:
                self.requests += 1
                if isinstance(body, Path):  # streamed, opened anew for each try
                    stream = open(body, "rb")
                    sent["Content-Length"] = str(os.fstat(stream.fileno()).st_size)
                conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""),
                             body=stream or body, headers=sent)
                resp = conn.getresponse()
                data = b"" if method == "HEAD" else resp.read(limit + 1)
                resp_headers = {k.lower(): v for k, v in resp.getheaders()}
            except (OSError, http.client.HTTPException, socket.timeout) as e:
                raise Unavailable(f"{self.ref.registry}: connection failed ({type(e).__name__}: "
                                  f"{e or 'dropped'})") from None
            finally:
                conn.close()
                if stream is not None:
                    stream.close()
            if resp.status in (301, 302, 303, 307, 308) and "location" in resp_headers:
                target = urllib.parse.urljoin(url, resp_headers["location"])
                if urllib.parse.urlsplit(target).netloc != parts.netloc:
                    headers = {k: v for k, v in headers.items() if k != "Authorization"}
                    token, self._token, basic, self._basic = self._token, "", self._basic, ""
                    try:  # storage redirects carry their own signature: no registry token there
                        return self._send(method, target, headers, body, limit)
                    finally:
                        self._token, self._basic = token, basic
                url = target
                continue
            if len(data) > limit:
                raise FailedPrecondition(f"{self.ref.registry} sent more than {limit} bytes")
            return resp.status, resp_headers, data, url
        raise Unavailable(f"{self.ref.registry}: too many redirects")

    def _answer_challenge(self, challenge: str) -> bool:
        scheme, _, rest = challenge.partition(" ")
        if scheme.lower() == "basic":
            return bool(self._basic) and not self._token
        if scheme.lower() != "bearer":
            return False
        params = dict(_CHALLENGE_PARAM.findall(rest))
        realm = params.pop("realm", "")
        if not realm.startswith(("http://", "https://")):
            return False
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(params)
        token, self._token = self._token, ""
        status, _, data, _ = self._send("GET", url, {}, None, MAX_MANIFEST_BYTES)
        if status != 200:
            self._token = token
            raise self._error(status, "GET", "token", data)
        try:
            doc = json.loads(data)
            self._token = doc.get("token") or doc.get("access_token") or ""
        except ValueError:
            self._token = ""
        return bool(self._token)

    def _error(self, status: int, method: str, path: str, data: bytes) -> MeshError:
        what = f"{self.ref}"
        detail = _registry_message(data)
        if status == 401:
            return Unauthenticated(f"{what}: the registry wants credentials (401){detail}; "
                                   f"store one on the agent with `meshctl hub login`")
        if status == 403:
            return PermissionDenied(f"{what}: the registry refused access (403){detail}")
        if status == 404:
            kind = "tag or repository" if "manifests/" in path else "blob"
            return NotFound(f"{what}: unknown {kind} on {self.ref.registry} (404){detail}")
        if status == 429:
            return ResourceExhausted(f"{what}: the registry is rate-limiting this host (429); try again later")
        if status == 416:
            return FailedPrecondition(f"{what}: the registry refused a byte range (416)")
        return Unavailable(f"{what}: {method} {path.split('?')[0][:80]} answered HTTP {status}{detail}")


def _registry_message(data: bytes) -> str:
    """The first error message of a registry's JSON error body, if any."""
    try:
        errors = json.loads(data).get("errors") or []
        message = errors[0].get("message", "") if errors else ""
    except (ValueError, AttributeError, TypeError):
        return ""
    return f": {' '.join(str(message).split())[:200]}" if message else ""
