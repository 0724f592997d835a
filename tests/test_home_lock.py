"""One process per home: a second `meshctl up` on the same LLMESH_HOME is refused and the first
keeps running untouched; a killed one leaves no stale lock; coordinator.json is removed only by
the process that wrote it.

The lock is fcntl.flock here. Windows takes the msvcrt.locking branch of llmesh.common.homelock,
which CI (Linux) cannot run: these tests keep the POSIX side and the behaviour honest.
"""
import json
import os
import signal
import subprocess
import sys

import pytest
from harness import REPO, Proc, wait_for

from llmesh.common.config import remove_endpoint, write_endpoint
from llmesh.common.errors import FailedPrecondition
from llmesh.common.homelock import AGENT_LOCK, COORDINATOR_LOCK, HomeLock


def _env(home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMESH_")}
    env.update(LLMESH_HOME=str(home), PYTHONUNBUFFERED="1")
    return env


def _meshctl(env, *args, timeout=60):
    return subprocess.run([sys.executable, "-m", "llmesh.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _hosts(env):
    result = _meshctl(env, "hosts", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _start_up(env, root, log):
    up = Proc(["up", "--name", "laptop", "--root", str(root), "--heartbeat", "0.5"], env, log)
    wait_for(lambda: [h["status"] for h in _hosts(env)] == ["online"], 60, "meshctl up's agent online",
             logs=[log])
    return up


def test_a_second_up_is_refused_and_the_first_keeps_running(tmp_path):
    home, root = tmp_path / "home", tmp_path / "models"
    root.mkdir()
    env = _env(home)
    first = _start_up(env, root, tmp_path / "up1.log")
    try:
        endpoint = home / "coordinator.json"
        written = endpoint.read_text()
        address = json.loads(written)["address"]
        before = sorted(os.listdir(home))

        second = _meshctl(env, "up", "--name", "laptop", "--root", str(root), timeout=60)
        assert second.returncode == 1, second
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in second.stderr, second.stderr
        assert f"already running at {address} (pid {first.popen.pid})" in lines[0]
        assert lines[0].startswith("error: meshctl up is already running")

        # The others that own files in this home are refused the same way.
        serve = _meshctl(env, "coordinator", "serve", "--listen", "127.0.0.1:0")
        assert serve.returncode == 1 and f"already running at {address} (pid {first.popen.pid})" in serve.stderr
        agent = _meshctl(env, "agent", "run", "--coordinator", address, "--root", str(root),
                         "--home", str(home / "agent"))
        assert agent.returncode == 1, agent
        assert f"meshctl up is already running (pid {first.popen.pid})" in agent.stderr
        assert "--home" in agent.stderr and "Traceback" not in agent.stderr

        # The first is untouched: same endpoint file, no new files, and it still answers.
        assert first.alive()
        assert endpoint.read_text() == written
        assert sorted(os.listdir(home)) == before
        assert [(h["name"], h["status"]) for h in _hosts(env)] == [("laptop", "online")]
    finally:
        first.kill()  # SIGKILL: no clean-up at all, the lock goes with the process

    # A killed `up` leaves its endpoint file behind but no lock: the next `up` starts.
    assert json.loads(endpoint.read_text())["pid"] == first.popen.pid
    third = _start_up(env, root, tmp_path / "up3.log")
    try:
        assert json.loads(endpoint.read_text())["pid"] == third.popen.pid
    finally:
        third.signal(signal.SIGTERM)
        code = third.popen.wait(30)
    assert code == 0, third.output()
    assert not endpoint.exists()  # it wrote the file, so it removes it
    assert "Traceback" not in third.output()


def test_a_coordinator_removes_only_the_endpoint_file_it_wrote(tmp_path):
    endpoint = tmp_path / "coordinator.json"
    # Written by another process (the harness's parent stands in for it) at the same address.
    endpoint.write_text(json.dumps({"address": "127.0.0.1:7440", "pid": os.getppid()}))
    remove_endpoint(endpoint, "127.0.0.1:7440")
    assert endpoint.exists()
    write_endpoint(endpoint, "127.0.0.1:7441")
    remove_endpoint(endpoint, "127.0.0.1:7440")  # ours, but another address: not ours to remove
    assert endpoint.exists()
    remove_endpoint(endpoint, "127.0.0.1:7441")
    assert not endpoint.exists()


def test_the_lock_names_its_holder_and_is_free_once_released(tmp_path):
    lock = HomeLock.acquire(tmp_path, COORDINATOR_LOCK, "coordinator serve")
    with pytest.raises(FailedPrecondition) as refused:
        HomeLock.acquire(tmp_path, COORDINATOR_LOCK, "up")
    # Before it listens there is no address to give.
    assert str(refused.value) == (f"meshctl coordinator serve is already running (pid {os.getpid()}) for "
                                  f"{tmp_path}: stop it first, or use another LLMESH_HOME")
    write_endpoint(tmp_path / "coordinator.json", "127.0.0.1:7440")
    with pytest.raises(FailedPrecondition, match=rf"already running at 127\.0\.0\.1:7440 \(pid {os.getpid()}\)"):
        HomeLock.acquire(tmp_path, COORDINATOR_LOCK, "up")
    # The agent's lock is another file: `coordinator serve` and `agent run` may share a home.
    with HomeLock.acquire(tmp_path, AGENT_LOCK, "agent run"):
        pass
    lock.release()
    with HomeLock.acquire(tmp_path, COORDINATOR_LOCK, "up"):
        pass
