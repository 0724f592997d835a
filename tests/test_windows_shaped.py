"""The Windows-shaped run. CI has no Windows: this is what keeps llmesh's Windows path honest.

A real coordinator and two real agents (and every meshctl call, and the llama.cpp server an agent
starts) run on an interpreter made to lack what Windows' Python lacks: tests/windows_shaped/
sitecustomize.py, a STAND-IN for Windows, removes os.pread, os.pwrite, os.preadv, os.pwritev,
os.posix_fallocate, os.killpg, os.setsid and os.fdatasync, and makes asyncio's
``loop.add_signal_handler`` raise NotImplementedError, as Windows' event loops do. On it the
mesh moves models agent to agent (the source serves blobs without pread, the destination writes
pieces without pwrite, fallocate or fdatasync), deploys one with llama.cpp and undeploys it (a
server started and stopped without process sessions or killpg), and every process stops
cleanly on SIGTERM (caught through signal.signal, not the loop). What this cannot show is what
only Windows does: CTRL_BREAK_EVENT, CREATE_NEW_PROCESS_GROUP, text-mode descriptors; see
tests/test_platform.py for the stand-in unit tests of those.
"""
from __future__ import annotations

import filecmp
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest
from factories import write_big_safetensors
from harness import REPO, Mesh, version_of, wait_for

SHAPED = REPO / "tests" / "windows_shaped"
MIB = 1024 * 1024


def shaped_env(marker: Path | None = None) -> dict:
    """Environment for a Windows-shaped interpreter (marker: a file each such process adds its
    pid to)."""
    env = {"LLMESH_WINDOWS_SHAPED": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(SHAPED), os.environ.get("PYTHONPATH", "")]))}
    if marker is not None:
        env["LLMESH_WINDOWS_SHAPED_MARKER"] = str(marker)
    return env


PROBE = textwrap.dedent("""
    import asyncio, os
    async def main():
        try:
            asyncio.get_running_loop().add_signal_handler(15, print)
            return "handlers"
        except NotImplementedError:
            return "no handlers"
    names = ("pread", "pwrite", "preadv", "pwritev", "posix_fallocate", "killpg", "setsid", "fdatasync")
    print(sorted(n for n in names if hasattr(os, n)), asyncio.run(main()))
""")


def test_the_windows_shaped_interpreter_lacks_what_windows_lacks():
    shaped = subprocess.run([sys.executable, "-c", PROBE], env=dict(os.environ, **shaped_env()),
                            capture_output=True, text=True, check=True)
    assert shaped.stdout.strip() == "[] no handlers", shaped
    plain = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert plain.stdout.strip() != "[] no handlers"  # the stand-in is what removes them


class WindowsShapedMesh(Mesh):
    """harness.Mesh whose every process runs on the Windows-shaped interpreter."""

    def __init__(self, base: Path):
        super().__init__(base)
        self.marker = base / "windows-shaped-pids"

    def env(self, home: Path, extra: dict | None = None) -> dict:
        env = super().env(home, extra)
        env.update(shaped_env(self.marker))
        return env

    def shaped_pids(self) -> set[int]:
        return {int(line) for line in self.marker.read_text().split()} if self.marker.exists() else set()


@pytest.fixture
def shaped(tmp_path):
    mesh = WindowsShapedMesh(tmp_path)
    yield mesh
    mesh.close()


def test_a_windows_shaped_mesh_moves_deploys_undeploys_and_stops_cleanly(shaped, tmp_path):
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is a test dependency (pyproject [test])")
    from tokenizers_for_tests import make_runnable_llama

    from llmesh.agent.convert.model import convert_to_gguf

    trainer_root, mac_root = tmp_path / "trainer", tmp_path / "mac"
    mac_root.mkdir()
    convert_to_gguf(make_runnable_llama(tmp_path / "source" / "tiny-win"), trainer_root / "tiny-win.gguf")
    write_big_safetensors(trainer_root / "big" / "model.safetensors", 5 * MIB, seed=9)  # several pieces
    (trainer_root / "big" / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))

    coordinator = shaped.start_coordinator(extra=["--piece-size", str(MIB)])
    trainer = shaped.start_agent("trainer", [trainer_root])
    mac = shaped.start_agent("mac", [mac_root])
    shaped.wait_host("trainer")
    shaped.wait_host("mac")
    shaped.wait_models(lambda rows: version_of(rows, "tiny-win") and version_of(rows, "big"))
    assert {coordinator.popen.pid, trainer.popen.pid, mac.popen.pid} <= shaped.shaped_pids()

    # Moved agent to agent: served without pread, written without pwrite/fallocate/fdatasync.
    for name, source in (("big", trainer_root / "big"), ("tiny-win", trainer_root / "tiny-win.gguf")):
        job = json.loads(shaped.meshctl("models", "pull", name, "--to", "mac", "--wait", "--json").stdout)
        assert job["state"] == "done" and job["bytes_received"] == job["bytes_total"] > 0, job
        copy = Path(job["copy_path"])
        assert str(copy).startswith(str(shaped.base / "agent-mac")), copy  # the mac's own store
        files = sorted(source.iterdir()) if source.is_dir() else [source]
        for f in files:
            assert filecmp.cmp(f, copy / f.name, shallow=False), f

    # Deployed and undeployed: a server started and stopped without sessions or killpg.
    deployment = json.loads(shaped.meshctl("models", "deploy", "tiny-win", "llamacpp", "--on", "mac", "--json",
                                           timeout=600).stdout)
    assert deployment["state"] == "running" and deployment["host"] == "mac", deployment
    result = json.loads(shaped.meshctl("models", "test", deployment["ref"], "--on", "mac", "--ignore-eos",
                                       "--json", timeout=300).stdout)
    assert result["passed"] and result["tokens"] > 0, result
    servers = _servers(deployment["port"])
    assert servers and {p.pid for p in servers} <= shaped.shaped_pids()
    assert all(os.getpgid(p.pid) == os.getpgid(mac.popen.pid) for p in servers)  # no group of its own
    shaped.meshctl("models", "undeploy", deployment["ref"], "--on", "mac")
    assert shaped.json("deployments") == []
    wait_for(lambda: not _servers(deployment["port"]), 30, "the server to be gone", logs=shaped.logs())

    # Every process stops cleanly on SIGTERM: the loop could not take the handler, signal.signal did.
    for proc in reversed(shaped.procs):
        code = proc.stop()
        assert code == 0, f"{proc.args[:2]} exited {code}:\n{proc.log.read_text(errors='replace')[-3000:]}"
    for log in shaped.logs():
        assert "Traceback" not in log.read_text(errors="replace"), log


def _servers(port: int) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmdline = p.info["cmdline"] or []
        if any("llama_cpp.server" in part for part in cmdline) and str(port) in cmdline \
                and p.status() != psutil.STATUS_ZOMBIE:
            found.append(p)
    return found
