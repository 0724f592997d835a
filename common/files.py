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


def atomic_write(path: str | os.PathLike, data: bytes | str, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8), atomically and durably; a new
    file gets ``mode`` (0o600 for secrets)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with replacing(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
