"""A Windows-shaped interpreter, for tests (a STAND-IN: CI has no Windows).

With LLMESH_WINDOWS_SHAPED=1 and this folder on PYTHONPATH, every Python process started so
(coordinator, agents, meshctl, the llama.cpp servers they start) loses the POSIX-only functions
Windows' Python does not have, and its asyncio loops refuse signal handlers the way Windows'
do, so llmesh's fallbacks (llmesh.common.platform) are what runs. Each process appends its pid
to LLMESH_WINDOWS_SHAPED_MARKER, so a test can tell that this ran in it.
"""
import os

REMOVED = ("pread", "pwrite", "preadv", "pwritev", "posix_fallocate", "posix_fadvise", "killpg", "setsid",
           "fdatasync", "getloadavg")

if os.environ.get("LLMESH_WINDOWS_SHAPED") == "1":
    for _name in REMOVED:
        if hasattr(os, _name):
            delattr(os, _name)

    import asyncio.unix_events

    def _add_signal_handler(self, sig, callback, *args):
        raise NotImplementedError("Windows event loops have no add_signal_handler")

    asyncio.unix_events._UnixSelectorEventLoop.add_signal_handler = _add_signal_handler

    _marker = os.environ.get("LLMESH_WINDOWS_SHAPED_MARKER")
    if _marker:
        _fd = os.open(_marker, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(_fd, f"{os.getpid()}\n".encode())
        finally:
            os.close(_fd)
