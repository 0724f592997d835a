"""One file of a Hugging Face repo fetched by HTTP Range from its resolve URL, and the HF cache
layout it is then placed in.

Pieces come from ``{HF_ENDPOINT}/{repo}/resolve/{commit}/{path}`` with a Range header, so the
store's resumable piece fetch (agent/hubs/fetch.py, the one OCI pulls use) works for the Hub too:
verified pieces survive an agent restart, and a bad piece is found and fetched again alone,
which huggingface_hub's own ``.incomplete`` files do not do. The Hub answers an LFS file (Xet
or not) with a redirect to its CDN, a signed URL on another host: it is followed without the
token, which goes to the Hub's own host only, and reused for the next pieces until it fails.
"""
from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

from llmesh.agent.hubs.fetch import link_or_copy
from llmesh.common.errors import (
    FailedPrecondition,
    MeshError,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
)
from llmesh.common.files import atomic_write, fsync_dir

MAX_REDIRECTS = 5
TIMEOUT_S = 60.0
REDIRECTS = (301, 302, 303, 307, 308)


class HubFileSource:
    """Byte ranges of one file of ``repo`` at ``commit`` (what RegistryBlobFetch reads pieces from)."""

    def __init__(self, endpoint: str, repo: str, commit: str, path: str, token: str | None, name: str):
        self.url = f"{endpoint.rstrip('/')}/{repo}/resolve/{commit}/{urllib.parse.quote(path)}"
        self.hub_host = urllib.parse.urlsplit(endpoint).netloc
        self.token = token
        self.name = name  # in error lines: the ref and the file
        self._location = ""  # the CDN's signed URL the last redirect gave

    def blob_range(self, digest: str, start: int, length: int) -> bytes:
        if self._location:
            try:
                return self._get(self._location, start, length)
            except MeshError:  # a signed URL expires: ask the Hub for a fresh one
                self._location = ""
        return self._get(self.url, start, length)

    def whole(self, size: int) -> bytes:
        return self._get(self.url, 0, size) if size else b""

    def _headers(self, url: str, start: int, length: int) -> dict:
        from huggingface_hub.utils import build_hf_headers

        same_host = urllib.parse.urlsplit(url).netloc == self.hub_host
        # To the Hub: this agent's token, else huggingface_hub's own (None: HF_TOKEN, its token
        # file); to a CDN on another host: none (False), its signed URL is the credential.
        headers = dict(build_hf_headers(token=(self.token or None) if same_host else False))
        if not same_host:
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        headers["Range"] = f"bytes={start}-{start + length - 1}"
        headers["Accept-Encoding"] = "identity"  # byte offsets of the file, not of a compressed body
        return headers

    def _get(self, url: str, start: int, length: int) -> bytes:
        import httpx2  # huggingface_hub's HTTP client (its proxies and certificates)
        from huggingface_hub.utils import get_session

        for _ in range(MAX_REDIRECTS + 1):
            try:
                with get_session().stream("GET", url, headers=self._headers(url, start, length),
                                          follow_redirects=False, timeout=TIMEOUT_S) as resp:
                    if resp.status_code in REDIRECTS and resp.headers.get("location"):
                        target = urllib.parse.urljoin(url, resp.headers["location"])
                        if urllib.parse.urlsplit(target).netloc != self.hub_host:
                            self._location = target
                        url = target
                        continue
                    if resp.status_code not in (200, 206):
                        resp.read()
                        raise self._error(resp.status_code, resp.headers.get("x-error-message", ""))
                    if resp.status_code == 200 and start:
                        raise FailedPrecondition(f"{self.name}: the Hub does not serve byte ranges of it")
                    body = bytearray()
                    for chunk in resp.iter_bytes():
                        body += chunk
                        if len(body) >= length:
                            break
            except (httpx2.HTTPError, OSError) as exc:
                raise Unavailable(f"{self.name}: connection failed ({type(exc).__name__}: "
                                  f"{' '.join(str(exc).split())[:200] or 'dropped'})") from None
            if len(body) < length:
                raise Unavailable(f"{self.name}: the connection ended {length - len(body)} bytes short of a piece")
            return bytes(body[:length])
        raise Unavailable(f"{self.name}: too many redirects")

    def _error(self, status: int, message: str) -> MeshError:
        detail = f": {' '.join(message.split())[:200]}" if message else ""
        if status in (401, 403):
            return PermissionDenied(f"{self.name}: the Hub refused access ({status}){detail}; give this agent a "
                                    "token (`meshctl hub login hf --host HOST`, or HF_TOKEN in its environment)")
        if status == 404:
            return NotFound(f"{self.name}: not found on the Hub (404){detail}")
        if status == 416:
            return FailedPrecondition(f"{self.name}: the Hub refused a byte range (416)")
        if status == 429:
            return ResourceExhausted(f"{self.name}: the Hub is rate-limiting this host (429); try again later")
        return Unavailable(f"{self.name}: the Hub answered HTTP {status}{detail}")


def repo_cache_dir(cache: str | os.PathLike, repo: str) -> Path:
    """HF_HUB_CACHE/models--ORG--REPO, as huggingface_hub names a model repo's folder."""
    return Path(cache) / ("models--" + repo.replace("/", "--"))


def place_in_hf_cache(storage: Path, commit: str, rel: str, blob: Path, etag: str) -> Path:
    """``blob`` as huggingface_hub keeps a file: blobs/ETAG (the sha256 of an LFS file, the git blob
    id of a small one; a hard link to the store's verified blob, else a copy) and the relative
    symlink snapshots/COMMIT/REL -> blobs/ETAG (a copy where symlinks are refused, as
    huggingface_hub does on Windows without developer mode)."""
    target = storage / "blobs" / etag
    target.parent.mkdir(parents=True, exist_ok=True)
    if not (target.exists() and target.stat().st_size == blob.stat().st_size):
        link_or_copy(blob, target)
        fsync_dir(target.parent)
    pointer = storage / "snapshots" / commit / rel
    pointer.parent.mkdir(parents=True, exist_ok=True)
    if pointer.is_symlink() or pointer.exists():
        pointer.unlink()
    try:
        os.symlink(os.path.relpath(target, pointer.parent), pointer)
    except OSError:
        link_or_copy(target, pointer)
    return pointer


def write_small_blob(storage: Path, etag: str, data: bytes) -> Path:
    """A small (non-LFS) file's verified bytes as blobs/ETAG of the repo's cache folder."""
    target = storage / "blobs" / etag
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, data)
    return target


def record_revision(storage: Path, revision: str, commit: str) -> None:
    """refs/REVISION -> COMMIT, as a fetch by branch leaves it, so a plain
    snapshot_download(revision=…, local_files_only=True) finds the snapshot."""
    if revision and revision != commit:
        refs = storage / "refs" / revision
        refs.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(refs, commit)


