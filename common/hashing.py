"""Content identity: file digests and version (manifest) digests.

A file is ``sha256:<hex>`` of its bytes. A version's digest is the sha256 of its
canonical manifest: one line ``<relative path>\\t<size>\\t<file digest>\\n`` per file,
sorted by path, with '/' separators whatever the host's path syntax, so the same
bytes on Windows and on a Mac are one version.

Pieces of a transfer (common/pieces.py) may be hashed with BLAKE3 instead, where the `blake3`
package imports: about twice sha256's speed on one core, and it releases the GIL as hashlib does.
A file's own digest is always sha256.
"""
from __future__ import annotations

import hashlib
import os
from typing import Iterable, Protocol

from llmesh.common.errors import FailedPrecondition, InvalidArgument

try:  # the one place that imports it: everything else asks piece_hash_available()
    from blake3 import blake3 as _blake3
except ImportError:  # pragma: no cover - a host without the wheel pieces-hashes with sha256
    _blake3 = None

READ_CHUNK = 4 * 1024 * 1024  # large reads: hashlib releases the GIL on big updates
PREFIX = "sha256:"
SHA256, BLAKE3 = "sha256", "blake3"
PIECE_HASHES = (SHA256, BLAKE3)
# False where blake3 cannot be imported, or where use_blake3(False) said so (a test stand-in for
# an agent without it).
BLAKE3_AVAILABLE = _blake3 is not None


class ManifestEntry(Protocol):
    path: str
    size: int
    digest: str


def format_digest(hex_digest: str) -> str:
    return PREFIX + hex_digest


def is_digest(text: str) -> bool:
    return is_piece_hash(text, SHA256)  # a file's digest has a sha256 piece hash's shape


def use_blake3(enabled: bool) -> None:
    """Hash new piece indexes with BLAKE3 (where it imports) or not (sha256, as before it)."""
    global BLAKE3_AVAILABLE
    BLAKE3_AVAILABLE = enabled and _blake3 is not None


def piece_hash_available(algorithm: str) -> bool:
    return algorithm == SHA256 or (algorithm == BLAKE3 and BLAKE3_AVAILABLE)


def preferred_piece_hash() -> str:
    """What this process hashes new piece indexes with."""
    return BLAKE3 if BLAKE3_AVAILABLE else SHA256


def piece_hashes_accepted() -> list[str]:
    """The piece hashes this process can verify, the one it prefers first."""
    return [BLAKE3, SHA256] if BLAKE3_AVAILABLE else [SHA256]


def check_piece_hash(algorithm: str) -> str:
    if algorithm not in PIECE_HASHES:
        raise InvalidArgument(f"unknown piece hash {algorithm!r}: expected one of {', '.join(PIECE_HASHES)}")
    return algorithm


def new_piece_hasher(algorithm: str):
    """A hashlib-like object (update, hexdigest) for ``algorithm``; one thread: pieces hash in
    parallel with each other, not within."""
    if algorithm == SHA256:
        return hashlib.sha256()
    if check_piece_hash(algorithm) == BLAKE3 and BLAKE3_AVAILABLE:
        return _blake3(max_threads=1)
    raise FailedPrecondition("this host cannot verify BLAKE3 piece hashes: the blake3 package is not installed")


def format_piece_hash(algorithm: str, hex_digest: str) -> str:
    return f"{algorithm}:{hex_digest}"


def is_piece_hash(text: str, algorithm: str) -> bool:
    """``text`` is '<algorithm>:<64 lowercase hex>' (both hashes give 32 bytes)."""
    prefix = algorithm + ":"
    return (isinstance(text, str) and text.startswith(prefix) and len(text) == len(prefix) + 64
            and all(c in "0123456789abcdef" for c in text[len(prefix):]))


def hash_file(path, chunk_size: int = READ_CHUNK, *, progress=None) -> tuple[int, str]:
    """Return (size, digest) of a file's bytes, streaming.

    ``progress(n)`` is called after each chunk with the bytes just read; it may raise to abort.
    """
    h = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as f:
        # A small file gets a small buffer: zeroing 4 MiB costs more than hashing a config.json.
        expected = os.fstat(f.fileno()).st_size
        buf = bytearray(max(64 * 1024, min(chunk_size, expected + 1)))
        view = memoryview(buf)
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
            size += n
            if progress is not None:
                progress(n)
    return size, format_digest(h.hexdigest())


def canonical_manifest(entries: Iterable[ManifestEntry]) -> bytes:
    lines = sorted((e.path.replace("\\", "/"), int(e.size), e.digest) for e in entries)
    return "".join(f"{p}\t{s}\t{d}\n" for p, s, d in lines).encode("utf-8")


def manifest_digest(entries: Iterable[ManifestEntry]) -> str:
    return format_digest(hashlib.sha256(canonical_manifest(entries)).hexdigest())
