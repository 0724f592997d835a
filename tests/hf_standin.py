"""A STAND-IN for the Hugging Face Hub (the live Hub cannot be reached from the tests): a small
HTTP server speaking the endpoints huggingface_hub calls, with the headers it reads, as the real
Hub sends them (learnt from huggingface_hub's file_download.py, hf_api.py and utils/_http.py):

- GET  /api/models/ORG/REPO/revision/REV   the repo at a revision: {"id", "sha", "siblings"}
- GET  /api/models/ORG/REPO/tree/REV       files with size, git blob "oid", "lfs": {"oid" (sha256), "size"}
- HEAD|GET /ORG/REPO/resolve/REV/FILE      X-Repo-Commit, ETag; an LFS file answers 302 with Location on
                                           another origin (a CDN) plus X-Linked-Etag and X-Linked-Size
- GET  /lfs/SHA256                         the LFS bytes (on "localhost", the other origin)
- errors with X-Error-Code: RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo

and the upload side, as HfApi.create_repo / create_commit call it without Xet (HF_HUB_DISABLE_XET=1;
learnt from huggingface_hub's hf_api.py, _commit_api.py and lfs.py), for the tokens in ``writers``
(no Authorization: 401; another token: 403):

- POST /api/repos/create                    {"name", "organization"} -> {"url"}; 409 if it exists
- POST /api/models/ORG/REPO/preupload/REV   {"files": [{path, sample, size}]} -> uploadMode lfs|regular,
                                            the oid the repo already has for that path (unchanged files skip)
- POST /ORG/REPO.git/info/lfs/objects/batch  git-lfs batch API: "basic" upload + verify actions, none
                                            for an object the stand-in already holds
- PUT  /lfs-upload/SHA256                   the bytes, on "localhost" (as to a pre-signed S3 URL: no token),
                                            checked against the sha256; then POST /lfs-verify
- POST /api/models/ORG/REPO/commit/REV      NDJSON: header, file (base64), lfsFile (sha256 oid)
- POST /api/validate-yaml                   a README.md's card metadata (accepted)
- POST /api/models/ORG/REPO/branch/BRANCH   a branch from main; 409 if it exists

It counts the requests it serves so a test can say how many bytes came from "the Hub"
(``served``: method, path, Range, whether an Authorization header came with it), and has the
faults a test needs: ``delay_s`` before each ranged LFS answer (a slow link, so a test can kill
an agent mid-download) and ``corrupt`` ({"bytes=A-B": times, negative: always}: a flipped byte
in the LFS bytes served for that range, as a tampered CDN would send). A README.md's YAML front
matter is served as the repo's cardData, as the Hub does.
"""
from __future__ import annotations

import base64
import hashlib
import http.server
import json
import sys
import threading
import time
import urllib.parse

import yaml

LFS_SUFFIXES = (".gguf", ".safetensors", ".bin")


class HubStandIn:
    def __init__(self):
        self.repos: dict[str, dict] = {}   # repo id -> {"refs": {rev: commit}, "files": {commit: {path: bytes}}}
        self.gated: dict[str, str] = {}    # repo id -> the token it wants
        self.writers: set[str] = set()     # tokens allowed to create repos and commit
        self.uploaded: dict[str, bytes] = {}  # sha256 -> LFS bytes received, not yet in a commit
        self.lfs_bytes_received = 0
        self.requests: list[tuple[str, str]] = []
        self.lfs_bytes_served = 0
        self.served: list[tuple[str, str, str, bool]] = []  # (method, path, Range, sent Authorization)
        self.delay_s = 0.0
        self.corrupt: dict[str, int] = {}
        self.lock = threading.Lock()
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                hub.handle(self)

            do_HEAD = do_GET

            def do_POST(self):
                hub.handle_write(self)

            do_PUT = do_POST

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)
                # else a client gone mid-answer (an agent killed mid-download): what the tests do

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add_commit(self, repo: str, files: dict[str, bytes], revision: str = "main") -> str:
        commit = hashlib.sha1(repo.encode() + json.dumps(sorted((k, hashlib.sha256(v).hexdigest())
                                                                for k, v in files.items())).encode()).hexdigest()
        entry = self.repos.setdefault(repo, {"refs": {}, "files": {}})
        entry["refs"][revision] = commit
        entry["files"][commit] = dict(files)
        return commit

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- uploads -------------------------------------------------------------------------

    def handle_write(self, h) -> None:
        with self.lock:
            self.requests.append((h.command, h.path))
        body = _read_body(h)
        path = urllib.parse.unquote(urllib.parse.urlsplit(h.path).path)
        parts = path.strip("/").split("/")
        if parts[0] == "lfs-upload" and len(parts) == 2:  # a pre-signed URL on another origin (S3 on the Hub)
            if hashlib.sha256(body).hexdigest() != parts[1]:
                return self._error(h, 400, "", "the bytes do not match their sha256")
            with self.lock:
                self.uploaded[parts[1]] = body
                self.lfs_bytes_received += len(body)
            return self._reply(h, 200, {}, b"")
        token = h.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not token:
            return self._error(h, 401, "", "Invalid credentials in Authorization header")
        if token not in self.writers:
            return self._error(h, 403, "", "You don't have the rights to create a model under this namespace")
        if parts == ["api", "validate-yaml"]:  # a README.md in a commit: its card metadata, accepted
            return self._reply(h, 200, {"Content-Type": "application/json"}, b'{"warnings": [], "errors": []}')
        if parts == ["api", "repos", "create"]:
            ask = json.loads(body)
            repo = f"{ask.get('organization')}/{ask['name']}"
            if repo in self.repos:
                # as the Hub does: the error and the repo's url (create_repo(exist_ok=True) reads it)
                return self._reply(h, 409, {"Content-Type": "application/json"}, json.dumps(
                    {"error": "You already created this model repo", "url": f"{self.endpoint}/{repo}"}).encode())
            self.repos[repo] = {"refs": {}, "files": {}}
            return self._reply(h, 200, {"Content-Type": "application/json"},
                               json.dumps({"url": f"{self.endpoint}/{repo}", "name": repo}).encode())
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "branch":
            repo, branch = f"{parts[2]}/{parts[3]}", "/".join(parts[5:])
            if repo not in self.repos:
                return self._error(h, 404, "RepoNotFound", "Repository not found")
            refs = self.repos[repo]["refs"]
            if branch in refs:
                return self._error(h, 409, "", "Reference already exists")
            if "main" in refs:
                refs[branch] = refs["main"]
            else:  # a new repo's branch from its (here: empty) first commit
                self.add_commit(repo, {}, revision=branch)
            return self._reply(h, 200, {"Content-Type": "application/json"}, b"{}")
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] in ("preupload", "commit"):
            repo, rev = f"{parts[2]}/{parts[3]}", "/".join(parts[5:])
            if repo not in self.repos:
                return self._error(h, 404, "RepoNotFound", "Repository not found")
            entry = self.repos[repo]
            current = entry["files"].get(entry["refs"].get(rev, ""), {})
            if parts[4] == "preupload":
                files = []
                for f in json.loads(body)["files"]:
                    lfs = f["path"].endswith(LFS_SUFFIXES) or f["size"] > 10 * 1024 * 1024
                    have = current.get(f["path"])
                    oid = None if have is None else (hashlib.sha256(have).hexdigest() if lfs else _git_oid(have))
                    files.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular",
                                  "shouldIgnore": False, "oid": oid})
                return self._reply(h, 200, {"Content-Type": "application/json"}, json.dumps({"files": files}).encode())
            files = dict(current)
            for line in body.splitlines():
                item = json.loads(line)
                value = item["value"]
                if item["key"] == "file":
                    files[value["path"]] = base64.b64decode(value["content"])
                elif item["key"] == "lfsFile":
                    data = self.uploaded.get(value["oid"]) or self._held(value["oid"])
                    if data is None:
                        return self._error(h, 422, "", f"LFS object {value['oid']} was never uploaded")
                    files[value["path"]] = data
            commit = self.add_commit(repo, files, revision=rev)
            return self._reply(h, 200, {"Content-Type": "application/json"}, json.dumps(
                {"commitUrl": f"{self.endpoint}/{repo}/commit/{commit}", "commitOid": commit,
                 "success": True}).encode())
        if len(parts) == 6 and parts[1].endswith(".git") and parts[2:] == ["info", "lfs", "objects", "batch"]:
            objects = []
            for obj in json.loads(body)["objects"]:
                out = {"oid": obj["oid"], "size": obj["size"]}
                if obj["oid"] not in self.uploaded and self._held(obj["oid"]) is None:
                    out["actions"] = {"upload": {"href": f"http://localhost:{self.port}/lfs-upload/{obj['oid']}"},
                                      "verify": {"href": f"{self.endpoint}/lfs-verify"}}
                objects.append(out)
            return self._reply(h, 200, {"Content-Type": "application/vnd.git-lfs+json"},
                               json.dumps({"transfer": "basic", "objects": objects}).encode())
        if parts == ["lfs-verify"]:
            ask = json.loads(body)
            ok = len(self.uploaded.get(ask["oid"], b"")) == ask["size"]
            return self._reply(h, 200 if ok else 404, {"Content-Type": "application/json"}, b"{}")
        return self._error(h, 404, "", "not found")

    def _held(self, sha: str) -> bytes | None:
        for repo in self.repos.values():
            for files in repo["files"].values():
                for data in files.values():
                    if hashlib.sha256(data).hexdigest() == sha:
                        return data
        return None

    # -- serving -------------------------------------------------------------------------

    def handle(self, h) -> None:
        with self.lock:
            self.requests.append((h.command, h.path))
            self.served.append((h.command, h.path, h.headers.get("Range", ""), "Authorization" in h.headers))
        path = urllib.parse.unquote(urllib.parse.urlsplit(h.path).path)
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] in ("revision", "tree"):
            repo, kind, rev = f"{parts[2]}/{parts[3]}", parts[4], "/".join(parts[5:])
            commit = self._resolve(h, repo, rev)
            if commit is None:
                return
            files = self.repos[repo]["files"][commit]
            if kind == "revision":
                body = {"id": repo, "modelId": repo, "sha": commit, "private": False, "tags": [],
                        "siblings": [{"rfilename": p} for p in sorted(files)]}
                card = _card_data(files.get("README.md", b""))
                if card:
                    body["cardData"] = card
            else:
                body = [self._tree_entry(p, data) for p, data in sorted(files.items())]
            return self._reply(h, 200, {"Content-Type": "application/json"}, json.dumps(body).encode())
        if parts[0] == "lfs" and len(parts) == 2:
            for repo in self.repos.values():
                for files in repo["files"].values():
                    for data in files.values():
                        if hashlib.sha256(data).hexdigest() == parts[1]:
                            return self._serve_bytes(h, data)
            return self._reply(h, 404, {}, b"")
        if len(parts) >= 5 and parts[2] == "resolve":
            repo, rev, file = f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:])
            commit = self._resolve(h, repo, rev)
            if commit is None:
                return
            data = self.repos[repo]["files"][commit].get(file)
            if data is None:
                return self._error(h, 404, "EntryNotFound", f"{file} not found")
            headers = {"X-Repo-Commit": commit, "ETag": f'"{_git_oid(data)}"'}
            if file.endswith(LFS_SUFFIXES):  # LFS: a redirect to another origin, as to the Hub's CDN
                sha = hashlib.sha256(data).hexdigest()
                headers.update({"Location": f"http://localhost:{self.port}/lfs/{sha}", "X-Linked-Etag": f'"{sha}"',
                                "X-Linked-Size": str(len(data))})
                return self._reply(h, 302, headers, b"")
            return self._serve_bytes(h, data, headers)
        return self._error(h, 404, "RepoNotFound", "not found")

    def _resolve(self, h, repo: str, rev: str) -> str | None:
        if repo not in self.repos:
            self._error(h, 404, "RepoNotFound", "Repository not found")
            return None
        want = self.gated.get(repo)
        if want and h.headers.get("Authorization") != f"Bearer {want}":
            self._error(h, 401, "GatedRepo", "Access to this repo is restricted")
            return None
        refs = self.repos[repo]["refs"]
        commit = refs.get(rev) or (rev if rev in self.repos[repo]["files"] else None)
        if commit is None:
            self._error(h, 404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return commit

    @staticmethod
    def _tree_entry(path: str, data: bytes) -> dict:
        entry = {"type": "file", "path": path, "size": len(data), "oid": _git_oid(data)}
        if path.endswith(LFS_SUFFIXES):
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return entry

    def _serve_bytes(self, h, data: bytes, headers: dict | None = None) -> None:
        headers = dict(headers or {})
        status, body = 200, data
        rng = h.headers.get("Range", "")
        if rng.startswith("bytes="):
            start, _, end = rng[6:].partition("-")
            start, end = int(start), int(end) if end else len(data) - 1
            status, body = 206, data[start:end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        if h.command == "GET" and "/lfs/" in h.path:
            if self.delay_s and rng:
                time.sleep(self.delay_s)
            with self.lock:
                self.lfs_bytes_served += len(body)
                left = self.corrupt.get(rng, 0)
                if left and body:
                    self.corrupt[rng] = left - 1
                    body = bytes([body[0] ^ 0xFF]) + body[1:]
        headers["Accept-Ranges"] = "bytes"
        self._reply(h, status, headers, body, length=len(body))

    def _error(self, h, status: int, code: str, message: str) -> None:
        self._reply(h, status, {"X-Error-Code": code, "X-Error-Message": message,
                                "Content-Type": "application/json"}, json.dumps({"error": message}).encode())

    @staticmethod
    def _reply(h, status: int, headers: dict, body: bytes, length: int | None = None) -> None:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body) if length is None else length))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)


def _card_data(readme: bytes) -> dict:
    """A README.md's YAML front matter (between '---' lines), as the Hub serves it: cardData."""
    text = readme.decode("utf-8", "replace")
    if not text.startswith("---"):
        return {}
    head, sep, _ = text[3:].partition("\n---")
    if not sep:
        return {}
    card = yaml.safe_load(head)
    return card if isinstance(card, dict) else {}


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _read_body(h) -> bytes:
    """The request body, sent with a Content-Length or chunked (httpx streams a file object so)."""
    if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
        out = bytearray()
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            out += h.rfile.read(size)
            h.rfile.readline()
    return h.rfile.read(int(h.headers.get("Content-Length") or 0))
