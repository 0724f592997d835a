"""The agent's inventory: find the models under its roots and identify their bytes.

A scan has two phases. The walk (one thread, `os.scandir`) claims model directories, loose GGUF
files, Hugging Face cache snapshots and Ollama manifests, reads their metadata and `stat`s their
files. Hashing then looks every file up in the HashCache by (dev, inode, size, mtime_ns) and
hashes only the misses, largest first, on a thread pool. Bad files never abort a scan: they become
one-line problems and only their model is skipped. Nothing outside the roots is read or
hashed, whatever links lie inside them (confinement.py).
"""
from __future__ import annotations

import dataclasses
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from llmesh.agent.inventory import layouts as detect
from llmesh.agent.inventory.confinement import Confinement
from llmesh.agent.inventory.hash_cache import HashCache, describe_os_error, digest_files, stat_key
from llmesh.agent.inventory.layouts import DetectError
from llmesh.agent.inventory.walk import Candidate, FileHeaders, Walker
from llmesh.common.errors import InvalidArgument, NotFound
from llmesh.common.hashing import manifest_digest
from llmesh.common.names import sanitize_name

PROGRESS_EVERY_S = 0.25


class ScanCancelled(Exception):
    """Raised by Scanner.scan() when Scanner.cancel() stopped it."""


@dataclass(frozen=True)
class FileEntry:
    path: str     # relative to the model's own directory, '/' separators always
    size: int
    digest: str   # 'sha256:<hex>'
    piece_index_id: str = ""  # of its piece index at piece_size, from the pass that made the digest
    piece_size: int = 0


@dataclass(frozen=True)
class FoundModel:
    path: str
    name: str
    kind: str      # 'model' | 'lora' | 'gguf'
    format: str    # 'safetensors' | 'pytorch' | 'gguf'
    source: str    # 'dir' | 'file' | 'hf-cache' | 'ollama' | 'training-run'
    files: tuple[FileEntry, ...]
    metadata: dict
    digest: str
    size_bytes: int

    def __hash__(self) -> int:  # metadata is a dict; identity is path + content
        return hash((self.path, self.digest))

    def to_dict(self) -> dict:
        return {"path": self.path, "name": self.name, "kind": self.kind, "format": self.format,
                "source": self.source, "digest": self.digest, "size_bytes": self.size_bytes,
                "files": [{"path": f.path, "size": f.size, "digest": f.digest,
                           **({"piece_index_id": f.piece_index_id, "piece_size": f.piece_size}
                              if f.piece_index_id else {})} for f in self.files],
                "metadata": detect.clean_json(self.metadata)}

    @classmethod
    def from_dict(cls, d: dict) -> "FoundModel":
        files = tuple(FileEntry(f["path"], int(f["size"]), f["digest"], f.get("piece_index_id", ""),
                                int(f.get("piece_size", 0))) for f in d["files"])
        return cls(path=d["path"], name=d["name"], kind=d["kind"], format=d["format"],
                   source=d["source"], files=files, metadata=dict(d.get("metadata") or {}),
                   digest=d["digest"], size_bytes=int(d["size_bytes"]))


@dataclass(frozen=True)
class ScanProgress:
    phase: str          # 'walking' | 'hashing' | 'done'
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int


@dataclass
class ScanResult:
    models: list[FoundModel] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    files_hashed: int = 0
    bytes_hashed: int = 0
    files_cached: int = 0
    seconds: float = 0.0


# -- the scanner --------------------------------------------------------------------------------

class Scanner:
    """Finds and identifies the models under a set of roots (see the module docstring)."""

    def __init__(self, roots: list[str], cache: HashCache, *, hash_workers: int = 2,
                 progress: Callable[[ScanProgress], None] | None = None, piece_size: int = 0):
        self.roots = [os.path.abspath(os.path.expanduser(os.fspath(r))) for r in roots]
        self.cache = cache
        self.piece_size = piece_size  # index files at this piece size in the hashing pass (0: don't)
        self.hash_workers = max(1, int(hash_workers))
        self.progress = progress
        self._cancel = threading.Event()
        self._state_lock = threading.Lock()
        self._scan_lock = threading.Lock()
        self._running = False
        self._headers = FileHeaders()

    # public API ------------------------------------------------------------------------------

    def scan(self) -> ScanResult:
        with self._scan_lock:
            with self._state_lock:
                self._running = True
                self._cancel.clear()
            try:
                return self._scan()
            finally:
                with self._state_lock:
                    self._running = False
                    self._cancel.clear()

    def cancel(self) -> None:
        with self._state_lock:
            if self._running:
                self._cancel.set()

    def inspect(self, path: str, use_cache: bool = True, on_read=None) -> FoundModel:
        """The one model at PATH. ``use_cache=False`` re-reads every byte (verify, scrub: drift
        that kept size and mtime must still show); ``on_read(n)`` follows every chunk read."""
        located = self._locate(path)
        walker = self._walker()
        try:
            candidates = self._detect_at(walker, located)
        except OSError as e:
            raise InvalidArgument(f"{located}: {describe_os_error(e)}") from None
        if walker.problems:
            raise InvalidArgument(walker.problems[0])
        if not candidates:
            raise InvalidArgument(
                f"{located}: not a recognisable model (expected config.json with *.safetensors "
                "or pytorch_model*.bin, adapter_config.json with adapter weights, a .gguf file, "
                "a Hugging Face cache snapshot or an Ollama manifest)")
        if len(candidates) > 1:
            raise InvalidArgument(f"{located}: holds {len(candidates)} models; pass one of them, "
                                  f"e.g. {candidates[0].path}")
        result = ScanResult()
        models = self._identify(candidates, result, cancellable=False,
                                cache=self.cache if use_cache else _NoCache(), on_read=on_read)
        if result.problems:
            raise InvalidArgument(result.problems[0])
        model = models[0]
        commit = git_commit_of(located)
        if commit:  # the code that produced a training run, when it lies in a git checkout
            model = dataclasses.replace(model, metadata={**model.metadata, "git": commit})
        return model

    # scanning --------------------------------------------------------------------------------

    def _scan(self) -> ScanResult:
        started = time.monotonic()
        result = ScanResult()
        self._report("walking", 0, 0, 0, 0)
        walker = self._walker()
        self._headers.start_scan()
        for root in self.roots:
            walker.walk_root(root)
        self._headers.end_walk()
        result.problems.extend(walker.problems)
        result.models = self._identify(walker.candidates, result, cancellable=True)
        result.seconds = time.monotonic() - started
        self._report("done", result.files_hashed, result.files_hashed, result.bytes_hashed,
                     result.bytes_hashed)
        return result

    def _walker(self) -> Walker:
        # The roots' real paths are taken anew for each walk: a root may be (re)linked meanwhile.
        return Walker(self._check_cancel, self._headers, Confinement(self.roots))

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise ScanCancelled("inventory scan cancelled")

    def _report(self, phase: str, *counts: int) -> None:
        if self.progress is not None:
            self.progress(ScanProgress(phase, *counts))

    # hashing ---------------------------------------------------------------------------------

    def _identify(self, candidates: list[Candidate], result: ScanResult,
                  cancellable: bool, cache=None, on_read=None) -> list[FoundModel]:
        def progress(*counts: int) -> None:
            self._report("hashing", *counts)

        run = digest_files(cache or self.cache, ((ref.path, ref.st) for c in candidates for ref in c.files),
                           workers=self.hash_workers, progress=progress,
                           check_stop=self._check_cancel if cancellable else None,
                           poll_s=PROGRESS_EVERY_S, on_read=on_read, piece_size=self.piece_size)
        result.files_hashed += run.files_hashed
        result.bytes_hashed += run.bytes_hashed
        result.files_cached += run.files_cached
        built = (self._build(c, run.digests, run.failures, result.problems, cache or self.cache) for c in candidates)
        return [model for model in built if model is not None]

    def _build(self, candidate: Candidate, digests: dict, failures: dict,
               problems: list[str], cache: HashCache) -> FoundModel | None:
        entries = []
        for ref in candidate.files:
            key = stat_key(ref.st)
            if key in failures:
                problems.append(f"{candidate.path}: {ref.rel} {failures[key]}")
                return None
            digest = digests[key]
            promised = candidate.expected.get(ref.rel)
            if promised and promised != digest:
                problems.append(f"{candidate.path}: blob {detect.ollama_blob_name(promised)} does"
                                f" not match its name (its content is {digest})")
                return None
            index = cache.get_index(ref.st, self.piece_size) if self.piece_size else None
            entries.append(FileEntry(ref.rel.replace(os.sep, "/"), ref.st.st_size, digest,
                                     index.index_id if index is not None and index.digest == digest else "",
                                     self.piece_size if index is not None else 0))
        entries.sort(key=lambda e: e.path)
        return FoundModel(
            path=candidate.path, name=candidate.name, kind=candidate.kind,
            format=candidate.format, source=candidate.source, files=tuple(entries),
            metadata=detect.clean_json(candidate.metadata), digest=manifest_digest(entries),
            size_bytes=sum(e.size for e in entries))

    # inspect ---------------------------------------------------------------------------------

    def _locate(self, path) -> str:
        """The path as it lies under its configured root, or InvalidArgument/NotFound."""
        raw = os.fspath(path) if path is not None else ""
        if not raw:
            raise InvalidArgument("no path given")
        joined = os.path.join(os.getcwd(), os.path.expanduser(raw)).rstrip("\\/") or os.sep
        head, base = os.path.split(joined)
        # Resolve the parents but keep the last name: an HF snapshot file is a symlink whose
        # target is a content-named blob. The target must lie under a root as well.
        real = os.path.realpath(joined)
        located = real if base in ("", ".", "..") else os.path.join(os.path.realpath(head), base)
        root = self._root_holding(located)
        if root is None:  # a link from elsewhere (or a linked root) to bytes inside a root
            root, located = self._root_holding(real), real
        if root is None or self._root_holding(real) is None:
            raise InvalidArgument(f"{raw}: not under any model root of this agent"
                                  f" ({', '.join(self.roots) or 'none configured'})")
        if not os.path.exists(located):
            raise NotFound(f"{raw}: no such file or directory")
        configured, real_root = root
        rel = os.path.relpath(located, real_root)
        return configured if rel == os.curdir else os.path.join(configured, rel)

    def _root_holding(self, real_path: str):
        target = os.path.normcase(real_path)
        for configured in self.roots:
            real_root = os.path.realpath(configured)
            base = os.path.normcase(real_root)
            if target == base or target.startswith(base.rstrip("\\/") + os.sep):
                return configured, real_root
        return None

    def _detect_at(self, walker: Walker, path: str) -> list[Candidate]:
        parent = os.path.dirname(path)
        if os.path.isdir(path):
            listing = detect.Listing(path)
            if (os.path.basename(parent) == "snapshots"
                    and os.path.basename(os.path.dirname(parent)).startswith("models--")):
                repo_id = detect.hf_repo_id(os.path.basename(os.path.dirname(parent)))
                walker.add_hf_snapshot(listing, repo_id, os.path.basename(path))
            elif not walker.classify(listing):
                walker.add_loose_ggufs(listing, recursive=False)
            return walker.candidates
        parts = os.path.normpath(path).split(os.sep)
        if len(parts) >= 6 and parts[-5] == "manifests":
            store = os.sep.join(parts[:-5]) or os.sep
            if os.path.isdir(os.path.join(store, "blobs")):
                try:
                    return [walker.ollama_candidate(store, path, *parts[-4:])]
                except DetectError as e:
                    raise InvalidArgument(str(e)) from None
        return self._detect_gguf_file(walker, path)

    def _detect_gguf_file(self, walker: Walker, path: str) -> list[Candidate]:
        directory, name = os.path.split(path)
        source, model_name, extra = "file", None, None
        revision, snapshots = os.path.basename(directory), os.path.dirname(directory)
        repo_dir = os.path.basename(os.path.dirname(snapshots))
        if os.path.basename(snapshots) == "snapshots" and repo_dir.startswith("models--"):
            repo_id = detect.hf_repo_id(repo_dir)
            source, model_name = "hf-cache", sanitize_name(repo_id)
            extra = {"hf": {"repo_id": repo_id, "revision": revision}}
        for group in walker.gguf_groups(detect.Listing(directory), recursive=False):
            if any(entry.name == name for entry in group):
                try:
                    return [walker.gguf_candidate(group, source, model_name, extra)]
                except DetectError as e:
                    raise InvalidArgument(str(e)) from None
        return []


class _NoCache:
    """A hash cache that remembers nothing across calls: every file is read again (the piece
    indexes of this pass are kept for the model being built)."""

    def __init__(self):
        self._indexes = {}

    def get(self, st):
        return None

    def get_index(self, st, piece_size):
        return self._indexes.get((stat_key(st), piece_size))

    def put(self, st, digest, path, index=None) -> None:
        if index is not None:
            self._indexes[(stat_key(st), index.piece_size)] = index

    def flush(self) -> None:
        pass


def git_commit_of(path: str) -> dict | None:
    """{commit, branch} of the git checkout holding PATH, read from .git without running git."""
    current = os.path.abspath(path)
    while True:
        git = os.path.join(current, ".git")
        if os.path.isdir(git):
            return _read_head(git)
        if os.path.isfile(git):  # a worktree or submodule: "gitdir: <path>"
            try:
                with open(git, encoding="utf-8") as f:
                    target = f.read().strip().removeprefix("gitdir:").strip()
            except OSError:
                return None
            return _read_head(os.path.join(current, target))
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _read_head(git: str) -> dict | None:
    try:
        with open(os.path.join(git, "HEAD"), encoding="utf-8") as f:
            head = f.read().strip()
        if not head.startswith("ref:"):
            return {"commit": head, "branch": ""} if re.fullmatch(r"[0-9a-f]{40,64}", head) else None
        ref = head[4:].strip()
        ref_file = os.path.join(git, *ref.split("/"))
        if os.path.isfile(ref_file):
            with open(ref_file, encoding="utf-8") as f:
                commit = f.read().strip()
        else:
            commit = ""
            packed = os.path.join(git, "packed-refs")
            if os.path.isfile(packed):
                with open(packed, encoding="utf-8") as f:
                    for line in f:
                        parts = line.split()
                        if len(parts) == 2 and parts[1] == ref:
                            commit = parts[0]
        branch = ref.removeprefix("refs/heads/")
        return {"commit": commit, "branch": branch} if commit else None
    except (OSError, UnicodeDecodeError):
        return None
