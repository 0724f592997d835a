"""Disk I/O the blob store and the blobs it receives share: hashing a range of a file, durable
copies, read-only blobs, and one MeshError for a failed disk operation. (Positional reads and
writes and preallocation, which Windows does differently, are in llmesh.common.platform.)"""
from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

from llmesh.common.errors import FailedPrecondition, Internal, InvalidArgument, MeshError, ResourceExhausted
from llmesh.common.hashing import PREFIX, SHA256, format_piece_hash, is_digest, new_piece_hasher
from llmesh.common.pieces import READ_SIZE
from llmesh.common.platform import pread_into


class DigestMismatch(FailedPrecondition):
    """A received file failed its whole-file check.

    ``bad_pieces`` lists the pieces found corrupt on disk; they are missing again and only they
    need fetching. Empty means every piece matches the index but the index does not match the
    digest: the partial was discarded and the file must come from another holder.
    """

    def __init__(self, message: str, bad_pieces: list[int]):
        super().__init__(message)
        self.bad_pieces = bad_pieces


def digest_hex(digest: str) -> str:
    if not is_digest(digest):
        raise InvalidArgument(f"invalid digest {digest!r}: expected 'sha256:' and 64 hex digits")
    return digest[len(PREFIX):]


def os_error(e: OSError, doing: str) -> MeshError:
    """One MeshError for a failed disk operation: a full disk is not a bug, EIO may be."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return ResourceExhausted(f"disk full while {doing}: {e.strerror or e}")
    return Internal(f"I/O error while {doing}: {e.strerror or e}")


def make_read_only(path: Path) -> None:
    """Blobs are shared by every model directory that links them: editing one through a model
    directory must not be easy. Not on Windows, where read-only files cannot be deleted."""
    if os.name != "nt":
        path.chmod(0o444)


def read_json(path: Path):
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None


def copy_durably(src: Path, dest: Path) -> None:
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        shutil.copyfileobj(fin, fout, READ_SIZE)
        fout.flush()
        os.fsync(fout.fileno())


def allocated(st: os.stat_result) -> int:
    """Bytes a file occupies on disk (its size where the file system does not say)."""
    blocks = getattr(st, "st_blocks", None)
    return blocks * 512 if blocks is not None else st.st_size


def hash_range(fd: int, start: int, length: int, into=None, algorithm: str = SHA256) -> str:
    """sha256 (or the piece hash ``algorithm``) of ``length`` bytes of ``fd`` from ``start``
    (updating ``into`` if given)."""
    h = into if into is not None else new_piece_hasher(algorithm)
    buf = bytearray(min(READ_SIZE, max(length, 1)))
    end = start + length
    while start < end:
        view = memoryview(buf)[:min(len(buf), end - start)]
        n = pread_into(fd, view, start)
        if n <= 0:
            raise OSError(errno.EIO, "file shorter than expected")
        h.update(view[:n])
        start += n
    return format_piece_hash(algorithm, h.hexdigest())
