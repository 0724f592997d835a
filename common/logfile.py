"""The rotating log file of `agent run` and `coordinator serve` (beside stderr), and reading
it back for `meshctl agent logs` / `coordinator logs`.

The file and its rotated copies are 0600: logs name hosts, paths and addresses, and a
service's logs sit in a home that other users of the machine may be able to list.
"""
from __future__ import annotations

import logging
import os
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Iterator

from llmesh.common.errors import InvalidArgument
from llmesh.common.files import make_private

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUPS = 5
LOG_DIR = "logs"


def default_log_file(home: Path, kind: str) -> Path:
    """HOME/logs/agent.log, HOME/logs/coordinator.log."""
    return home / LOG_DIR / f"{kind}.log"


class PrivateRotatingFileHandler(RotatingFileHandler):
    """A RotatingFileHandler whose files, the first and every one after a rotation, are 0600."""

    def _open(self):
        make_private(self.baseFilename)
        return super()._open()


def add_file_handler(path: Path, max_bytes: int = DEFAULT_MAX_BYTES, backups: int = DEFAULT_BACKUPS,
                     formatter: logging.Formatter | None = None) -> logging.Handler:
    """Log the root logger to ``path`` too, rotating at ``max_bytes`` and keeping ``backups`` old files."""
    if max_bytes < 1024:
        raise InvalidArgument(f"--log-max-bytes {max_bytes}: must be at least 1024")
    if backups < 1:
        raise InvalidArgument(f"--log-backups {backups}: must be at least 1")
    path = Path(path).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = PrivateRotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    except OSError as exc:
        raise InvalidArgument(f"cannot write the log file {path}: {exc.strerror or exc}") from None
    handler.setFormatter(formatter or logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    return handler


def tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of a log, reaching back into its rotated copies (path.1, path.2, …)
    when the current file has fewer."""
    out: list[str] = []
    for n in range(0, 1000):
        part = path if n == 0 else path.with_name(f"{path.name}.{n}")
        if len(out) >= lines or not part.is_file():
            break
        out = _tail_one(part, lines - len(out)) + out
    return out


def _tail_one(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of one file (read from the end: a log can be large)."""
    if lines <= 0:
        return []
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        end = f.tell()
        block, data = 64 * 1024, b""
        while end > 0 and data.count(b"\n") <= lines:
            start = max(0, end - block)
            f.seek(start)
            data = f.read(end - start) + data
            end = start
    return data.decode("utf-8", errors="replace").splitlines()[-lines:]


def follow(path: Path, interval: float = 0.5) -> Iterator[str]:
    """Lines appended to ``path`` from now on, across rotations (a new file at the same path)."""
    f = open(path, "rb")
    f.seek(0, os.SEEK_END)
    identity = os.fstat(f.fileno())
    pending = b""
    try:
        while True:
            chunk = f.read()
            if chunk:
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    yield line.decode("utf-8", errors="replace")
                continue
            time.sleep(interval)
            try:
                now = os.stat(path)
            except FileNotFoundError:
                continue  # between the rename and the new file
            if (now.st_ino, now.st_dev) != (identity.st_ino, identity.st_dev) or now.st_size < f.tell():
                f.close()
                f = open(path, "rb")
                identity = os.fstat(f.fileno())
    finally:
        f.close()
