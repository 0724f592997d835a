"""Pulling a model from an OCI/Ollama registry into the agent's store, piece by piece.

A registry publishes one digest per blob, no piece hashes. So a blob is fetched in pieces by
HTTP Range into the store's ``tmp/sha256-<hex>.partial`` (the same place and names the store's
PartialBlob uses, so leftovers are kept for resuming and gc'd alike); each piece's hash as
received is recorded durably in the ``.state`` beside it (``"hub": true``) once the piece is
fdatasync'd, so a restarted agent fetches only the pieces it has not got. At the end the whole
file must match the blob's digest before it is renamed into ``blobs/``. When it does not, the
pieces are fetched again one by one and compared with what was recorded: the piece that differs
is the bad one and only it is rewritten. Bytes that never matched are never published.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from llmesh.agent.hubs.oci import Manifest, Registry
from llmesh.agent.store.blob_io import digest_hex, hash_range, os_error, read_json
from llmesh.agent.store.blobs import BlobStore
from llmesh.common.errors import AlreadyExists, FailedPrecondition
from llmesh.common.files import atomic_write, fsync_dir
from llmesh.common.hashing import format_digest
from llmesh.common.platform import binary_flags, fdatasync, preallocate, pwrite
from llmesh.common.units import short_digest as short

HUB_PIECE_SIZE = 64 * 1024 * 1024
STATE_VERSION = 1

Progress = Callable[[int, int], None]  # (bytes newly verified or reused, bytes that came over the wire)


@dataclass
class PullStats:
    bytes_total: int = 0
    bytes_received: int = 0
    bytes_reused: int = 0
    pieces_fetched: int = 0
    pieces_refetched: int = 0
    bad_pieces: list = field(default_factory=list)


class RegistryBlobFetch:
    """One blob from a registry into the store, resumable and verified. ``registry`` is anything
    with ``blob_range(digest, start, length)`` and a ``name`` for messages: a Registry, or one
    file of a Hugging Face repo (hf_fetch.HubFileSource)."""

    def __init__(self, store: BlobStore, registry: Registry, digest: str, size: int, *,
                 piece_size: int = HUB_PIECE_SIZE, progress: Progress | None = None,
                 stats: PullStats | None = None):
        self.store, self.registry = store, registry
        self.digest, self.size, self.piece_size = digest, size, piece_size
        self.progress = progress or (lambda done, received: None)
        self.stats = stats or PullStats()
        self.path = store.partial_path(digest)
        self.state_path = self.path.with_suffix(".state")
        self.count = max(1, -(-size // piece_size))

    def run(self) -> Path:
        if self.store.has(self.digest):
            self.stats.bytes_reused += self.size
            self.progress(self.size, 0)
            return self.store.blob_path(self.digest)
        pieces = self._load_state()
        try:
            fd = os.open(self.path, binary_flags(os.O_RDWR | os.O_CREAT), 0o644)
        except OSError as e:
            raise os_error(e, f"creating {self.path}") from None
        try:
            if not pieces or os.fstat(fd).st_size != self.size:
                pieces = {}
                os.ftruncate(fd, 0)
                preallocate(fd, self.size)
            self.progress(sum(self._length(i) for i in pieces), 0)
            for i in range(self.count):
                if i not in pieces:
                    pieces[i] = self._fetch_into(fd, i)
                    self._save_state(fd, pieces)
            if not self._whole_matches(fd):
                self._repair(fd, pieces)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.state_path.unlink(missing_ok=True)
        try:
            return self.store.publish(self.digest, self.path)
        except AlreadyExists:
            return self.store.blob_path(self.digest)

    def _length(self, i: int) -> int:
        return min(self.piece_size, self.size - i * self.piece_size)

    def _fetch_into(self, fd: int, i: int) -> str:
        start, length = i * self.piece_size, self._length(i)
        data = self.registry.blob_range(self.digest, start, length) if length else b""
        view = memoryview(data)
        offset = start
        try:
            while view:
                n = pwrite(fd, view, offset)
                view, offset = view[n:], offset + n
        except OSError as e:
            raise os_error(e, f"writing {self.path}") from None
        self.stats.pieces_fetched += 1
        self.stats.bytes_received += length
        self.progress(length, length)
        return format_digest(hashlib.sha256(data).hexdigest())

    def _whole_matches(self, fd: int) -> bool:
        return hash_range(fd, 0, self.size) == self.digest

    def _repair(self, fd: int, pieces: dict[int, str]) -> None:
        """Find the piece that came wrong by fetching pieces again and comparing; rewrite it."""
        for i in range(self.count):
            start, length = i * self.piece_size, self._length(i)
            fresh = self.registry.blob_range(self.digest, start, length) if length else b""
            self.stats.pieces_refetched += 1
            self.stats.bytes_received += length
            if format_digest(hashlib.sha256(fresh).hexdigest()) == pieces[i]:
                continue
            self.stats.bad_pieces.append(i)
            pieces[i] = self._fetch_into(fd, i)  # fetched once more: what comes now is kept
            self._save_state(fd, pieces)
            if self._whole_matches(fd):
                return
        self.path.unlink(missing_ok=True)
        self.state_path.unlink(missing_ok=True)
        raise FailedPrecondition(f"{self.registry.name} serves bytes for {short(self.digest)} that do "
                                 "not match that digest; nothing was kept")

    def _load_state(self) -> dict[int, str]:
        state = read_json(self.state_path) if self.path.exists() else None
        if not state or not state.get("hub") or state.get("version") != STATE_VERSION \
                or state.get("digest") != self.digest or state.get("piece_size") != self.piece_size:
            return {}
        return {int(k): v for k, v in (state.get("pieces") or {}).items() if int(k) < self.count}

    def _save_state(self, fd: int, pieces: dict[int, str]) -> None:
        fdatasync(fd)  # the pieces are durable before the state names them
        atomic_write(self.state_path, json.dumps({
            "version": STATE_VERSION, "hub": True, "digest": self.digest, "size": self.size,
            "piece_size": self.piece_size, "pieces": {str(k): v for k, v in sorted(pieces.items())}}))


def pull_manifest_blobs(store: BlobStore, registry: Registry, manifest: Manifest, *,
                        piece_size: int = HUB_PIECE_SIZE, progress: Progress | None = None,
                        stats: PullStats | None = None) -> dict[str, Path]:
    """Every blob of ``manifest`` into the store; digest -> its path in blobs/."""
    stats = stats or PullStats()
    stats.bytes_total = sum(b["size"] for b in manifest.blobs)
    store.ensure_space(sum(b["size"] for b in manifest.blobs if not store.has(b["digest"])))
    return {b["digest"]: RegistryBlobFetch(store, registry, b["digest"], b["size"], piece_size=piece_size,
                                           progress=progress, stats=stats).run()
            for b in manifest.blobs}


def link_or_copy(src: Path, dest: Path) -> None:
    """DEST becomes SRC's bytes at once: a hard link where the filesystem allows, else a copy."""
    tmp = dest.with_name(dest.name + ".llmesh-tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        copy_blob(src, tmp)
    os.replace(tmp, dest)


def copy_blob(src: Path, dest: Path) -> None:
    """Where a hard link is impossible (another file system, Windows shares)."""
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        while chunk := fin.read(8 * 1024 * 1024):
            fout.write(chunk)
        fout.flush()
        os.fsync(fout.fileno())


def place_in_ollama_store(models_dir: str | os.PathLike, parts: tuple[str, str, str, str], manifest: Manifest,
                          blobs: dict[str, Path]) -> Path:
    """Lay a pulled model out as Ollama keeps it (OLLAMA_MODELS): blobs/sha256-<hex> (hard links to
    the store's verified blobs, copies where links are impossible) and
    manifests/REGISTRY/NAMESPACE/MODEL/TAG holding the manifest as served; returns the manifest path."""
    root = Path(models_dir)
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    for digest, src in blobs.items():
        target = root / "blobs" / ("sha256-" + digest_hex(digest))
        if target.exists() and target.stat().st_size == src.stat().st_size:
            continue
        link_or_copy(src, target)
    fsync_dir(root / "blobs")
    manifest_path = root.joinpath("manifests", *parts)
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(manifest_path, manifest.raw)  # last: Ollama lists a model once its manifest is there
    return manifest_path
