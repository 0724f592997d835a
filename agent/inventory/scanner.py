"""The agent's inventory: find the models under its roots and identify their bytes.

A scan has two phases. The walk (one thread, `os.scandir`) claims model directories, loose GGUF
files, Hugging Face cache snapshots and Ollama manifests, reads their metadata and `stat`s their
files. Hashing then looks every file up in the HashCache by (dev, inode, size, mtime_ns) and
hashes only the misses, largest first, on a thread pool. Bad files never abort a scan: they become
one-line problems and only their model is skipped.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import os
import re
import stat as stat_mod
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from llmesh.agent.inventory import layouts as detect
from llmesh.agent.inventory.hash_cache import HashCache, describe_os_error, digest_files, stat_key
from llmesh.agent.inventory.layouts import DetectError
from llmesh.common.errors import InvalidArgument, NotFound
from llmesh.common.hashing import format_digest, manifest_digest
from llmesh.common.names import sanitize_name

CHECKPOINT_GLOB = "checkpoint-*"
MAX_DEPTH = 64
PROGRESS_EVERY_S = 0.25
# Hidden dirs are skipped, except the ones that hold well-known layouts (child allow-list or None).
HIDDEN_LAYOUT_DIRS: dict[str, set[str] | None] = {
    ".ollama": None, ".cache": {"huggingface"}, ".lmstudio": {"models"}}
# Directory names that say nothing about the model: 'outputs' becomes 'my-run-outputs'.
GENERIC_DIR_NAMES = {"output", "outputs", "out", "final", "final_model", "model", "models",
                     "adapter", "adapters", "lora", "merged", "best", "best_model", "snapshot"}


class ScanCancelled(Exception):
    """Raised by Scanner.scan() when Scanner.cancel() stopped it."""


@dataclass(frozen=True)
class FileEntry:
    path: str     # relative to the model's own directory, '/' separators always
    size: int
    digest: str   # 'sha256:<hex>'


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
                "files": [{"path": f.path, "size": f.size, "digest": f.digest} for f in self.files],
                "metadata": detect.clean_json(self.metadata)}

    @classmethod
    def from_dict(cls, d: dict) -> "FoundModel":
        files = tuple(FileEntry(f["path"], int(f["size"]), f["digest"]) for f in d["files"])
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


# -- what the walk produces ---------------------------------------------------------------------

@dataclass
class _FileRef:
    rel: str               # FileEntry path
    path: str              # what to open (may be a symlink, e.g. into an HF cache's blobs/)
    st: os.stat_result     # stat at walk time (symlinks followed)


@dataclass
class _Candidate:
    path: str
    name: str
    kind: str
    format: str
    source: str
    metadata: dict
    files: list[_FileRef]
    expected: dict[str, str] = field(default_factory=dict)  # rel -> digest the name promises


def _dir_model_name(path: str) -> str:
    base = os.path.basename(path.rstrip("\\/"))
    if base.lower() in GENERIC_DIR_NAMES or fnmatch.fnmatch(base, CHECKPOINT_GLOB):
        parent = os.path.basename(os.path.dirname(path.rstrip("\\/")))
        base = f"{parent}-{base}" if parent else base
    return sanitize_name(base)


class _Walker:
    """Turns directories into candidates; collects problems instead of raising."""

    def __init__(self, scanner: "Scanner"):
        self.scanner = scanner
        self.candidates: list[_Candidate] = []
        self.problems: list[str] = []
        self.seen_dirs: set[tuple[int, int]] = set()

    # walking ---------------------------------------------------------------------------------

    def walk_root(self, root: str) -> None:
        try:
            st = os.stat(root)
        except FileNotFoundError:
            self.problems.append(f"{root}: model root does not exist")
            return
        except OSError as e:
            self.problems.append(f"{root}: model root is unreadable: {e.strerror or e}")
            return
        if not stat_mod.S_ISDIR(st.st_mode):
            self.problems.append(f"{root}: model root is not a directory")
            return
        self.walk_dir(root, 0)

    def walk_dir(self, path: str, depth: int, only: set[str] | None = None) -> None:
        self.scanner._check_cancel()
        if depth > MAX_DEPTH or not self._first_visit(path):
            return
        try:
            listing = detect.Listing(path)
        except OSError as e:
            self.problems.append(f"{path}: cannot list directory: {e.strerror or e}")
            return
        if only is None and self.classify(listing):
            return
        self.problems += [f"{path}: skipped {name}, a name that is not valid UTF-8"
                          for name in listing.undecodable]
        if only is None:
            self.add_loose_ggufs(listing, recursive=False)
        in_training_run = "trainer_state.json" in listing.names
        for name, entry in listing.dirs.items():
            if only is not None and name not in only:
                continue
            if in_training_run and fnmatch.fnmatch(name, CHECKPOINT_GLOB):
                continue  # checkpoints of a run are never models of their own
            if detect.is_hidden(name) and only is None:
                if name in HIDDEN_LAYOUT_DIRS:
                    self.walk_dir(entry.path, depth + 1, HIDDEN_LAYOUT_DIRS[name])
                continue
            self.walk_dir(entry.path, depth + 1)

    def _first_visit(self, path: str) -> bool:
        # Directory symlinks are never followed, but overlapping roots and Windows junctions
        # can still reach a directory twice.
        try:
            st = os.stat(path)
        except OSError:
            return True
        ident = (st.st_dev, st.st_ino)
        if st.st_ino and ident in self.seen_dirs:
            return False
        self.seen_dirs.add(ident)
        return True

    # classification --------------------------------------------------------------------------

    def classify(self, listing: detect.Listing) -> bool:
        """Claim the directory if it is a model or a known layout; False means 'descend'."""
        name = os.path.basename(listing.path.rstrip("\\/"))
        if name.startswith("models--") and "snapshots" in listing.dirs:
            self.add_hf_repo(listing)
            return True
        if name.startswith(("datasets--", "spaces--")) and "snapshots" in listing.dirs:
            return True  # the hub cache's other repo types hold no models
        if "manifests" in listing.dirs and "blobs" in listing.dirs:
            self.add_ollama_store(listing)
            return True
        try:
            candidate = self.claim_model_dir(listing)
        except DetectError as e:
            self.problems.append(str(e))
            return True
        if candidate is None:
            return False
        self.candidates.append(candidate)
        return True

    def claim_model_dir(self, listing: detect.Listing, source: str = "dir",
                        name: str | None = None, extra: dict | None = None) -> _Candidate | None:
        names = listing.names | set(listing.broken)  # a dangling weight link is a problem
        adapter_format = (detect.adapter_weight_format(names)
                          if "adapter_config.json" in names else None)
        model_format = detect.model_weight_format(names) if "config.json" in names else None
        if not (adapter_format or model_format):
            return None  # never claim a directory without weights
        training = "trainer_state.json" in names
        path = listing.path
        metadata = detect.hf_metadata(path, names)
        if adapter_format:
            metadata.update(detect.lora_metadata(path))
        else:
            detect.check_shard_index(path, names)
        if training:
            metadata["training"] = detect.training_metadata(path, names)
        metadata.update(extra or {})
        return _Candidate(
            path=path, name=name or _dir_model_name(path),
            kind="lora" if adapter_format else "model", format=adapter_format or model_format,
            source="training-run" if training and source == "dir" else source,
            metadata=metadata, files=self.collect_files(listing, skip_checkpoints=training))

    def collect_files(self, listing: detect.Listing, skip_checkpoints: bool = False,
                      prefix: str = "", depth: int = 0) -> list[_FileRef]:
        if listing.broken:
            raise DetectError(listing.path, f"{listing.broken[0]} is a broken symlink")
        if listing.undecodable:
            raise DetectError(listing.path, f"{listing.undecodable[0]} is not a valid UTF-8 name")
        files = []
        for name, entry in listing.files.items():
            if detect.is_hidden(name):
                continue
            try:
                files.append(_FileRef(prefix + name, entry.path, detect.entry_stat(entry)))
            except OSError as e:
                raise DetectError(listing.path, f"{name} {describe_os_error(e)}") from None
        for name, entry in listing.dirs.items():
            checkpoint = skip_checkpoints and fnmatch.fnmatch(name, CHECKPOINT_GLOB)
            if detect.is_hidden(name) or checkpoint:
                continue
            if depth >= MAX_DEPTH:
                raise DetectError(listing.path, f"{name}: directories nested too deeply")
            try:
                sub = detect.Listing(entry.path)
            except OSError as e:
                raise DetectError(entry.path, f"cannot list directory: {e.strerror or e}") from None
            files += self.collect_files(sub, prefix=f"{prefix}{name}/", depth=depth + 1)
        return files

    # GGUF files ------------------------------------------------------------------------------

    def add_loose_ggufs(self, listing: detect.Listing, recursive: bool, source: str = "file",
                        names_for=None, extra: dict | None = None) -> int:
        groups = self.gguf_groups(listing, recursive)
        for files in groups:
            name = names_for(files, len(groups)) if names_for else None
            try:
                self.candidates.append(self.gguf_candidate(files, source, name, extra))
            except DetectError as e:
                self.problems.append(str(e))
        return len(groups)

    def gguf_groups(self, listing: detect.Listing, recursive: bool) -> list[list[os.DirEntry]]:
        """Each loose GGUF alone; split files (name-00001-of-00003.gguf) as one group."""
        singles, splits = [], {}
        for name, entry in listing.files.items():
            if detect.is_hidden(name) or not name.lower().endswith(".gguf"):
                continue
            match = detect.SPLIT_RE.match(name)
            if match:
                splits.setdefault((match["stem"], match["count"]), []).append(entry)
            else:
                singles.append([entry])
        groups = singles + [sorted(v, key=lambda e: e.name) for v in splits.values()]
        if recursive:
            for name, entry in listing.dirs.items():
                if not detect.is_hidden(name):
                    try:
                        groups += self.gguf_groups(detect.Listing(entry.path), True)
                    except OSError as e:
                        self.problems.append(f"{entry.path}: cannot list directory: {e.strerror}")
        return sorted(groups, key=lambda g: g[0].path)

    def gguf_candidate(self, entries: list[os.DirEntry], source: str, name: str | None,
                       extra: dict | None) -> _Candidate:
        first = entries[0]
        match = detect.SPLIT_RE.match(first.name)
        if match and len(entries) != int(match["count"]):
            raise DetectError(first.path, f"split GGUF has {len(entries)} of {int(match['count'])}"
                                          " parts")
        refs = []
        for entry in entries:
            try:
                refs.append(_FileRef(entry.name, entry.path, detect.entry_stat(entry)))
            except OSError as e:
                raise DetectError(entry.path, describe_os_error(e)) from None
        headers = [self.scanner._gguf_header(ref.path, ref.st) for ref in refs]
        metadata = detect.gguf_metadata(headers[0], headers[1:])
        metadata.update(extra or {})
        is_adapter = metadata["gguf"]["type"] == "adapter"
        name = name or sanitize_name(detect.gguf_stem(first.name))
        return _Candidate(path=first.path, name=name, kind="lora" if is_adapter else "gguf",
                          format="gguf", source=source, metadata=metadata, files=refs)

    # Hugging Face cache ----------------------------------------------------------------------

    def add_hf_repo(self, listing: detect.Listing) -> None:
        repo_id = detect.hf_repo_id(os.path.basename(listing.path.rstrip("\\/")))
        snapshots = listing.dirs["snapshots"].path
        try:
            revisions = detect.Listing(snapshots).dirs
        except OSError as e:
            self.problems.append(f"{snapshots}: cannot list directory: {e.strerror or e}")
            return
        for revision, entry in revisions.items():
            if detect.is_hidden(revision):
                continue
            try:
                self.add_hf_snapshot(detect.Listing(entry.path), repo_id, revision)
            except OSError as e:
                self.problems.append(f"{entry.path}: cannot list directory: {e.strerror or e}")

    def add_hf_snapshot(self, listing: detect.Listing, repo_id: str, revision: str) -> None:
        extra = {"hf": {"repo_id": repo_id, "revision": revision}}
        try:
            candidate = self.claim_model_dir(listing, "hf-cache", sanitize_name(repo_id), extra)
        except DetectError as e:
            self.problems.append(str(e))
            return
        if candidate is not None:
            self.candidates.append(candidate)
            return

        def name_for(files, count):  # one GGUF: the repo's name; several: repo/file-stem
            stem = detect.gguf_stem(files[0].name)
            return sanitize_name(repo_id if count == 1 else f"{repo_id}/{stem}")

        self.add_loose_ggufs(listing, True, "hf-cache", name_for, extra)

    # Ollama ----------------------------------------------------------------------------------

    def add_ollama_store(self, listing: detect.Listing) -> None:
        store = listing.path
        manifests = detect.ollama_manifests(os.path.join(store, "manifests"), self.problems)
        for manifest, parts in manifests:
            self.scanner._check_cancel()
            try:
                self.candidates.append(self.ollama_candidate(store, manifest, *parts))
            except DetectError as e:
                self.problems.append(str(e))

    def ollama_candidate(self, store: str, manifest: str, registry: str, namespace: str,
                         name: str, tag: str) -> _Candidate:
        raw, layers = detect.read_ollama_manifest(manifest)
        refs, expected, by_kind = [], {}, {}
        for layer in layers:
            blob = os.path.join(store, "blobs", detect.ollama_blob_name(layer.digest))
            try:
                st = os.stat(blob)
            except OSError as e:
                what = "is missing" if isinstance(e, FileNotFoundError) else describe_os_error(e)
                raise DetectError(manifest, f"blob {os.path.basename(blob)} ({layer.kind}) {what}"
                                  ) from None
            refs.append(_FileRef(layer.file_name, blob, st))
            expected[layer.file_name] = layer.digest
            by_kind.setdefault(layer.kind, refs[-1])
        weights = by_kind.get("model") or by_kind.get("adapter")
        if weights is None:
            raise DetectError(manifest, "Ollama manifest has no model or adapter layer")
        metadata = detect.gguf_metadata(self.scanner._gguf_header(weights.path, weights.st,
                                                                  report_as=manifest))
        metadata["chat_template"] = metadata["chat_template"] or "template" in by_kind
        metadata["ollama"] = {"registry": registry, "namespace": namespace, "name": name,
                              "tag": tag, "manifest_digest": format_digest(
                                  hashlib.sha256(raw).hexdigest())}
        model_name = name if tag == "latest" else f"{name}-{tag}"
        if namespace != "library":
            model_name = f"{namespace}/{model_name}"
        return _Candidate(path=manifest, name=sanitize_name(model_name),
                          kind="gguf" if "model" in by_kind else "lora", format="gguf",
                          source="ollama", metadata=metadata, files=refs, expected=expected)


# -- the scanner --------------------------------------------------------------------------------

class Scanner:
    """Finds and identifies the models under a set of roots (see the module docstring)."""

    def __init__(self, roots: list[str], cache: HashCache, *, hash_workers: int = 2,
                 progress: Callable[[ScanProgress], None] | None = None):
        self.roots = [os.path.abspath(os.path.expanduser(os.fspath(r))) for r in roots]
        self.cache = cache
        self.hash_workers = max(1, int(hash_workers))
        self.progress = progress
        self._cancel = threading.Event()
        self._state_lock = threading.Lock()
        self._scan_lock = threading.Lock()
        self._running = False
        # GGUF headers of unchanged files are parsed once per process.
        self._headers: dict[tuple, object] = {}
        self._headers_used: dict[tuple, object] = {}

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

    def inspect(self, path: str, use_cache: bool = True) -> FoundModel:
        """The one model at PATH. ``use_cache=False`` re-reads every byte (verify: drift
        that kept size and mtime must still show)."""
        located = self._locate(path)
        walker = _Walker(self)
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
                                cache=self.cache if use_cache else _NoCache())
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
        walker = _Walker(self)
        self._headers_used = {}
        for root in self.roots:
            walker.walk_root(root)
        self._headers = self._headers_used  # forget headers of files that are gone
        result.problems.extend(walker.problems)
        result.models = self._identify(walker.candidates, result, cancellable=True)
        result.seconds = time.monotonic() - started
        self._report("done", result.files_hashed, result.files_hashed, result.bytes_hashed,
                     result.bytes_hashed)
        return result

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise ScanCancelled("inventory scan cancelled")

    def _report(self, phase: str, *counts: int) -> None:
        if self.progress is not None:
            self.progress(ScanProgress(phase, *counts))

    def _gguf_header(self, path: str, st: os.stat_result, report_as: str | None = None):
        key = (path, stat_key(st))
        header = self._headers.get(key) or self._headers_used.get(key)
        if header is None:
            try:
                header = detect.read_gguf_header(path)
            except ValueError as e:
                header = DetectError(report_as or path, f"not a valid GGUF file: {e}")
            except OSError as e:
                header = DetectError(report_as or path, describe_os_error(e))
        self._headers_used[key] = header
        if isinstance(header, DetectError):
            raise header
        return header

    # hashing ---------------------------------------------------------------------------------

    def _identify(self, candidates: list[_Candidate], result: ScanResult,
                  cancellable: bool, cache=None) -> list[FoundModel]:
        def progress(*counts: int) -> None:
            self._report("hashing", *counts)

        run = digest_files(cache or self.cache, ((ref.path, ref.st) for c in candidates for ref in c.files),
                           workers=self.hash_workers, progress=progress,
                           check_stop=self._check_cancel if cancellable else None,
                           poll_s=PROGRESS_EVERY_S)
        result.files_hashed += run.files_hashed
        result.bytes_hashed += run.bytes_hashed
        result.files_cached += run.files_cached
        built = (self._build(c, run.digests, run.failures, result.problems) for c in candidates)
        return [model for model in built if model is not None]

    def _build(self, candidate: _Candidate, digests: dict, failures: dict,
               problems: list[str]) -> FoundModel | None:
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
            entries.append(FileEntry(ref.rel.replace(os.sep, "/"), ref.st.st_size, digest))
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

    def _detect_at(self, walker: _Walker, path: str) -> list[_Candidate]:
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

    def _detect_gguf_file(self, walker: _Walker, path: str) -> list[_Candidate]:
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
    """A hash cache that remembers nothing: every file is read again."""

    def get(self, st):
        return None

    def put(self, st, digest, path) -> None:
        pass

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
