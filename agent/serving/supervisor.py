"""A supervised child process: started in its own process group with its output in a log file,
health-checked until it is ready, restarted (with backoff) when it dies on its own, and stopped
with its whole group, so no process outlives its owner.

    supervisor = Supervisor(command, log_path, ready=lambda: answers(url), name="the server",
                            address=url)
    pid = supervisor.start()                    # waits until ready() is true
    supervisor.wait_for_restart(pid)            # after it died: the new pid, once ready
    supervisor.stop()                           # the whole group: politely, then by force

Nothing here knows what the process is: llamacpp.py supervises llama.cpp servers with it. How a
group is started and stopped on each OS is llmesh.common.platform's business.
"""
from __future__ import annotations

import atexit
import os
import subprocess
import threading
import time
import weakref
from pathlib import Path
from typing import Callable

from llmesh.common.errors import DeadlineExceeded, FailedPrecondition, Unavailable
from llmesh.common.platform import start_in_group, stop_group

LOG_TAIL_BYTES = 2000
RAN_WELL_S = 60.0  # a process that stayed up this long earns a fresh backoff after it dies


class Supervisor:
    """One supervised process; ``command`` is (re)started as it is."""

    def __init__(self, command: list[str], log_path: Path, ready: Callable[[], bool], *,
                 name: str = "the process", address: str = "", ready_timeout_s: float = 120.0,
                 max_backoff_s: float = 30.0):
        self.command = list(command)
        self.log_path = Path(log_path)
        self.ready = ready                    # polled while starting: True once it serves
        self.name, self.address = name, address  # for messages: "the llama.cpp server", its URL
        self.ready_timeout_s = ready_timeout_s
        self.max_backoff_s = max_backoff_s
        self.restarts = 0
        self._proc: subprocess.Popen | None = None
        self._ready = False
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._restarted = threading.Condition(self._lock)

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None else None

    def start(self) -> int:
        """Start the process and wait until it is ready; then watch it. Returns its pid.

        Raises FailedPrecondition (it exited while starting), DeadlineExceeded (not ready in
        time), Unavailable (stopped while starting); nothing is left running then."""
        self._stopping.clear()
        _LIVE.add(self)
        self._launch_and_wait()
        self._thread = threading.Thread(target=self._supervise, daemon=True,
                                        name=f"supervisor:{self.address or self.command[0]}")
        self._thread.start()
        return self.pid

    def wait_for_restart(self, old_pid: int, timeout_s: float = 120.0) -> int:
        """Block until a new, ready process runs in place of `old_pid`; returns its pid."""
        deadline = time.monotonic() + timeout_s
        with self._restarted:
            while self._proc is None or self._proc.pid == old_pid or not self._ready:
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping.is_set():
                    raise DeadlineExceeded(f"the server was not restarted within {timeout_s:.0f}s")
                self._restarted.wait(min(left, 0.5))
            return self._proc.pid

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop watching and terminate the whole process group (asked to stop, then killed
        after `timeout_s`)."""
        self._stopping.set()
        _LIVE.discard(self)
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            stop_group(proc, timeout_s)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        self._thread = None

    # -- internals ------------------------------------------------------------------------------

    def _launch_and_wait(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {time.strftime('%Y-%m-%dT%H:%M:%S')}: "
                      f"{' '.join(self.command)}\n".encode())
            log.flush()
            # Its own process group: stop() can kill everything it spawned.
            proc = start_in_group(self.command, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        with self._lock:
            self._proc, self._ready = proc, False
        try:
            self._wait_ready(proc)
        except BaseException:
            with self._lock:
                if self._proc is proc:
                    self._proc = None
            stop_group(proc, 5.0)
            raise
        with self._restarted:
            self._ready = True
            self._restarted.notify_all()

    def _wait_ready(self, proc: subprocess.Popen) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise FailedPrecondition(f"{self.name} exited with code {proc.returncode} while "
                                         f"starting: {self._log_tail()}")
            if self._stopping.is_set():
                raise Unavailable("stopped while starting")
            if self.ready():
                return
            time.sleep(0.2)
        raise DeadlineExceeded(f"{self.name} did not answer on {self.address} within "
                               f"{self.ready_timeout_s:.0f}s: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - LOG_TAIL_BYTES))
                lines = f.read().decode(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        interesting = [ln for ln in lines if ln.strip() and not ln.startswith("---")]
        return " | ".join(interesting[-3:]) or "(empty log)"

    def _supervise(self) -> None:
        backoff, started = 0.5, time.monotonic()
        while not self._stopping.is_set():
            proc = self._proc
            if proc is not None:
                try:
                    proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    continue
                if self._stopping.is_set():
                    return
                # It died on its own: kill anything left in its group, then start it again.
                stop_group(proc, 2.0)
                with self._lock:
                    if self._proc is proc:
                        self._proc, self._ready = None, False
                # A process that stayed up a while earns a fresh backoff; a crash loop does not.
                ran_well = time.monotonic() - started > RAN_WELL_S
                backoff = 0.5 if ran_well else min(backoff * 2, self.max_backoff_s)
            if self._stopping.wait(backoff):
                return
            started = time.monotonic()
            try:
                self._launch_and_wait()
                self.restarts += 1
            except Exception:
                # E.g. the port was taken meanwhile: the next round waits longer and tries again.
                backoff = min(backoff * 2, self.max_backoff_s)


# Processes still running when the interpreter exits normally are stopped with it. (An agent
# killed by force cannot clean up; its servers keep serving until stopped by pid.)
_LIVE: "weakref.WeakSet[Supervisor]" = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for supervisor in list(_LIVE):
        supervisor.stop(timeout_s=5.0)


class Supervised:
    """What a server object built on a Supervisor (``self._supervisor``, None when stopped) reports."""

    _supervisor: Supervisor | None = None

    @property
    def pid(self) -> int | None:
        return self._supervisor.pid if self._supervisor is not None else None

    @property
    def restarts(self) -> int:
        return self._supervisor.restarts if self._supervisor is not None else 0
