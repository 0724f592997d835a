"""The walk of a scan: directories become candidates (model directories, loose and split GGUF
files, Hugging Face cache snapshots, Ollama manifests) with their metadata and their files'
stats, ready to be hashed. Bad models become one-line problems, never exceptions: a file that
leads outside the roots (confinement.py), metadata that cannot be read, a corrupt GGUF or
safetensors header.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
import stat as stat_mod
from dataclasses import dataclass, field
from typing import Callable

from llmesh.agent.inventory import layouts as detect
from llmesh.agent.inventory.confinement import Confinement
from llmesh.agent.inventory.gguf_header import GGUFHeader, gguf_metadata, read_gguf_header
from llmesh.agent.inventory.hash_cache import describe_os_error, stat_key
from llmesh.agent.inventory.layouts import DetectError
from llmesh.agent.inventory.safetensors_header import SafetensorsHeader, read_safetensors_header
from llmesh.common.hashing import format_digest
from llmesh.common.names import sanitize_name

CHECKPOINT_GLOB = "checkpoint-*"
MAX_DEPTH = 64
# Hidden dirs are skipped, except the ones that hold well-known layouts (child allow-list or None).
HIDDEN_LAYOUT_DIRS: dict[str, set[str] | None] = {
    ".ollama": None, ".cache": {"huggingface"}, ".lmstudio": {"models"}}
# Directory names that say nothing about the model: 'outputs' becomes 'my-run-outputs'.
GENERIC_DIR_NAMES = {"output", "outputs", "out", "final", "final_model", "model", "models",
                     "adapter", "adapters", "lora", "merged", "best", "best_model", "snapshot"}


# -- what the walk produces ---------------------------------------------------------------------

@dataclass
class FileRef:
    rel: str               # FileEntry path
    path: str              # what to open (may be a symlink, e.g. into an HF cache's blobs/)
    st: os.stat_result     # stat at walk time (symlinks followed)


@dataclass
class Candidate:
    path: str
    name: str
    kind: str
    format: str
    source: str
    metadata: dict
    files: list[FileRef]
    expected: dict[str, str] = field(default_factory=dict)  # rel -> digest the name promises


def dir_model_name(path: str) -> str:
    base = os.path.basename(path.rstrip("\\/"))
    if base.lower() in GENERIC_DIR_NAMES or fnmatch.fnmatch(base, CHECKPOINT_GLOB):
        parent = os.path.basename(os.path.dirname(path.rstrip("\\/")))
        base = f"{parent}-{base}" if parent else base
    return sanitize_name(base)


class Walker:
    """Turns directories into candidates; collects problems instead of raising."""

    def __init__(self, check_cancel: Callable[[], None], headers: FileHeaders,
                 confinement: Confinement):
        self.check_cancel = check_cancel  # raises to stop the walk
        self.headers = headers
        self.confinement = confinement  # no file outside it is read
        self.candidates: list[Candidate] = []
        self.problems: list[str] = []
        self.seen_dirs: set[tuple[int, int]] = set()
        self._real_dirs: dict[str, str] = {}

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
        self.check_cancel()
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
        except (ValueError, RecursionError) as e:  # a reader's gap: still one model, one line
            self.problems.append(f"{listing.path}: cannot be read: {e}")
            return True
        if candidate is None:
            return False
        self.candidates.append(candidate)
        return True

    def claim_model_dir(self, listing: detect.Listing, source: str = "dir",
                        name: str | None = None, extra: dict | None = None) -> Candidate | None:
        names = listing.names | set(listing.broken)  # a dangling weight link is a problem
        adapter_format = (detect.adapter_weight_format(names)
                          if "adapter_config.json" in names else None)
        model_format = detect.model_weight_format(names) if "config.json" in names else None
        if not (adapter_format or model_format):
            return None  # never claim a directory without weights
        training = "trainer_state.json" in names
        path = listing.path
        files = self.collect_files(listing, skip_checkpoints=training)  # confined before read
        metadata = detect.hf_metadata(path, names)
        if adapter_format:
            metadata.update(detect.lora_metadata(path))
        else:
            detect.check_shard_index(path, names)
        if training:
            metadata["training"] = detect.training_metadata(path, names)
        metadata.update(extra or {})
        for ref in files:
            if ref.rel.endswith(".safetensors"):
                self.headers.safetensors(ref.path, ref.st, report_as=(path, ref.rel))
        return Candidate(
            path=path, name=name or dir_model_name(path),
            kind="lora" if adapter_format else "model", format=adapter_format or model_format,
            source="training-run" if training and source == "dir" else source,
            metadata=metadata, files=files)

    def collect_files(self, listing: detect.Listing, skip_checkpoints: bool = False,
                      prefix: str = "", depth: int = 0) -> list[FileRef]:
        if listing.broken:
            raise DetectError(listing.path, f"{listing.broken[0]} is a broken symlink")
        if listing.undecodable:
            raise DetectError(listing.path, f"{listing.undecodable[0]} is not a valid UTF-8 name")
        files = []
        for name, entry in listing.files.items():
            if detect.is_hidden(name):
                continue
            self.check_confined(listing.path, name, entry.path, entry.is_symlink())
            try:
                files.append(FileRef(prefix + name, entry.path, detect.entry_stat(entry)))
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

    def check_confined(self, owner: str, name: str, path: str, is_link: bool) -> None:
        """DetectError unless the file's real path lies under a root: a model with a file that
        leads elsewhere is a problem, and nothing of it is read."""
        if is_link:
            real = os.path.realpath(path)
        else:  # only its directory can lead elsewhere (a junction, a root given through a link)
            head, base = os.path.split(path)
            real_head = self._real_dirs.get(head)
            if real_head is None:
                real_head = self._real_dirs[head] = os.path.realpath(head)
            real = os.path.join(real_head, base)
        if not self.confinement.holds(real):
            raise DetectError(owner, f"{name} leads outside this agent's model roots (to {real})")

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
                       extra: dict | None) -> Candidate:
        first = entries[0]
        match = detect.SPLIT_RE.match(first.name)
        if match and len(entries) != int(match["count"]):
            raise DetectError(first.path, f"split GGUF has {len(entries)} of {int(match['count'])}"
                                          " parts")
        refs = []
        for entry in entries:
            self.check_confined(os.path.dirname(entry.path), entry.name, entry.path,
                                entry.is_symlink())
            try:
                refs.append(FileRef(entry.name, entry.path, detect.entry_stat(entry)))
            except OSError as e:
                raise DetectError(entry.path, describe_os_error(e)) from None
        headers = [self.headers.read(ref.path, ref.st) for ref in refs]
        metadata = gguf_metadata(headers[0], headers[1:])
        metadata.update(extra or {})
        is_adapter = metadata["gguf"]["type"] == "adapter"
        name = name or sanitize_name(detect.gguf_stem(first.name))
        return Candidate(path=first.path, name=name, kind="lora" if is_adapter else "gguf",
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
            self.check_cancel()
            try:
                self.candidates.append(self.ollama_candidate(store, manifest, *parts))
            except DetectError as e:
                self.problems.append(str(e))

    def ollama_candidate(self, store: str, manifest: str, registry: str, namespace: str,
                         name: str, tag: str) -> Candidate:
        self.check_confined(os.path.dirname(manifest), os.path.basename(manifest), manifest, True)
        raw, layers = detect.read_ollama_manifest(manifest)
        refs, expected, by_kind = [], {}, {}
        for layer in layers:
            blob = os.path.join(store, "blobs", detect.ollama_blob_name(layer.digest))
            self.check_confined(manifest, f"blob {os.path.basename(blob)} ({layer.kind})", blob,
                                True)
            try:
                st = os.stat(blob)
            except OSError as e:
                what = "is missing" if isinstance(e, FileNotFoundError) else describe_os_error(e)
                raise DetectError(manifest, f"blob {os.path.basename(blob)} ({layer.kind}) {what}"
                                  ) from None
            refs.append(FileRef(layer.file_name, blob, st))
            expected[layer.file_name] = layer.digest
            by_kind.setdefault(layer.kind, refs[-1])
        weights = by_kind.get("model") or by_kind.get("adapter")
        if weights is None:
            raise DetectError(manifest, "Ollama manifest has no model or adapter layer")
        metadata = gguf_metadata(self.headers.read(weights.path, weights.st,
                                                                  report_as=manifest))
        metadata["chat_template"] = metadata["chat_template"] or "template" in by_kind
        metadata["ollama"] = {"registry": registry, "namespace": namespace, "name": name,
                              "tag": tag, "manifest_digest": format_digest(
                                  hashlib.sha256(raw).hexdigest())}
        model_name = name if tag == "latest" else f"{name}-{tag}"
        if namespace != "library":
            model_name = f"{namespace}/{model_name}"
        return Candidate(path=manifest, name=sanitize_name(model_name),
                          kind="gguf" if "model" in by_kind else "lora", format="gguf",
                          source="ollama", metadata=metadata, files=refs, expected=expected)


class FileHeaders:
    """GGUF and safetensors headers of unchanged files, read and checked once per process; each
    scan keeps those it used (the headers of files that are gone are forgotten)."""

    def __init__(self):
        self._kept: dict[tuple, object] = {}
        self._used: dict[tuple, object] = {}

    def start_scan(self) -> None:
        self._used = {}

    def end_walk(self) -> None:
        self._kept = self._used

    def read(self, path: str, st: os.stat_result, report_as: str | None = None) -> GGUFHeader:
        """The GGUF header of the file at ``path``, or DetectError for ``report_as``."""
        return self._header(path, st, read_gguf_header, report_as or path, "",
                            "not a valid GGUF file")

    def safetensors(self, path: str, st: os.stat_result,
                    report_as: tuple[str, str]) -> SafetensorsHeader:
        """The checked safetensors header of a model's file; DetectError for (model, file)."""
        owner, name = report_as
        return self._header(path, st, read_safetensors_header, owner, f"{name} ",
                            "is not a valid safetensors file")

    def _header(self, path, st, reader, owner: str, prefix: str, invalid: str):
        key = (reader, path, stat_key(st))
        header = self._kept.get(key) or self._used.get(key)
        if header is None:
            try:
                header = reader(path)
            except (ValueError, RecursionError) as e:
                header = DetectError(owner, f"{prefix}{invalid}: {e}")
            except OSError as e:
                header = DetectError(owner, f"{prefix}{describe_os_error(e)}")
        self._used[key] = header
        if isinstance(header, DetectError):
            raise header
        return header
