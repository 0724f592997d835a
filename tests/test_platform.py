"""llmesh.common.platform, the one module allowed POSIX-only calls, and the rule that keeps it so.

CI has no Windows. What keeps the Windows path honest is, together:
- a static check (ast) that fails on any POSIX-only call outside common/platform.py;
- unit tests of platform.py both ways: the real POSIX calls, and the fallbacks with the POSIX
  functions removed (monkeypatch);
- a Windows-shaped run (tests/test_windows_shaped.py): a real coordinator and two real agents
  whose interpreter has the POSIX-only functions removed and asyncio signal handlers refused
  move a model, deploy it with llama.cpp, undeploy it and stop.
"""
from __future__ import annotations

import ast
import asyncio
import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading

import psutil
import pytest
from harness import REPO, wait_for
from test_windows_shaped import shaped_env

from llmesh.common import platform

PRODUCT = ("agent", "coordinator", "cli", "common", "sdk")
PLATFORM_MODULE = REPO / "common" / "platform.py"

# What Windows' Python lacks (or, for os.kill(pid, 0), does something else with: it kills).
POSIX_ONLY_OS = {"pread", "pwrite", "preadv", "pwritev", "posix_fallocate", "posix_fadvise", "killpg",
                 "setsid", "setpgrp", "setpgid", "getpgid", "getpgrp", "fdatasync", "fork", "forkpty",
                 "getuid", "geteuid", "getgid", "getegid", "chown", "fchown", "lchown", "statvfs",
                 "fstatvfs", "sched_getaffinity", "mkfifo", "wait3", "wait4", "kill"}
SIGNALS_EVERYWHERE = {"SIGINT", "SIGTERM", "SIGABRT", "SIGFPE", "SIGILL", "SIGSEGV", "SIG_DFL", "SIG_IGN"}
POSIX_ONLY_SIGNAL_FUNCTIONS = {"alarm", "setitimer", "getitimer", "pause", "pthread_kill", "pthread_sigmask",
                               "sigwait", "sigwaitinfo", "sigtimedwait", "siginterrupt", "sigpending"}
POSIX_ONLY_MODULES = {"fcntl", "pwd", "grp", "termios", "tty", "pty", "resource", "posix"}
POSIX_ONLY_KEYWORDS = {"start_new_session", "preexec_fn", "process_group"}
LOOP_SIGNAL_METHODS = {"add_signal_handler", "remove_signal_handler"}


# -- the static check ----------------------------------------------------------------------------

def posix_only_uses(source: str, filename: str = "<snippet>") -> list[str]:
    """Each POSIX-only use in ``source`` as 'file:line: what'. ``hasattr`` (a guard) is allowed;
    an attribute, ``from os import``, ``getattr(os, "...")``, a keyword (or its name as a
    string) or a module is not."""
    tree = ast.parse(source, filename)
    modules: dict[str, str] = {}  # local name -> "os" / "signal"
    found = []

    def flag(node, what):
        found.append(f"{filename}:{node.lineno}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in POSIX_ONLY_MODULES:
                    flag(node, f"import {alias.name}")
                if alias.name in ("os", "signal"):
                    modules[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and not node.level:
            if (node.module or "").split(".")[0] in POSIX_ONLY_MODULES:
                flag(node, f"from {node.module} import")
            for alias in node.names:
                if _posix_only(node.module or "", alias.name):
                    flag(node, f"from {node.module} import {alias.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id in modules \
                    and _posix_only(modules[node.value.id], node.attr):
                flag(node, f"{modules[node.value.id]}.{node.attr}")
            elif node.attr in LOOP_SIGNAL_METHODS:
                flag(node, f".{node.attr}")
        elif isinstance(node, ast.keyword) and node.arg in POSIX_ONLY_KEYWORDS:
            found.append(f"{filename}:{node.value.lineno}: {node.arg}=")
        elif isinstance(node, ast.Constant) and node.value in POSIX_ONLY_KEYWORDS:  # Popen(**{...})
            flag(node, f"{node.value}=")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
              and len(node.args) >= 2 and isinstance(node.args[0], ast.Name) and node.args[0].id in modules
              and isinstance(node.args[1], ast.Constant)
              and _posix_only(modules[node.args[0].id], str(node.args[1].value))):
            flag(node, f"getattr({node.args[0].id}, {node.args[1].value!r})")
    return found


def _posix_only(module: str, name: str) -> bool:
    if module == "os":
        return name in POSIX_ONLY_OS
    if module == "signal":
        return (name.startswith(("SIG", "CTRL_")) and name not in SIGNALS_EVERYWHERE) \
            or name in POSIX_ONLY_SIGNAL_FUNCTIONS
    return False


def test_no_posix_only_call_outside_the_platform_module():
    found = []
    for folder in PRODUCT:
        for path in sorted((REPO / folder).rglob("*.py")):
            if path != PLATFORM_MODULE and "__pycache__" not in path.parts:
                found += posix_only_uses(path.read_text(), str(path.relative_to(REPO)))
    assert not found, ("POSIX-only calls outside common/platform.py (use llmesh.common.platform, "
                       "which has their Windows fallbacks):\n" + "\n".join(found))


def test_the_platform_module_is_where_they_are():
    uses = "\n".join(posix_only_uses(PLATFORM_MODULE.read_text(), "platform.py"))
    for name in ("os.pread", "os.pwrite", "os.preadv", "os.posix_fallocate", "os.killpg", "os.fdatasync",
                 "signal.SIGKILL", "start_new_session=", ".add_signal_handler"):
        assert name in uses, name


@pytest.mark.parametrize("snippet, what", [
    ("import os\nos.pread(fd, 1, 0)", "os.pread"),
    ("import os\nos.preadv(fd, [b], 0)", "os.preadv"),
    ("import os as o\no.pwrite(fd, b, 0)", "os.pwrite"),
    ("import os\nos.pwritev(fd, [b], 0)", "os.pwritev"),
    ("import os\nos.posix_fallocate(fd, 0, 9)", "os.posix_fallocate"),
    ("import os\nos.killpg(pid, 15)", "os.killpg"),
    ("import os\nos.setsid()", "os.setsid"),
    ("import os\nos.fdatasync(fd)", "os.fdatasync"),
    ("import os\nos.kill(pid, 0)", "os.kill"),
    ("from os import pread", "from os import pread"),
    ("import os\nf = getattr(os, 'killpg')", "getattr(os, 'killpg')"),
    ("import signal\nsignal.SIGKILL", "signal.SIGKILL"),
    ("import signal\nsignal.SIGHUP", "signal.SIGHUP"),
    ("import signal\nsignal.SIGBREAK", "signal.SIGBREAK"),
    ("import signal\nsignal.alarm(1)", "signal.alarm"),
    ("from signal import SIGKILL", "from signal import SIGKILL"),
    ("import subprocess\nsubprocess.Popen(c, start_new_session=True)", "start_new_session="),
    ("import subprocess\nsubprocess.Popen(c, preexec_fn=f)", "preexec_fn="),
    ("import subprocess\nsubprocess.Popen(c, **{'start_new_session': True})", "start_new_session="),
    ("def f(loop, s):\n    loop.add_signal_handler(s, print)", ".add_signal_handler"),
    ("import fcntl", "import fcntl"),
])
def test_the_static_check_finds_each_kind_of_use(snippet, what):
    found = posix_only_uses(snippet)
    assert found and what in found[0], found


def test_the_static_check_lets_guards_and_portable_calls_through():
    assert posix_only_uses(textwrap.dedent("""
        import os, signal, subprocess
        if hasattr(os, "pread"):
            pass
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.SIGINT
        os.fsync(fd); os.lseek(fd, 0, os.SEEK_SET); os.getpid()
        subprocess.Popen(c, stdin=subprocess.DEVNULL)
        flags = getattr(os, "O_BINARY", 0)
    """)) == []


# -- files, both ways -----------------------------------------------------------------------------

def _no(monkeypatch, *names):
    """The fallback path: these os functions removed, as on Windows."""
    for name in names:
        monkeypatch.delattr(os, name, raising=False)


@pytest.fixture(params=["posix", "fallback"])
def way(request, monkeypatch):
    if request.param == "fallback":
        _no(monkeypatch, "pread", "pwrite", "preadv", "posix_fallocate", "fdatasync")
    return request.param


@pytest.fixture
def fd(tmp_path):
    fd = os.open(tmp_path / "blob", platform.binary_flags(os.O_RDWR | os.O_CREAT), 0o644)
    yield fd
    os.close(fd)


def test_positional_reads_and_writes(way, fd):
    assert platform.pwrite(fd, b"world", 6) == 5
    assert platform.pwrite(fd, memoryview(b"hello "), 0) == 6
    assert platform.pread(fd, 5, 6) == b"world"
    assert platform.pread(fd, 100, 8) == b"rld"  # short at the end
    assert platform.pread(fd, 5, 100) == b""
    buf = bytearray(5)
    assert platform.pread_into(fd, memoryview(buf), 0) == 5 and bytes(buf) == b"hello"
    assert platform.pread_into(fd, memoryview(buf), 9) == 2 and bytes(buf[:2]) == b"ld"
    assert os.lseek(fd, 0, os.SEEK_END) == 11


def test_positional_io_from_many_threads_lands_where_asked(way, fd):
    """The fallback seeks then transfers: without its lock, threads would write and read at
    each other's offsets."""
    block, count = 4096, 64
    chunks = [bytes([i]) * block for i in range(count)]

    def write(i):
        for _ in range(3):
            platform.pwrite(fd, chunks[i], i * block)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reads = [None] * count

    def read(i):
        reads[i] = platform.pread(fd, block, i * block)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reads == chunks


def test_preallocate_makes_the_file_its_size(way, fd):
    platform.preallocate(fd, 0)
    assert os.fstat(fd).st_size == 0
    platform.preallocate(fd, 3 * 1024 * 1024)
    assert os.fstat(fd).st_size == 3 * 1024 * 1024


def test_preallocate_falls_back_where_the_file_system_cannot_and_reports_a_full_disk(monkeypatch, fd):
    def unsupported(fd, offset, size):
        raise OSError(errno.EOPNOTSUPP, "not here")
    monkeypatch.setattr(os, "posix_fallocate", unsupported, raising=False)
    platform.preallocate(fd, 12345)
    assert os.fstat(fd).st_size == 12345

    def full(fd, offset, size):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    with pytest.raises(OSError) as e:
        platform.preallocate(fd, 99999)
    assert e.value.errno == errno.ENOSPC


def test_fdatasync_where_there_is_one_else_fsync(monkeypatch, fd):
    calls = []
    monkeypatch.setattr(os, "fdatasync", lambda f: calls.append(("fdatasync", f)), raising=False)
    monkeypatch.setattr(os, "fsync", lambda f: calls.append(("fsync", f)))
    platform.fdatasync(fd)
    monkeypatch.delattr(os, "fdatasync")
    platform.fdatasync(fd)
    assert calls == [("fdatasync", fd), ("fsync", fd)]


def test_binary_flags_add_o_binary_only_where_it_exists(monkeypatch):
    assert platform.binary_flags(os.O_RDONLY) == os.O_RDONLY | getattr(os, "O_BINARY", 0)
    monkeypatch.setattr(os, "O_BINARY", 0x8000, raising=False)
    assert platform.binary_flags(os.O_WRONLY) == os.O_WRONLY | 0x8000


# -- processes, both ways --------------------------------------------------------------------------

# A leader that starts a grandchild (its pid on stdout) and, with "stubborn", ignores SIGTERM.
FAMILY = textwrap.dedent("""
    import signal, subprocess, sys, time
    if sys.argv[1] == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    print(child.pid, flush=True)
    time.sleep(600)
""")


def _family(how: str = "polite"):
    proc = platform.start_in_group([sys.executable, "-c", FAMILY, how], stdout=subprocess.PIPE)
    grandchild = int(proc.stdout.readline())
    return proc, grandchild


def _gone(pid: int) -> bool:
    return not platform.process_alive(pid)


@pytest.mark.parametrize("how", ["polite", "stubborn"])
def test_a_group_is_started_apart_and_stopped_whole(how):
    proc, grandchild = _family(how)
    try:
        assert os.getpgid(proc.pid) == proc.pid != os.getpgid(0)  # a group of its own
        assert platform.group_alive(proc)
        platform.stop_group(proc, timeout_s=1.0)
        assert proc.poll() is not None
        # SIGKILL, the last thing sent, takes effect a moment after it is sent.
        wait_for(lambda: _gone(grandchild), 10, "the grandchild to be gone")
    finally:
        _kill_quietly(proc.pid, grandchild)


@pytest.mark.parametrize("how", ["polite", "stubborn"])
def test_without_process_groups_the_tree_is_stopped_whole(monkeypatch, how):
    _no(monkeypatch, "killpg", "setsid")
    proc, grandchild = _family(how)
    try:
        assert os.getpgid(proc.pid) == os.getpgid(0)  # no group of its own on this path
        assert platform.group_alive(proc)
        platform.stop_group(proc, timeout_s=1.0)
        assert proc.poll() is not None and _gone(grandchild)
        assert not platform.group_alive(proc)
    finally:
        _kill_quietly(proc.pid, grandchild)


def test_windows_starts_a_new_process_group_and_stops_it_with_ctrl_break(monkeypatch):
    """A STAND-IN for Windows: os.name and the Windows constants are faked, Popen is recorded."""
    _no(monkeypatch, "killpg", "setsid")
    monkeypatch.setattr(os, "name", "nt")
    monkeypatch.setattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200, raising=False)
    monkeypatch.setattr(signal, "CTRL_BREAK_EVENT", 1, raising=False)
    started = []
    monkeypatch.setattr(subprocess, "Popen", lambda command, **kw: started.append((command, kw)) or "proc")
    assert platform.start_in_group(["server"], stdout=None) == "proc"
    assert started == [(["server"], {"stdout": None, "creationflags": 0x200})]

    class Proc:
        pid, returncode, calls = 2 ** 22 + 7, None, []  # a pid that is no process: no descendants

        def poll(self):
            return self.returncode

        def send_signal(self, sig):
            self.calls.append(("signal", sig))
            self.returncode = 0 if self.polite else None
            if not self.polite:
                raise OSError(87, "no console")  # a service: nothing to send CTRL_BREAK on

        def wait(self, timeout=None):
            if self.returncode is None:
                raise subprocess.TimeoutExpired("server", timeout)
            return self.returncode

        def kill(self):
            self.calls.append(("kill",))
            self.returncode = 1

    polite = Proc()
    polite.polite, polite.calls = True, []
    platform.stop_group(polite, timeout_s=0.1)
    assert polite.calls == [("signal", 1)]
    service = Proc()
    service.polite, service.calls = False, []
    platform.stop_group(service, timeout_s=0.1)
    assert service.calls == [("signal", 1), ("kill",)]


def test_process_alive():
    assert platform.process_alive(os.getpid())
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not platform.process_alive(proc.pid)


def _kill_quietly(*pids):
    for pid in pids:
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass


# -- stop signals, both ways -----------------------------------------------------------------------

# Waits for a stop signal through on_stop_signals, then says which way it was caught.
WAITER = textwrap.dedent("""
    import asyncio, signal
    from llmesh.common import platform

    async def main():
        stop = asyncio.Event()
        restore = platform.on_stop_signals(asyncio.get_running_loop(), stop.set)
        handler = signal.getsignal(signal.SIGTERM)
        print("ready", flush=True)
        await asyncio.wait_for(stop.wait(), 60)
        restore()
        print("stopped by", getattr(handler, "__name__", handler),
              "restored" if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL else "not restored", flush=True)

    asyncio.run(main())
""")


@pytest.mark.parametrize("shaped", [False, True], ids=["add_signal_handler", "signal.signal"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_stops_the_loop_cleanly(shaped, sig):
    env = dict(os.environ, **(shaped_env() if shaped else {}))
    proc = subprocess.Popen([sys.executable, "-c", WAITER], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    # asyncio's own handler is a no-op that wakes the loop; the fallback is platform's.
    assert out.strip() == f"stopped by {'from_signal' if shaped else '_sighandler_noop'} restored", out


def test_on_stop_signals_outside_the_main_thread_installs_nothing_and_fails_nothing():
    loop = asyncio.new_event_loop()
    try:
        result = []
        t = threading.Thread(target=lambda: result.append(platform.on_stop_signals(loop, print)))
        t.start()
        t.join()
        result[0]()  # restoring nothing is fine too
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        loop.close()
