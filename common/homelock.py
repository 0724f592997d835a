"""One process per home: an exclusive lock on a file in it, held open while the process runs.

`meshctl up` and `coordinator serve` lock LLMESH_HOME (they own its coordinator.json and
registry); `up` and `agent run` lock the agent's home (its identity, store, hash cache). The
operating system drops the lock when the process ends, however it ends, so a killed process
never leaves a stale lock behind; the file itself stays (removing it would race a newcomer).

The file holds the holder's pid and command, for the refusal message. POSIX locks the whole
file with flock; Windows locks one byte far past the text (msvcrt.locking locks a byte range,
and a locked range cannot be read), so others can still read who holds it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from llmesh.common.config import ENDPOINT_FILE, read_endpoint
from llmesh.common.errors import FailedPrecondition
from llmesh.common.platform import try_lock, unlock

COORDINATOR_LOCK = "coordinator.lock"  # in LLMESH_HOME, next to coordinator.json
AGENT_LOCK = "agent.lock"              # in the agent's home


class HomeLock:
    """``HomeLock.acquire(folder, file, command)``; released by ``release()`` or process exit."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, folder: Path, file: str, command: str) -> "HomeLock":
        """Lock ``folder/file`` or raise FailedPrecondition naming the holder; creates the folder
        and the file only, and changes nothing else, when the lock is held by another."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / file
        try:  # never O_TRUNC: the holder's text stays for the next one to read
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
        except OSError as exc:
            raise FailedPrecondition(f"cannot lock {path}: {exc.strerror or exc}") from None
        try:
            locked = try_lock(fd)
        except BaseException:
            os.close(fd)
            raise
        if not locked:
            os.close(fd)
            other = "use another LLMESH_HOME" if file == COORDINATOR_LOCK else "give this agent another --home"
            raise FailedPrecondition(f"{_holder(path)} for {folder}: stop it first, or {other}")
        lock = cls(path, fd)
        lock._record({"pid": os.getpid(), "command": command})
        return lock

    def _record(self, data: dict) -> None:
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.ftruncate(self._fd, 0)
        os.write(self._fd, json.dumps(data).encode())

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> "HomeLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _holder(path: Path) -> str:
    """'meshctl up is already running at ADDR (pid N)', from the lock file and, for a coordinator,
    its endpoint file (the address is known once it listens)."""
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        data = {}
    data = data if isinstance(data, dict) else {}
    pid = data.get("pid")
    what = f"meshctl {data['command']}" if data.get("command") else "another llmesh process"
    address = ""
    if path.name == COORDINATOR_LOCK:
        endpoint = read_endpoint(path.parent / ENDPOINT_FILE)
        if endpoint.get("pid") == pid:
            address = str(endpoint.get("address") or "")
    return f"{what} is already running" + (f" at {address}" if address else "") + (f" (pid {pid})" if pid else "")
