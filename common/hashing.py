"""Content identity: file digests and version (manifest) digests.

A file is ``sha256:<hex>`` of its bytes. A version's digest is the sha256 of its
canonical manifest: one line ``<relative path>\\t<size>\\t<file digest>\\n`` per file,
sorted by path, with '/' separators whatever the host's path syntax, so the same
bytes on Windows and on a Mac are one version.
"""
from __future__ import annotations

import hashlib
import os
from typing import Iterable, Protocol

READ_CHUNK = 4 * 1024 * 1024  # large reads: hashlib releases the GIL on big updates
PREFIX = "sha256:"


class ManifestEntry(Protocol):
    path: str
    size: int
    digest: str


def format_digest(hex_digest: str) -> str:
    return PREFIX + hex_digest


def is_digest(text: str) -> bool:
    return (isinstance(text, str) and text.startswith(PREFIX) and len(text) == 71
            and all(c in "0123456789abcdef" for c in text[7:]))


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
