"""What bytes this agent holds, by digest: its blob store, plus every file its last
scan found under its roots. Transfers reuse them, the Peer service serves them, and only
while their real paths lie under the roots or in the store (confinement.py)."""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

from llmesh.agent.inventory.confinement import Confinement
from llmesh.agent.inventory.hash_cache import HashCache
from llmesh.agent.inventory.scanner import ScanResult
from llmesh.agent.store.blobs import MANIFEST_SUFFIX, BlobStore
from llmesh.common.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from llmesh.common.hashing import manifest_digest
from llmesh.common.units import short_digest

log = logging.getLogger("llmesh.agent.holdings")


class Holdings:
    def __init__(self, store: BlobStore, roots: list[str], cache: HashCache):
        self.store = store
        self.roots = [os.path.realpath(r) for r in roots]
        self.cache = cache
        self.confinement = Confinement(roots)
        self.servable = Confinement([*roots, store.blobs_dir])  # what the Peer service may read
        self._by_digest: dict[str, tuple[str, int]] = {}
        self._found: dict[str, str] = {}  # real path of each model the last scan found -> its digest

    def update(self, result: ScanResult) -> None:
        """Index the files of a finished scan by digest, and its models by path."""
        index = {}
        for model in result.models:
            for f in model.files:
                path = _file_path(model, f.path, f.digest)
                if path:
                    index.setdefault(f.digest, (path, f.size))
        self._by_digest = index
        self._found = {os.path.realpath(m.path): m.digest for m in result.models}

    def local_file(self, digest: str) -> str | None:
        """A file under the roots with these bytes, if it is still there unchanged in size."""
        found = self._by_digest.get(digest)
        if found is None:
            return None
        path, size = found
        try:
            self.confinement.check_file(path)
            return path if os.stat(path).st_size == size else None
        except (OSError, PermissionDenied):  # gone, or swapped for a link since the scan
            return None

    def locate(self, digest: str) -> str | None:
        if self.store.has(digest):
            return str(self.store.blob_path(digest))
        return self.local_file(digest)

    def open_held(self, digest: str) -> tuple[str, int]:
        """(path, read-only descriptor) of a file holding ``digest``, for the Peer service:
        NotFound, PermissionDenied if its real path is outside the roots and the store when it
        is opened, or OSError."""
        path = self.locate(digest)
        if path is None:
            raise NotFound(f"this host holds no file with digest {short_digest(digest)}…")
        try:
            return path, self.servable.open(path)
        except PermissionDenied as exc:
            log.warning("refused to serve %s: %s", short_digest(digest), exc)
            # The caller learns nothing of this host's paths.
            raise PermissionDenied(f"this host does not serve {short_digest(digest)}…: its file "
                                   "lies outside the model roots") from None

    def remember_digests(self, model_dir: str, files) -> None:
        """Files a transfer just verified need no hashing by the next scan."""
        for f in files:
            path = Path(model_dir) / f.path
            try:
                self.cache.put(os.stat(path), f.digest, path)
            except OSError:
                pass

    def check_under_roots(self, path: Path) -> Path:
        real = os.path.realpath(path)
        if not self.confinement.holds(real):
            raise InvalidArgument(f"{path} is not under any model root of this host ({', '.join(self.roots)})")
        return Path(real)

    def remove_copy(self, path: str, digest: str, inspect: Callable[[str], object] | None = None) -> None:
        """Delete a copy's files: a store directory (its blobs are then collected), or a
        model folder or file under a root. Only what this agent itself knows to hold the
        version ``digest`` at that path (its store manifest, its last scan, or ``inspect``
        of the path now) is deleted: a registry record alone never names what to delete."""
        if not digest:
            raise InvalidArgument(f"refusing to delete {path}: the request does not say which version it holds")
        real = os.path.realpath(path)
        store_models = os.path.realpath(self.store.models_dir)
        if real.startswith(store_models + os.sep):
            name_and_version = Path(real).relative_to(store_models)
            name, version = "/".join(name_and_version.parts[:-1]), name_and_version.parts[-1]
            if not version.startswith("v") or not version[1:].isdigit():
                raise InvalidArgument(f"{path} is not a model directory of the store")
            self._check_holds(path, digest, _store_digest(Path(real)))
            self.store.remove_model(name, int(version[1:]))
            self.store.gc()
            return
        self.check_under_roots(Path(path))
        if real in self.roots:
            raise FailedPrecondition(f"refusing to delete the model root {path} itself")
        if not os.path.exists(real):
            raise NotFound(f"{path} does not exist on this host")
        held = self._found.get(real)
        if held != digest and inspect is not None:  # found since the last scan (a pull into a root)
            try:
                found = inspect(real)
                if os.path.realpath(found.path) == real:
                    held = found.digest
            except InvalidArgument:
                pass
        self._check_holds(path, digest, held)
        if os.path.isdir(real):
            shutil.rmtree(real)
        else:
            os.unlink(real)
        log.info("deleted the copy at %s", path)


    @staticmethod
    def _check_holds(path: str, digest: str, held: str | None) -> None:
        if held != digest:
            now = f"holds {short_digest(held)}" if held else "is not a model this host found there"
            raise FailedPrecondition(f"refusing to delete {path}: it {now}, not {short_digest(digest)} "
                                     "(this host deletes only what it holds for that version)")


def _store_digest(model_dir: Path) -> str | None:
    """The version digest a store directory's manifest records (None without one)."""
    try:
        manifest = json.loads((model_dir.parent / f".{model_dir.name}{MANIFEST_SUFFIX}").read_text())
        return manifest_digest(SimpleNamespace(**f) for f in manifest["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _file_path(model, relative: str, digest: str) -> str | None:
    if model.source == "ollama":  # layers live in the store's blobs/, named by digest
        parts = Path(model.path).parts
        if "manifests" not in parts:
            return None
        return str(Path(*parts[:parts.index("manifests")]) / "blobs" / digest.replace(":", "-"))
    if os.path.isfile(model.path):
        return model.path
    return os.path.join(model.path, *relative.split("/"))
