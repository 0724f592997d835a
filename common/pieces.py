"""Piece indexes: a file cut into fixed-size pieces, each with its own hash.

A transfer verifies every piece as it lands, re-fetches only a bad piece, resumes from the
verified pieces and can take different pieces from different holders. The index is computed
in the same pass over the file as the file's digest, so its piece hashes are exactly as
trustworthy as the digest itself. Pieces are hashed with BLAKE3 where this host has it (about
twice sha256's speed: what a destination spends verifying every byte it receives), else sha256;
the index says which, and its id covers that. The file's digest stays sha256 either way.

A 0-byte file has no pieces; the last piece of a file is short unless the size is an exact
multiple of the piece size.
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from llmesh.common.errors import InvalidArgument
from llmesh.common.hashing import (
    SHA256,
    check_piece_hash,
    format_digest,
    format_piece_hash,
    is_digest,
    is_piece_hash,
    new_piece_hasher,
    preferred_piece_hash,
)

MiB = 1024 * 1024
PIECE_SIZE = 64 * MiB
# The piece sizes a transfer may use. A source hashes a file into pieces on request: a tiny piece
# size would make it build (and keep) an index larger than the file itself.
PIECE_SIZES = tuple(MiB << shift for shift in range(9))  # 1 MiB, 2 MiB, ... 256 MiB
READ_SIZE = 8 * MiB
# Below this, a helper thread for the whole-file hash costs more than it saves.
THREADED_HASH_MIN_SIZE = 32 * MiB


def piece_count(size: int, piece_size: int = PIECE_SIZE) -> int:
    _check_geometry(size, piece_size)
    return -(-size // piece_size)


def piece_range(index: int, size: int, piece_size: int = PIECE_SIZE) -> tuple[int, int]:
    """(offset, length) of piece ``index`` of a ``size``-byte file."""
    count = piece_count(size, piece_size)
    if not 0 <= index < count:
        raise InvalidArgument(f"piece {index} out of range: the file has {count} pieces")
    offset = index * piece_size
    return offset, min(piece_size, size - offset)


def check_piece_size(piece_size: int) -> int:
    """``piece_size`` if transfers may use it, else InvalidArgument naming the allowed sizes."""
    if piece_size not in PIECE_SIZES:
        allowed = ", ".join(f"{size // MiB} MiB" for size in PIECE_SIZES)
        raise InvalidArgument(f"invalid piece size {piece_size}: must be one of {allowed}")
    return piece_size


def _check_geometry(size: int, piece_size: int) -> None:
    if piece_size <= 0:
        raise InvalidArgument(f"invalid piece size {piece_size}: must be positive")
    if size < 0:
        raise InvalidArgument(f"invalid file size {size}: must not be negative")


@dataclass(frozen=True)
class PieceIndex:
    size: int
    piece_size: int
    hashes: tuple[str, ...]   # '<algorithm>:<hex>' of each piece, in file order
    digest: str               # 'sha256:<hex>' of the whole file
    algorithm: str = SHA256   # of the piece hashes: 'sha256' or 'blake3'

    def __post_init__(self):
        expected = piece_count(self.size, self.piece_size)
        if len(self.hashes) != expected:
            raise InvalidArgument(f"piece index of a {self.size}-byte file in pieces of "
                                  f"{self.piece_size} needs {expected} hashes, got "
                                  f"{len(self.hashes)}")
        check_piece_hash(self.algorithm)
        if not is_digest(self.digest):
            raise InvalidArgument(f"piece index holds an invalid digest {self.digest!r}")
        bad = next((h for h in self.hashes if not is_piece_hash(h, self.algorithm)), None)
        if bad is not None:
            raise InvalidArgument(f"piece index holds an invalid {self.algorithm} piece hash {bad!r}")

    @property
    def count(self) -> int:
        return len(self.hashes)

    def piece_range(self, index: int) -> tuple[int, int]:
        return piece_range(index, self.size, self.piece_size)

    @property
    def index_id(self) -> str:
        """'sha256:<hex>' of the canonical index: what a trusted record of it can name."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return format_digest(hashlib.sha256(text.encode()).hexdigest())

    def to_dict(self) -> dict:
        # "hash" only when not sha256: the ids of indexes made before BLAKE3 stay what they were.
        return {"size": self.size, "piece_size": self.piece_size, "digest": self.digest,
                "pieces": list(self.hashes), **({"hash": self.algorithm} if self.algorithm != SHA256 else {})}

    @classmethod
    def from_dict(cls, d: dict) -> "PieceIndex":
        try:
            return cls(size=int(d["size"]), piece_size=int(d["piece_size"]),
                       hashes=tuple(d["pieces"]), digest=d["digest"], algorithm=str(d.get("hash", SHA256)))
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidArgument(f"malformed piece index: {type(e).__name__}: {e}") from None


def compute_piece_index(path, piece_size: int = PIECE_SIZE, algorithm: str | None = None) -> PieceIndex:
    """Hash every piece of a file and the whole file in one pass over its bytes.

    Reads are aligned to piece boundaries and large; the whole-file sha256 of each buffer runs on
    a helper thread while this thread hashes the same buffer into its piece (hashlib and blake3
    release the GIL), so on two cores the pass costs about one sha256, not two. ``algorithm``
    of the pieces: this host's preferred one unless given.
    """
    with open(path, "rb", buffering=0) as f:
        return piece_index_of_file(f, piece_size, algorithm=algorithm)


def piece_index_of_file(f, piece_size: int = PIECE_SIZE, progress=None, algorithm: str | None = None) -> PieceIndex:
    """compute_piece_index of a file already open for reading in binary, unbuffered (a source
    opens its files itself, to check what it opened). ``progress(n)`` after each read."""
    _check_geometry(0, piece_size)
    algorithm = check_piece_hash(algorithm or preferred_piece_hash())
    size = os.fstat(f.fileno()).st_size
    if size < THREADED_HASH_MIN_SIZE:
        hashes, whole = _hash_pieces(f, size, piece_size, None, progress, algorithm)
    else:
        with ThreadPoolExecutor(1, thread_name_prefix="llmesh-piece-index") as helper:
            hashes, whole = _hash_pieces(f, size, piece_size, helper, progress, algorithm)
    return PieceIndex(size, piece_size, tuple(hashes), format_digest(whole.hexdigest()), algorithm)


def _hash_pieces(f, size: int, piece_size: int, helper, progress=None, algorithm: str = SHA256):
    whole = hashlib.sha256()
    # Two buffers: the helper may still hash one while the next read fills the other.
    buffers = [bytearray(min(READ_SIZE, piece_size, max(size, 1))) for _ in range(2)]
    pending, turn, hashes, offset = None, 0, [], 0
    while offset < size:
        piece = new_piece_hasher(algorithm)
        piece_end = min(offset + piece_size, size)
        while offset < piece_end:
            view = memoryview(buffers[turn])[:min(len(buffers[turn]), piece_end - offset)]
            n = f.readinto(view)
            if not n:
                name = "the file" if isinstance(f.name, int) else f.name  # opened from a descriptor
                raise InvalidArgument(f"{name}: file shrank while its piece index was made")
            view = view[:n]
            if pending is not None:
                pending.result()
            pending = helper.submit(whole.update, view) if helper else whole.update(view)
            piece.update(view)
            offset += n
            turn ^= 1
            if progress is not None:
                progress(n)
        hashes.append(format_piece_hash(algorithm, piece.hexdigest()))
    if pending is not None:
        pending.result()
    return hashes, whole
