"""Writing a file so that a crash never leaves half of it: write beside it, fsync, rename it
over the old one, fsync the directory. The one way llmesh replaces files.

    atomic_write(path, json.dumps(data), mode=0o600)   # a small file, written here
    with replacing(out, suffix=".partial") as tmp:      # a large one, written by someone else
        writer.write(tmp)                               # (who flushes and fsyncs it)
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from llmesh.common.platform import binary_flags


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename or link in ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # Windows: directory entries are durable with the file system's journal
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def replacing(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """A temporary path beside ``path`` (``path`` + ``suffix``, or a unique name): when the
    block ends without error it replaces ``path`` and the directory is fsynced; when it fails
    the temporary file is removed. The block writes the file and fsyncs it if it must last."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + (suffix if suffix is not None else f".{uuid.uuid4().hex[:8]}.tmp"))
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def make_private(path: str | os.PathLike, *, directory: bool = False, create: bool = True) -> None:
    """Owner-only access: 0600 for a file (created empty if missing, so that it never exists
    with wider rights; with create=False a missing file stays missing), 0700 for a directory.
    POSIX modes only: on Windows a file's ACL comes from its (per-user) folder, and chmod could
    only toggle read-only."""
    if os.name != "posix":
        if directory:
            os.makedirs(path, exist_ok=True)
        return
    if directory:
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)
        return
    if create:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    try:
        os.chmod(path, 0o600)
    except FileNotFoundError:
        if create:
            raise


def atomic_write(path: str | os.PathLike, data: bytes | str, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8), atomically and durably; a new
    file gets ``mode`` (0o600 for secrets)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with replacing(path) as tmp:
        fd = os.open(tmp, binary_flags(os.O_WRONLY | os.O_CREAT | os.O_TRUNC), mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
