"""`make demo`: the embedded default doing real work on loopback.

Starts `meshctl up` (a coordinator and a local agent, "trainer") and a second agent
("mac") in their own homes, each with tiny real models made here; then runs the
everyday commands a user would: hosts, gpus, models list, register, info.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from factories import make_gguf, make_hf_model, make_trainer_output  # noqa: E402


def meshctl(*args, env, check=True):
    print(f"\n$ meshctl {' '.join(args)}", flush=True)
    result = subprocess.run([sys.executable, "-m", "llmesh.cli", *args], cwd=REPO, env=env, text=True,
                            capture_output=True)
    print(result.stdout, end="")
    if result.stderr.strip():
        print(result.stderr, end="")
    if check and result.returncode != 0:
        raise SystemExit(f"demo failed: meshctl {' '.join(args)} exited {result.returncode}")
    return result


def wait_until(predicate, timeout=60, what="the mesh"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if predicate():
                return
        except Exception:
            pass
        time.sleep(0.3)
    raise SystemExit(f"demo failed: timed out waiting for {what}")


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="llmesh-demo-"))
    trainer_root, mac_root = base / "trainer-models", base / "mac-models"
    make_trainer_output(trainer_root / "oracle-farore-qwen-lora", adapter=True, checkpoints=2)
    make_hf_model(trainer_root / "tiny-llama", seed=1)
    make_hf_model(mac_root / "shared" / "tiny-llama", seed=1)  # same bytes: one version, two copies
    make_gguf(mac_root / "tiny-q8.gguf", name="tiny", file_type=7)

    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMESH_")}
    env.update(LLMESH_HOME=str(base / "home"), PYTHONUNBUFFERED="1")
    logs = open(base / "processes.log", "wb")
    up = subprocess.Popen([sys.executable, "-m", "llmesh.cli", "up", "--name", "trainer", "--root", str(trainer_root),
                           "--heartbeat", "1"], cwd=REPO, env=env, stdout=logs, stderr=logs)
    endpoint = base / "home" / "coordinator.json"
    wait_until(endpoint.exists, what="meshctl up")
    address = json.loads(endpoint.read_text())["address"]
    # A second machine joins with a one-time token (it pins the mesh CA); mutual TLS from then on.
    token = meshctl("token", "create", "--ttl", "10m", env=env).stdout.strip()
    mac_env = dict(env, LLMESH_HOME=str(base / "mac-home"))
    mac = subprocess.Popen([sys.executable, "-m", "llmesh.cli", "agent", "run", "--coordinator", address, "--name", "mac",
                            "--root", str(mac_root), "--listen", "127.0.0.1:0", "--heartbeat", "1",
                            "--token", token], cwd=REPO, env=mac_env, stdout=logs, stderr=logs)
    try:
        def ready():
            result = subprocess.run([sys.executable, "-m", "llmesh.cli", "models", "list", "--json"], cwd=REPO,
                                    env=env, capture_output=True, text=True)
            rows = json.loads(result.stdout)
            return len(rows) >= 3 and any(len(v["copies"]) == 2 for v in rows)
        wait_until(ready, what="both agents' inventories")
        print(f"llmesh demo: coordinator {address}, data in {base}")
        meshctl("hosts", env=env)
        meshctl("gpus", env=env)
        meshctl("models", "list", env=env)
        meshctl("models", "register", str(trainer_root / "oracle-farore-qwen-lora"), "--host", "trainer",
                "--name", "oracle-farore", "--role", "general", "--tag", "production",
                "--notes", "first adapter trained on the Windows box", env=env)
        meshctl("models", "info", "oracle-farore", env=env)
        meshctl("models", "pull", "oracle-farore", "--to", "mac", "--wait", env=env)
        meshctl("models", "info", "oracle-farore", env=env)
        meshctl("jobs", "--all", env=env)
        meshctl("audit", "--limit", "8", env=env)
        meshctl("models", "info", "nope:3", env=env, check=False)
        print("\ndemo finished: every command above ran against real processes on loopback")
    finally:
        for proc in (mac, up):
            proc.send_signal(signal.SIGTERM)
        for proc in (mac, up):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        logs.close()


if __name__ == "__main__":
    main()
