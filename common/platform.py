"""The one module that calls what only POSIX has: positional reads and writes, preallocation,
fdatasync, process groups and asyncio signal handlers. Every such call has its fallback here
(Windows, and macOS where it lacks one), and the rest of llmesh calls these functions instead;
tests/test_platform.py fails on a POSIX-only name used anywhere else.

The choice is made by what the interpreter has (``hasattr(os, "pread")``), not by the name of
the OS, at each call: a test interpreter with those functions removed runs the fallbacks on
Linux (tests/windows_shaped), which is how CI, with no Windows, keeps these paths honest.

    data = pread(fd, length, offset)         pwrite(fd, view, offset)
    preallocate(fd, size)                    fdatasync(fd)
    proc = start_in_group(command, stdout=log)   ...   stop_group(proc, timeout_s=10)
    restore = on_stop_signals(loop, stop.set)    ...   restore()
"""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import threading
import time
from typing import Callable

# -- files ---------------------------------------------------------------------------------------

# Windows locks a byte range, so lock one byte far past any text a lock file holds: others can
# still read who holds it.
_WINDOWS_LOCK_OFFSET = 1 << 20


def try_lock(fd: int) -> bool:
    """An exclusive lock on an open file, without waiting; False when another holds it. The OS
    drops it when the process ends, however it ends."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def unlock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:
        import msvcrt
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass  # closing the handle releases it as well
        return
    fcntl.flock(fd, fcntl.LOCK_UN)


def user_id() -> int | None:
    """The numeric user id where the OS has one (not Windows)."""
    return os.getuid() if hasattr(os, "getuid") else None


def is_superuser() -> bool | None:
    """Whether this process runs as root; None where the OS has no such notion (Windows)."""
    return os.geteuid() == 0 if hasattr(os, "geteuid") else None


# Without pread/pwrite a positional transfer is a seek and a read (or write) on the descriptor's
# one shared offset: one lock keeps another thread's seek from coming between them.
_SEEK_LOCK = threading.Lock()


def binary_flags(flags: int) -> int:
    """``os.open`` flags plus O_BINARY where it exists: without it Windows opens in text mode
    and turns every CR LF byte pair of a model file into LF."""
    return flags | getattr(os, "O_BINARY", 0)


def pread(fd: int, length: int, offset: int) -> bytes:
    """Up to ``length`` bytes of ``fd`` from ``offset`` (fewer at the end of the file)."""
    if hasattr(os, "pread"):
        return os.pread(fd, length, offset)
    with _SEEK_LOCK:
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, length)


def pread_into(fd: int, view: memoryview, offset: int) -> int:
    """Read into ``view`` from ``offset``; returns the bytes read (no copy where preadv exists)."""
    if hasattr(os, "preadv"):
        return os.preadv(fd, [view], offset)
    data = pread(fd, len(view), offset)
    view[:len(data)] = data
    return len(data)


def pwrite(fd: int, data, offset: int) -> int:
    """Write ``data`` at ``offset``; returns the bytes written (the caller loops on a short write)."""
    if hasattr(os, "pwrite"):
        return os.pwrite(fd, data, offset)
    with _SEEK_LOCK:
        os.lseek(fd, offset, os.SEEK_SET)
        return os.write(fd, data)


def preallocate(fd: int, size: int) -> None:
    """Reserve a file's blocks now, so that a full disk shows up before the first byte: with
    posix_fallocate where the file system supports it, else by setting the file's size (on
    NTFS that allocates the clusters; elsewhere the file is at least as long as it will be)."""
    if size == 0:
        return
    if hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(fd, 0, size)
            return
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
    os.ftruncate(fd, size)


# Direct I/O wants buffers, offsets and lengths aligned to the device's block: 4 KiB covers the
# disks in use (512-byte and 4 KiB sectors).
DIRECT_ALIGN = 4096


def open_direct(path, flags: int) -> int | None:
    """A second descriptor of ``path`` that writes past the page cache (O_DIRECT), or None where
    there is none (Windows, macOS, file systems that refuse it such as tmpfs). Writing bulk data
    that way skips a copy into the page cache that costs more CPU than the network on some VMs,
    and the bytes are on the disk when the write returns."""
    direct = getattr(os, "O_DIRECT", 0)
    if not direct:
        return None
    try:
        return os.open(path, flags | direct)
    except OSError:
        return None


def direct_buffer(size: int) -> memoryview:
    """A writable buffer aligned for direct I/O (anonymous memory maps start on a page)."""
    import mmap

    return memoryview(mmap.mmap(-1, max(size, DIRECT_ALIGN)))


def fdatasync(fd: int) -> None:
    """Make a file's data durable (fsync where there is no fdatasync: Windows, macOS)."""
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:
        os.fsync(fd)


# -- processes -----------------------------------------------------------------------------------

def _posix_groups() -> bool:
    return hasattr(os, "killpg") and hasattr(os, "setsid")


def start_in_group(command: list[str], **popen_kwargs) -> subprocess.Popen:
    """Start ``command`` in a process group of its own, so that stop_group() reaches whatever it
    spawns: a new session on POSIX, CREATE_NEW_PROCESS_GROUP on Windows (which is also what lets
    it receive CTRL_BREAK_EVENT without the agent receiving it too)."""
    if _posix_groups():
        popen_kwargs["start_new_session"] = True
    elif os.name == "nt":
        popen_kwargs["creationflags"] = (popen_kwargs.get("creationflags", 0)
                                         | subprocess.CREATE_NEW_PROCESS_GROUP)
    return subprocess.Popen(command, **popen_kwargs)


def group_alive(proc: subprocess.Popen) -> bool:
    """Whether anything of ``proc``'s group still runs. Without process groups: ``proc`` itself."""
    if _posix_groups():
        try:
            os.killpg(proc.pid, 0)
            return True
        except (ProcessLookupError, PermissionError):
            return False
    return proc.poll() is None


def stop_group(proc: subprocess.Popen, timeout_s: float = 10.0, kill_after_s: float = 5.0) -> None:
    """Ask ``proc`` and its group to stop, and kill whatever is left after ``timeout_s``.

    POSIX: SIGTERM to the group, then SIGKILL. Elsewhere the group is ``proc`` and its
    descendants as they are now (psutil): on Windows CTRL_BREAK_EVENT to the group (a console
    child shuts down cleanly), elsewhere terminate(); then each one still running is killed
    (TerminateProcess on Windows, as ``taskkill /T /F`` would)."""
    if _posix_groups():
        _stop_posix_group(proc, timeout_s, kill_after_s)
    else:
        _stop_tree(proc, timeout_s, kill_after_s)


def _stop_posix_group(proc: subprocess.Popen, timeout_s: float, kill_after_s: float) -> None:
    for sig, wait in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, kill_after_s)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=wait)
            # The leader is gone; others in its group may not be.
            if sig == signal.SIGTERM and group_alive(proc):
                continue
            return
        except subprocess.TimeoutExpired:
            continue


def _stop_tree(proc: subprocess.Popen, timeout_s: float, kill_after_s: float) -> None:
    import psutil

    try:
        # Taken before anything stops: an orphan can no longer be found from its parent.
        descendants = psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []
    except psutil.Error:
        descendants = []
    polite = True
    if os.name == "nt":
        try:
            proc.send_signal(signal.CTRL_BREAK_EVENT)  # the whole group: it was started in its own
        except OSError:
            polite = False  # no console to send it on (a service): only a hard stop is left
    else:
        _each(proc, descendants, "terminate")
    if polite:
        deadline = time.monotonic() + timeout_s
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pass
        descendants = _still_running(descendants, deadline - time.monotonic())
    _each(proc, descendants, "kill")
    try:
        proc.wait(timeout=kill_after_s)
    except subprocess.TimeoutExpired:
        pass
    _still_running(descendants, kill_after_s)


def _each(proc: subprocess.Popen, descendants: list, how: str) -> None:
    if proc.poll() is None:
        try:
            getattr(proc, how)()
        except OSError:
            pass
    for child in descendants:
        try:
            getattr(child, how)()
        except Exception:  # psutil.NoSuchProcess, AccessDenied: it is gone or not ours
            pass


def _still_running(processes: list, timeout_s: float) -> list:
    """Those of ``processes`` still running after up to ``timeout_s`` (a zombie has stopped:
    only its parent, not us, can reap it)."""
    deadline = time.monotonic() + max(0.0, timeout_s)
    while True:
        alive = [p for p in processes if _running(p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def _running(process) -> bool:
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def process_alive(pid: int) -> bool:
    """Whether a process with this pid runs (never ``os.kill(pid, 0)``: on Windows that kills it)."""
    import psutil

    try:
        return _running(psutil.Process(pid))
    except psutil.Error:
        return False


# -- signals -------------------------------------------------------------------------------------

def stop_signals() -> tuple[int, ...]:
    """The signals that ask a long-running command to stop: SIGINT (Ctrl+C), SIGTERM (service
    managers on POSIX), and SIGBREAK where it exists (Ctrl+Break, a Windows console closing)."""
    return tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGBREAK", None))
                 if s is not None)


def on_stop_signals(loop, callback: Callable[[], None]) -> Callable[[], None]:
    """Run ``callback`` on ``loop`` when a stop signal arrives; returns a function that puts the
    previous handlers back. ``loop.add_signal_handler`` where it works; where it raises
    NotImplementedError (Windows' event loops), ``signal.signal`` with a handler that hands the
    callback to the loop thread-safely. Call it from the main thread."""
    undo: list[Callable[[], object]] = []

    def from_signal(signum, frame) -> None:
        try:
            loop.call_soon_threadsafe(callback)
        except RuntimeError:  # the loop is closed already
            pass

    for sig in stop_signals():
        try:
            loop.add_signal_handler(sig, callback)
            undo.append(lambda sig=sig: loop.remove_signal_handler(sig))
            continue
        except (NotImplementedError, RuntimeError):
            pass
        try:
            previous = signal.signal(sig, from_signal)
        except (ValueError, OSError):  # not the main thread, or a signal this OS cannot catch
            continue
        undo.append(lambda sig=sig, previous=previous: signal.signal(sig, previous))

    def restore() -> None:
        for step in reversed(undo):
            try:
                step()
            except (ValueError, OSError, RuntimeError):
                pass
    return restore
