"""Agent-to-agent pulls against `cp` + fsync (and `scp` to localhost where it works).

    python bench/transfer.py [--gib 4] [--repeats 3]

Real processes on loopback with mutual TLS: a coordinator and two agents. A model of
--gib GiB (two weight files and a config) is pulled from one agent to the other,
verified and fsynced at the destination, --repeats times (the copy is removed between
runs), alternating with `cp` + fsync of the same files. Then: the bytes moved by a
repeated pull (goal 0), and the bytes re-sent when the source is killed mid-transfer
and restarted (goal: at most the pieces in flight). Medians and ratios are printed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from factories import write_big_safetensors  # noqa: E402
from harness import Mesh, version_of, wait_for  # noqa: E402

GIB = 1024 ** 3


def make_model(root: Path, gib: float) -> Path:
    model = root / "big-model"
    half = int(gib * GIB) // 2
    write_big_safetensors(model / "model-00001-of-00002.safetensors", half, seed=1)
    write_big_safetensors(model / "model-00002-of-00002.safetensors", half, seed=2)
    (model / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}))
    return model


def cp_fsync(source: Path, target: Path) -> float:
    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run(["cp", "-r", str(source), str(target)], check=True)
    for f in target.iterdir():
        fd = os.open(f, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    elapsed = time.perf_counter() - started
    shutil.rmtree(target)
    return elapsed


def scp_available() -> bool:
    if not shutil.which("scp"):
        return False
    try:
        with socket.create_connection(("127.0.0.1", 22), timeout=1):
            pass
    except OSError:
        return False
    probe = subprocess.run(["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "localhost", "true"],
                           capture_output=True, timeout=10)
    return probe.returncode == 0


def scp_time(source: Path, target: Path) -> float:
    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run(["scp", "-q", "-r", "-o", "BatchMode=yes", str(source), f"localhost:{target}"], check=True)
    elapsed = time.perf_counter() - started
    shutil.rmtree(target)
    return elapsed


def pull(mesh: Mesh) -> tuple[float, dict]:
    started = time.perf_counter()
    job = json.loads(mesh.meshctl("models", "pull", "big-model", "--to", "dest", "--wait", "--json",
                                  timeout=1800).stdout)
    return time.perf_counter() - started, job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="work here instead of a temp dir")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="llmesh-bench-transfer-", dir=args.dir))
    mesh = Mesh(base, heartbeat=1.0)
    try:
        source_root, dest_root = base / "source", base / "dest"
        dest_root.mkdir()
        model = make_model(source_root, args.gib)
        size = sum(f.stat().st_size for f in model.iterdir())
        print(f"model: {size / GIB:.2f} GiB in {len(list(model.iterdir()))} files; 2 cores; loopback; mutual TLS")
        mesh.start_coordinator()
        mesh.start_agent("source", [source_root])
        mesh.start_agent("dest", [dest_root])
        mesh.wait_host("source")
        mesh.wait_host("dest")
        mesh.wait_models(lambda rows: version_of(rows, "big-model"), timeout=600, what="the source's scan")

        pulls, cps, scps = [], [], []
        use_scp = scp_available()
        for _ in range(args.repeats):
            cps.append(cp_fsync(model, base / "cp-target"))
            elapsed, job = pull(mesh)
            assert job["state"] == "done" and job["bytes_received"] == size, job
            pulls.append(elapsed)
            mesh.meshctl("models", "rm", "big-model", "--from", "dest")
            if use_scp:
                scps.append(scp_time(model, base / "scp-target"))

        pull_rate, cp_rate = size / statistics.median(pulls), size / statistics.median(cps)
        print(f"pull, agent to agent : median {statistics.median(pulls):6.2f} s  {pull_rate / 1e9:5.2f} GB/s  "
              f"(runs: {', '.join(f'{t:.2f}' for t in pulls)})")
        print(f"cp + fsync           : median {statistics.median(cps):6.2f} s  {cp_rate / 1e9:5.2f} GB/s  "
              f"(runs: {', '.join(f'{t:.2f}' for t in cps)})")
        print(f"ratio pull / cp+fsync: {pull_rate / cp_rate:.2f}   (goals: ≥ 1.0 GB/s, ≥ 0.7 of cp+fsync)")
        if scps:
            scp_rate = size / statistics.median(scps)
            print(f"scp to localhost     : median {statistics.median(scps):6.2f} s  {scp_rate / 1e9:5.2f} GB/s; "
                  f"pull is {pull_rate / scp_rate:.1f}x scp (goal ≥ 5x)")
        else:
            print("scp to localhost     : not available here (no ssh server on localhost)")

        _, first = pull(mesh)
        _, again = pull(mesh)
        print(f"repeated pull        : {again['bytes_received']} bytes moved (goal 0), "
              f"{again['bytes_reused'] / GIB:.2f} GiB reused")
        mesh.meshctl("models", "rm", "big-model", "--from", "dest")

        job = json.loads(mesh.meshctl("models", "pull", "big-model", "--to", "dest", "--detach", "--json").stdout)
        wait_for(lambda: mesh.json("jobs", "show", job["id"])["bytes_done"] >= size // 4, 600, "a quarter")
        mesh.agent("source").kill()
        wait_for(lambda: mesh.json("jobs", "show", job["id"])["state"] == "waiting", 120, "the job to wait")
        mesh.start_agent("source", [source_root])
        done = wait_for(lambda: (j := mesh.json("jobs", "show", job["id"]))["state"] == "done" and j, 1800,
                        "the resumed job")
        resent = done["bytes_received"] - size
        print(f"kill -9 of the source at {100 * 0.25:.0f}%+ and restart: {resent / 2**20:.1f} MiB re-sent "
              f"(4 pieces of 64 MiB in flight at most: ≤ 256 MiB)")
    finally:
        mesh.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
