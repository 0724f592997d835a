"""The agent's managed store: where received models live.

    root/blobs/sha256-<hex>          content-addressed files, shared by every version (read-only)
    root/tmp/sha256-<hex>.partial    a blob being received, preallocated to its full size
    root/tmp/sha256-<hex>.state      which of its pieces are verified and durable (JSON)
    root/models/<name>/v<N>/...      ordinary model directories made of hard links to blobs
    root/models/<name>/.v<N>.manifest.json   the files of that directory, for gc and idempotence

Unverified bytes never enter blobs/: a PartialBlob (partial.py) checks every piece against its
piece index as it lands and the whole file against its digest before an fsync, then hands it to
``publish`` for an atomic rename.

Concurrency: one lock per digest (and per model directory) serialises the steps that create,
link or delete a blob; writes to different pieces of one PartialBlob run in parallel.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import uuid
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Iterable, Protocol

from llmesh.agent.store.blob_io import (
    DigestMismatch,
    allocated,
    copy_durably,
    digest_hex,
    make_read_only,
    os_error,
    read_json,
)
from llmesh.agent.store.partial import STATE_SUFFIX, PartialBlob
from llmesh.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from llmesh.common.files import atomic_write, fsync_dir
from llmesh.common.hashing import PREFIX, hash_file, is_digest
from llmesh.common.names import check_name
from llmesh.common.pieces import PieceIndex
from llmesh.common.units import human_size
from llmesh.common.units import short_digest as short

__all__ = ["BlobStore", "DigestMismatch", "PartialBlob"]

log = logging.getLogger("llmesh.agent")

BLOB_PREFIX = "sha256-"
PARTIAL_SUFFIX = ".partial"
MANIFEST_SUFFIX = ".manifest.json"
BUILD_PREFIX = ".tmp-"           # models/.tmp-*: directories being built or deleted
DEFAULT_RESERVE = 256 * 1024 * 1024
# gc leaves fresh blobs alone for this long: a transfer completes its files one by one and
# materialises the version only at the end, so a fresh blob is not yet linked from any model.
FRESH_BLOB_GRACE_S = 3600.0
PARTIAL_MAX_AGE_S = 48 * 3600.0
BUILD_DIR_MAX_AGE_S = 3600.0


class FileLike(Protocol):
    path: str      # relative, '/' separators
    size: int
    digest: str


class _KeyedLocks:
    def __init__(self):
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def __call__(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


# -- the store ------------------------------------------------------------------------------------

class BlobStore:
    """Blobs, partial blobs and materialised model directories under one root."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.blobs_dir = self.root / "blobs"
        self.tmp_dir = self.root / "tmp"
        self.models_dir = self.root / "models"
        for d in (self.blobs_dir, self.tmp_dir, self.models_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._lock = _KeyedLocks()
        self._guard = threading.Lock()
        self._receiving: dict[str, PartialBlob] = {}  # digests with an open PartialBlob
        self._building: set[str] = set()
        self._fresh: dict[str, float] = {}  # digest -> when it entered blobs/, until linked
        # gc and materialize exclude each other: gc must not judge a blob unreferenced while
        # a model directory that links it is being built.
        self._gc_lock = threading.Lock()
        self._clear_leftovers()

    def _clear_leftovers(self) -> None:
        """What a killed agent left that nothing will resume: temporary files of a state write
        or an adoption, the state or partial of a blob that reached blobs/, a state without its
        partial, and directories being built or deleted. Runs as the store opens, before
        anything receives or builds; a .partial with its .state is kept for the job to resume."""
        for entry in os.scandir(self.tmp_dir):
            stem, _, suffix = entry.name.partition(".")
            digest = _digest_of_blob_name(stem)
            resumable = (digest is not None and suffix in ("partial", "state") and not self.has(digest)
                         and (suffix == "partial" or (self.tmp_dir / (stem + PARTIAL_SUFFIX)).exists()))
            if not resumable and entry.is_file(follow_symlinks=False):
                try:
                    os.unlink(entry.path)
                except OSError as e:  # gc's age limit still applies to it
                    log.warning("could not remove %s: %s", entry.path, e.strerror)
        for entry in os.scandir(self.models_dir):
            if entry.name.startswith(BUILD_PREFIX) and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)

    # -- blobs ----------------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        return self.blobs_dir / (BLOB_PREFIX + digest_hex(digest))

    def has(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def missing(self, digests: Iterable[str]) -> list[str]:
        """The digests not in blobs/, in the order given, each once."""
        return [d for d in dict.fromkeys(digests) if not self.has(d)]

    def space_needed(self, files: Iterable[tuple[str, int]]) -> int:
        """Bytes still to allocate for (digest, size) files: those not held, less what their
        partials (preallocated) already occupy. What to pass to ensure_space on a resume."""
        needed = 0
        for digest, size in dict(files).items():
            if self.has(digest):
                continue
            try:
                needed += max(0, size - allocated(self.partial_path(digest).stat()))
            except FileNotFoundError:
                needed += size
        return needed

    def ensure_space(self, nbytes: int, reserve: int = DEFAULT_RESERVE) -> None:
        """Refuse, before the first byte, a transfer the disk cannot hold (plus ``reserve``)."""
        free = shutil.disk_usage(self.root).free
        if nbytes + reserve > free:
            raise ResourceExhausted(
                f"destination disk too small: need {human_size(nbytes)} "
                f"(+{human_size(reserve)} spare), {human_size(free)} free on {self.root}")

    def adopt(self, path: str | os.PathLike, digest: str, *, verify: bool = False) -> Path:
        """Put a local file the agent already holds into blobs/ by hard link (else a copy).

        A hard link shares the file's inode: if its owner later rewrites it in place, the blob
        changes too (receivers catch that with their piece checks). ``verify`` hashes it first.
        """
        src = Path(path)
        target = self.blob_path(digest)
        if verify:
            _, actual = hash_file(src)
            if actual != digest:
                raise DigestMismatch(f"{src} is {short(actual)}, not {short(digest)}", [])
        with self._lock(digest):
            if target.exists():
                return target
            try:
                os.link(src, target)
            except FileNotFoundError:
                raise NotFound(f"cannot adopt {src}: no such file") from None
            except OSError:
                self._copy_in(src, target)  # cross-device, or no hard links on this file system
            fsync_dir(self.blobs_dir)
            self._mark_fresh(digest)
        return target

    def _copy_in(self, src: Path, target: Path) -> None:
        tmp = self.tmp_dir / f"{target.name}.adopt-{uuid.uuid4().hex[:8]}"
        try:
            copy_durably(src, tmp)
            make_read_only(tmp)
            os.replace(tmp, target)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise os_error(e, f"copying {src} into the store") from None

    # -- receiving ------------------------------------------------------------------------------

    def open_partial(self, digest: str, size: int, piece_index: PieceIndex, *,
                     index_id: str | None = None) -> PartialBlob:
        """Start receiving a blob, or resume one whose verified pieces survived a restart.

        ``index_id``: the piece index's id as recorded by a party trusted for the digest (the
        agent that hashed the file, computing digest and index in one pass, through the
        registry). When given and equal, verified pieces prove the whole file and complete()
        skips the second sha256 pass over it; when absent, complete() hashes the whole file.

        Raises AlreadyExists if the blob is already in the store, FailedPrecondition if it is
        being received through another PartialBlob, ResourceExhausted if the disk cannot hold
        it, InvalidArgument if ``index_id`` is not this index's.
        """
        _check_index(digest, size, piece_index)
        if index_id is not None and index_id != piece_index.index_id:
            raise InvalidArgument(f"piece index for {short(digest)} is not the one on record: "
                                  f"{short(piece_index.index_id)}, expected {short(index_id)}")
        with self._lock(digest):
            if self.has(digest):
                raise AlreadyExists(f"blob {short(digest)} is already in the store")
            with self._guard:
                if digest in self._receiving:
                    raise FailedPrecondition(f"blob {short(digest)} is already being received")
            blob = PartialBlob(digest, piece_index, self.partial_path(digest), publish=self.publish,
                               release=self._end_receiving, trusted_index=index_id is not None)
            with self._guard:
                self._receiving[digest] = blob
            return blob

    def discard_partial(self, digest: str) -> bool:
        """Delete the partial of ``digest`` and its state unless a PartialBlob is receiving it
        now; True if it is gone."""
        with self._lock(digest):
            with self._guard:
                if digest in self._receiving:
                    return False
            path = self.partial_path(digest)
            path.unlink(missing_ok=True)
            path.with_suffix(STATE_SUFFIX).unlink(missing_ok=True)
        return True

    def partial_path(self, digest: str) -> Path:
        return self.tmp_dir / (BLOB_PREFIX + digest_hex(digest) + PARTIAL_SUFFIX)

    def publish(self, digest: str, verified: Path) -> Path:
        """Move a file whose bytes are known to be ``digest`` (checked and fsynced by the
        caller, e.g. a PartialBlob) into blobs/ by rename; returns the blob's path."""
        target = self.blob_path(digest)
        with self._lock(digest):
            try:
                if target.exists():  # adopted meanwhile: same bytes, keep the one in place
                    verified.unlink(missing_ok=True)
                else:
                    make_read_only(verified)
                    os.replace(verified, target)
                    fsync_dir(self.blobs_dir)
                self._mark_fresh(digest)
            except OSError as e:
                raise os_error(e, f"moving {verified} into the store") from None
        return target

    def _end_receiving(self, digest: str) -> None:
        with self._guard:
            self._receiving.pop(digest, None)

    def receiving(self, digest: str) -> PartialBlob | None:
        """The PartialBlob receiving ``digest`` now, if any: a swarm member serves its verified pieces."""
        with self._guard:
            return self._receiving.get(digest)

    def _mark_fresh(self, digest: str) -> None:
        with self._guard:
            self._fresh[digest] = time.monotonic()

    # -- model directories ----------------------------------------------------------------------

    def model_path(self, name: str, version: int) -> Path:
        return self._model_parent(name) / f"v{_check_version(version)}"

    def materialize(self, name: str, version: int, files: Iterable[FileLike]) -> Path:
        """Build models/<name>/v<version>/ from blobs: hard links, copies where links fail.

        Atomic (built beside it, then renamed) and idempotent: an intact directory with the
        same files is returned as it is. Returns the directory's native path.
        """
        files = list(files)
        final = self.model_path(name, version)
        rels = _check_relative_paths(files)
        manifest = _manifest(files)
        absent = self.missing(f.digest for f in files)
        if absent:
            raise NotFound(f"cannot materialize {name}:{version}: {len(absent)} blob(s) not in "
                           f"the store, e.g. {short(absent[0])}")
        with self._gc_lock, self._lock(f"model:{name}:{version}"):
            manifest_path = _manifest_path(final)
            if read_json(manifest_path) == manifest and _intact(final, files, rels):
                return final
            if read_json(manifest_path) not in (None, manifest) and final.exists():
                raise AlreadyExists(f"{final} already holds different files for "
                                    f"{name}:{version}; remove that copy first")
            self._build(final, files, rels, manifest)
        with self._guard:
            for f in files:
                self._fresh.pop(f.digest, None)  # the manifest protects them now
        return final

    def _build(self, final: Path, files: list, rels: list[PurePosixPath], manifest) -> None:
        build = self.models_dir / f"{BUILD_PREFIX}{uuid.uuid4().hex}"
        self._building.add(build.name)
        try:
            build.mkdir()
            for f, rel in zip(files, rels):
                self._place(f.digest, build.joinpath(*rel.parts))
            _fsync_tree_dirs(build)
            final.parent.mkdir(parents=True, exist_ok=True)
            # The manifest goes first: a crash before the rename leaves a manifest without
            # a directory, which the next materialize rebuilds.
            atomic_write(_manifest_path(final), json.dumps(manifest, sort_keys=True))
            if final.exists():
                self._discard_dir(final)
            os.rename(build, final)
            fsync_dir(final.parent)
        except OSError as e:
            raise os_error(e, f"building {final}") from None
        finally:
            self._building.discard(build.name)
            if build.exists():
                shutil.rmtree(build, ignore_errors=True)

    def _place(self, digest: str, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with self._lock(digest):
            try:
                os.link(self.blob_path(digest), dest)
            except FileNotFoundError:
                raise NotFound(f"blob {short(digest)} vanished from the store") from None
            except OSError:
                # No hard links here (FAT, some network shares, link limit): a durable copy.
                copy_durably(self.blob_path(digest), dest)

    def remove_model(self, name: str, version: int) -> bool:
        """Delete a materialised copy; its blobs stay until gc. False if there was none."""
        final = self.model_path(name, version)
        with self._lock(f"model:{name}:{version}"):
            existed = final.exists()
            if existed:
                self._discard_dir(final)  # renamed away first: never a half-deleted model
            manifest = _manifest_path(final)
            existed = existed or manifest.exists()
            manifest.unlink(missing_ok=True)
            _prune_empty_parents(final.parent, self.models_dir)
        return existed

    def _discard_dir(self, path: Path) -> None:
        trash = self.models_dir / f"{BUILD_PREFIX}{uuid.uuid4().hex}"
        os.rename(path, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def _model_parent(self, name: str) -> Path:
        check_name(name)
        parts = name.split("/")
        if len(parts) > 1 and _is_version_dir(parts[-1]):
            # 'org/v2' would live inside version 2 of model 'org'.
            raise InvalidArgument(f"model name {name!r} cannot be stored: its last part looks "
                                  "like a version directory")
        parent = self.models_dir.joinpath(*parts)
        if not parent.resolve().is_relative_to(self.models_dir.resolve()):
            raise InvalidArgument(f"model name {name!r} escapes the store")
        return parent

    # -- garbage collection ---------------------------------------------------------------------

    def gc(self, referenced: set[str] | None = None, *,
           fresh_grace_s: float = FRESH_BLOB_GRACE_S,
           partial_max_age_s: float = PARTIAL_MAX_AGE_S) -> tuple[int, int]:
        """Delete blobs no model directory links and no caller names, and stale partials.

        A blob is kept if a materialised version's manifest lists it, if it is in
        ``referenced`` (e.g. the digests of running jobs), if another link shares its inode,
        or if this store received or adopted it less than ``fresh_grace_s`` ago and no
        version has linked it yet (only this process knows: after a restart, pass running
        jobs' digests). Returns (files removed, bytes freed).
        """
        now = time.time()
        removed = freed = 0
        with self._gc_lock:
            keep = set(referenced or ()) | self._manifest_digests() | self._fresh_digests(
                fresh_grace_s)
            for counts in (self._gc_build_dirs(now), self._gc_partials(now, partial_max_age_s),
                           self._gc_blobs(keep)):
                removed, freed = removed + counts[0], freed + counts[1]
        return removed, freed

    def _fresh_digests(self, grace_s: float) -> set[str]:
        now = time.monotonic()
        with self._guard:
            self._fresh = {d: t for d, t in self._fresh.items() if now - t < grace_s}
            return set(self._fresh)

    def _gc_blobs(self, keep: set[str]) -> tuple[int, int]:
        removed = freed = 0
        for entry in os.scandir(self.blobs_dir):
            digest = _digest_of_blob_name(entry.name)
            if digest is None or digest in keep:
                continue
            with self._lock(digest):
                try:
                    st = entry.stat()
                    if st.st_nlink > 1:
                        continue  # another name shares the inode: deleting frees nothing
                    os.unlink(entry.path)
                except FileNotFoundError:
                    continue
                removed, freed = removed + 1, freed + st.st_size
        return removed, freed

    def _gc_partials(self, now: float, max_age_s: float) -> tuple[int, int]:
        removed = freed = 0
        for entry in os.scandir(self.tmp_dir):
            digest = _digest_of_blob_name(entry.name.split(".", 1)[0])
            with self._guard:
                in_use = digest in self._receiving
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            if in_use or now - st.st_mtime < max_age_s:
                continue
            Path(entry.path).unlink(missing_ok=True)
            removed, freed = removed + 1, freed + allocated(st)
        return removed, freed

    def _gc_build_dirs(self, now: float) -> tuple[int, int]:
        removed = 0
        for entry in os.scandir(self.models_dir):
            if (entry.name.startswith(BUILD_PREFIX) and entry.name not in self._building
                    and now - entry.stat().st_mtime >= BUILD_DIR_MAX_AGE_S):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += 1
        return removed, 0  # their files are links: the bytes are freed with the blobs

    def _manifest_digests(self) -> set[str]:
        digests: set[str] = set()
        for path in self.models_dir.rglob(f".v*{MANIFEST_SUFFIX}"):
            manifest = read_json(path) or {}
            digests.update(f["digest"] for f in manifest.get("files", ()))
        return digests


# -- helpers --------------------------------------------------------------------------------------

def _digest_of_blob_name(name: str) -> str | None:
    if not name.startswith(BLOB_PREFIX):
        return None
    digest = PREFIX + name[len(BLOB_PREFIX):]
    return digest if is_digest(digest) else None


def _check_index(digest: str, size: int, index: PieceIndex) -> None:
    digest_hex(digest)
    if index.digest != digest or index.size != size:
        raise InvalidArgument(f"piece index is for {short(index.digest)} ({index.size} bytes), "
                              f"not {short(digest)} ({size} bytes)")


def _check_version(version: int) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise InvalidArgument(f"invalid version {version!r}: expected a whole number")
    return version


def _is_version_dir(part: str) -> bool:
    return len(part) > 1 and part[0] == "v" and part[1:].isdigit()


def _check_relative_paths(files: list) -> list[PurePosixPath]:
    """Each file's path as parts, refusing anything that could land outside its directory."""
    rels, seen = [], set()
    for f in files:
        digest_hex(f.digest)
        text = f.path
        parts = text.split("/")
        if (not text or "\\" in text or "\0" in text or PurePosixPath(text).is_absolute()
                or PureWindowsPath(text).drive or any(p in ("", ".", "..") for p in parts)):
            raise InvalidArgument(f"invalid file path {text!r} in a model: must be relative, "
                                  "'/'-separated, without '..' or empty parts")
        if text in seen:
            raise InvalidArgument(f"file path {text!r} appears twice in a model")
        seen.add(text)
        rels.append(PurePosixPath(text))
    return rels


def _manifest(files: list) -> dict:
    return {"files": sorted(({"path": f.path, "size": int(f.size), "digest": f.digest}
                             for f in files), key=lambda e: e["path"])}


def _manifest_path(model_dir: Path) -> Path:
    return model_dir.parent / f".{model_dir.name}{MANIFEST_SUFFIX}"


def _intact(model_dir: Path, files: list, rels: list[PurePosixPath]) -> bool:
    for f, rel in zip(files, rels):
        try:
            if model_dir.joinpath(*rel.parts).stat().st_size != f.size:
                return False
        except OSError:
            return False
    return True


def _prune_empty_parents(path: Path, stop: Path) -> None:
    while path != stop and path.is_relative_to(stop):
        try:
            path.rmdir()
        except OSError:
            return
        path = path.parent


def _fsync_tree_dirs(root: Path) -> None:
    for dirpath, _, _ in os.walk(root):
        fsync_dir(Path(dirpath))
