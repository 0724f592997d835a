"""Real llmesh processes on loopback for tests: a coordinator, agents, and meshctl.

Every process is `python -m llmesh.cli …` exactly as a user would run meshctl, with its own
LLMESH_HOME; logs go to files that are printed when a wait times out.
"""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A port free now and outside the kernel's ephemeral range.

    A port from bind(0) is ephemeral: between our close and the server's bind, any outgoing
    connection (a gRPC channel, an HTTP client) may be handed the same port, and the server then
    fails with "address already in use". Ports below the range are never handed out that way.
    """
    low, _ = _ephemeral_range()
    candidates = list(range(max(1024, low - 12000), low))
    random.shuffle(candidates)
    for port in candidates[:200]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # every candidate taken: fall back to the kernel's choice
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 20.0, what: str = "condition", interval: float = 0.1, logs=()):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as exc:  # keep polling; report the last failure on timeout
            last = exc
        time.sleep(interval)
    details = "\n".join(f"--- {p}\n{Path(p).read_text()[-4000:]}" for p in logs if Path(p).exists())
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}\n{details}")


class Proc:
    def __init__(self, args: list[str], env: dict, log: Path, command: list[str] | None = None,
                 cwd: Path = REPO):
        self.args = args
        self.log = log
        self._log_file = open(log, "ab")
        command = command or [sys.executable, "-m", "llmesh.cli"]
        self.popen = subprocess.Popen([*command, *args], cwd=cwd, env=env,
                                      stdout=self._log_file, stderr=subprocess.STDOUT,
                                      start_new_session=True)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig) -> None:
        if self.alive():
            self.popen.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> int:
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            return self.popen.wait(5)
        finally:
            self._log_file.close()

    def kill(self) -> None:
        if self.alive():
            self.popen.kill()
            self.popen.wait(5)
        self._log_file.close()

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")


class Mesh:
    """Starts and tracks the processes of one test; ``close()`` stops them all."""

    def __init__(self, base: Path, heartbeat: float = 0.5):
        self.base = base
        self.heartbeat = heartbeat
        self.procs: list[Proc] = []
        self.coordinator: Proc | None = None
        self.address = ""
        self.link_port = free_port()  # kept across restarts: agents remember where their link goes

    def env(self, home: Path, extra: dict | None = None) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLMESH_")}
        env.update(LLMESH_HOME=str(home), PYTHONUNBUFFERED="1")
        env.update(extra or {})
        return env

    def start_coordinator(self, port: int = 0, extra: list[str] = ()) -> Proc:
        home = self.base / "coord-home"
        home.mkdir(parents=True, exist_ok=True)
        endpoint = home / "coordinator.json"
        endpoint.unlink(missing_ok=True)
        proc = Proc(["coordinator", "serve", "--listen", f"127.0.0.1:{port or free_port()}",
                     "--link-listen", f"127.0.0.1:{self.link_port}", *extra],
                    self.env(home), self.base / "coordinator.log")
        self.procs.append(proc)
        self.coordinator = proc
        data = wait_for(lambda: json.loads(endpoint.read_text()), 20, "coordinator endpoint file",
                        logs=[proc.log])
        self.address = data["address"]
        self.endpoint = data
        return proc

    def start_agent(self, name: str, roots: list[Path], home: Path | None = None, env: dict | None = None,
                    extra: list[str] = ()) -> Proc:
        home = home or self.base / f"agent-{name}"
        home.mkdir(parents=True, exist_ok=True)
        args = ["agent", "run", "--coordinator", self.address, "--name", name, "--listen", "127.0.0.1:0",
                "--heartbeat", str(self.heartbeat), "--reconnect-max", "1", "--home", str(home / "agent")]
        for root in roots:
            args += ["--root", str(root)]
        if not (home / "agent" / "agent.pem").exists():  # first start: join with a one-time token
            args += ["--token", self.meshctl("token", "create", "--ttl", "10m").stdout.strip()]
        proc = Proc(args + list(extra), self.env(home, env), self.base / f"agent-{name}.log")
        self.procs.append(proc)
        return proc

    def meshctl(self, *args: str, check: bool = True, env: dict | None = None,
                timeout: float = 60, input: str | None = None) -> subprocess.CompletedProcess:
        # The coordinator's home holds its endpoint file and the first admin's credentials.
        full_env = self.env(self.base / "coord-home", env)
        result = subprocess.run([sys.executable, "-m", "llmesh.cli", *args], cwd=REPO, env=full_env,
                                capture_output=True, text=True, timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise AssertionError(f"meshctl {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def json(self, *args: str, timeout: float = 60):
        return json.loads(self.meshctl(*args, "--json", timeout=timeout).stdout)

    def host(self, name: str) -> dict | None:
        return next((h for h in self.json("hosts") if h["name"] == name), None)

    def wait_host(self, name: str, status: str = "online", timeout: float = 30.0) -> dict:
        return wait_for(lambda: (h := self.host(name)) and h["status"] == status and h,
                        timeout, f"host {name} {status}", logs=self.logs())

    def wait_models(self, predicate, timeout: float = 30.0, what: str = "models", host: str = "") -> list:
        args = ("models", "list") + (("--host", host) if host else ())
        return wait_for(lambda: (rows := self.json(*args)) and predicate(rows) and rows,
                        timeout, what, interval=0.3, logs=self.logs())

    def agent(self, name: str) -> Proc:
        """The most recently started agent process of that name."""
        return [p for p in self.procs if "--name" in p.args and p.args[p.args.index("--name") + 1] == name][-1]

    def logs(self) -> list[Path]:
        return [p.log for p in self.procs]

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.alive():
                proc.stop()


def version_of(rows: list[dict], name: str) -> dict | None:
    return next((v for v in rows if v["name"] == name), None)
