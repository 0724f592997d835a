"""Agent-to-agent pulls against cp + fsync, scp and rsync over ssh, in one run.

    python bench/transfer.py [--gib 4] [--repeats 3] [--fanout-gib 2] [--skip-fanout]

Real processes on loopback with mutual TLS: a coordinator and agents. A model of --gib GiB (two
weight files and a config) is pulled from one agent to another, verified and fsynced at the
destination, --repeats times (the copy is removed between runs), interleaved with `cp` + fsync,
`scp` and `rsync -e ssh` of the same files to a real sshd on a loopback port (started here with a
throwaway host key and authorized key; scp and rsync copies are fsynced too, inside their time).
`make bench-packages` installs openssh-server and rsync on Debian as root; without them those
rows are skipped, saying why. Printed: the single-core hash rates (the ceiling for a one-core
hash of every byte), medians and ratios; then the bytes moved by a repeated pull (goal 0), the
bytes re-sent when the source is killed mid-transfer and restarted (goal: at most the pieces in
flight), a pull under --limit (goal: within 10 % of the limit over any 5 s), and a fan-out of
--fanout-gib GiB to 3 destinations with the source's upload limited to 100 MB/s (goals: total
time <= 1.5x one destination's, bytes sent by the source <= 1.3x the model).
"""
from __future__ import annotations

import argparse
import hashlib
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
from harness import Mesh, free_port, version_of, wait_for  # noqa: E402

GIB = 1024 ** 3
MB = 1000 ** 2
FANOUT_UPLOAD = "100MB/s"
LIMIT = 100 * MB
SETTLE_S = 3.0
SSH_OPTIONS = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "LogLevel=ERROR"]


def make_model(root: Path, gib: float, name: str = "big-model", seed: int = 1) -> Path:
    model = root / name
    half = int(gib * GIB) // 2
    write_big_safetensors(model / "model-00001-of-00002.safetensors", half, seed=seed)
    write_big_safetensors(model / "model-00002-of-00002.safetensors", half, seed=seed + 1)
    (model / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}))
    return model


def hash_rates() -> str:
    data = os.urandom(256 * 1024 * 1024)
    rates = []
    for name, make in [("sha256", hashlib.sha256), ("blake3", _blake3())]:
        if make is None:
            continue
        started = time.perf_counter()
        make().update(data)
        rates.append(f"{name} {len(data) / (time.perf_counter() - started) / 1e9:.2f} GB/s")
    return ", ".join(rates)


def _blake3():
    try:
        from blake3 import blake3
    except ImportError:
        return None
    return lambda: blake3(max_threads=1)


def fsync_tree(target: Path) -> None:
    for f in target.rglob("*"):
        if f.is_file():
            fd = os.open(f, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)


def settle() -> None:
    """Before each timed run: flush what earlier runs left dirty, and wait a little. On VMs that
    hand freed memory back to the host (free page reporting), writing into pages freed moments
    ago is several times cheaper than into pages the host took back (perf here: 57 % of a
    destination's CPU in the kernel's copy into the page cache); without this, whichever tool
    runs right after a deletion looks faster."""
    os.sync()
    time.sleep(SETTLE_S)


def timed_copy(command: list[str], target: Path) -> float:
    shutil.rmtree(target, ignore_errors=True)
    settle()
    started = time.perf_counter()
    subprocess.run(command, check=True)
    fsync_tree(target)
    elapsed = time.perf_counter() - started
    shutil.rmtree(target)
    return elapsed


class Sshd:
    """A real sshd on a loopback port, with a throwaway host key and one authorized key."""

    def __init__(self, work: Path):
        self.work, self.proc, self.port = work, None, 0
        self.why_not = self._why_not()

    @staticmethod
    def _why_not() -> str:
        sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if os.access("/usr/sbin/sshd", os.X_OK) else None)
        missing = [n for n, found in [("sshd (openssh-server)", sshd), ("ssh", shutil.which("ssh")),
                                      ("scp", shutil.which("scp")), ("rsync", shutil.which("rsync"))] if not found]
        return f"not installed: {', '.join(missing)} (make bench-packages)" if missing else ""

    def start(self) -> None:
        self.work.mkdir(parents=True)
        for key in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.work / key)], check=True)
        shutil.copy(self.work / "client_key.pub", self.work / "authorized_keys")
        os.chmod(self.work / "authorized_keys", 0o600)
        self.port = free_port()
        config = self.work / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.work / 'host_key'}",
            f"AuthorizedKeysFile {self.work / 'authorized_keys'}", "PidFile none", "StrictModes no",
            "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password", "Subsystem sftp internal-sftp", ""]))
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", exist_ok=True)  # its privilege separation directory
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        self.proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.work / "sshd.log", "wb"))
        wait_for(lambda: self._answers(), 20, "sshd on loopback")
        probe = subprocess.run(["ssh", *self.options(), "-p", str(self.port), "127.0.0.1", "true"],
                               capture_output=True, text=True, timeout=30)
        if probe.returncode != 0:
            raise RuntimeError(f"ssh to the bench's sshd failed: {probe.stderr.strip()}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def options(self) -> list[str]:
        return [*SSH_OPTIONS, "-i", str(self.work / "client_key")]

    def scp(self, source: Path, target: Path) -> float:
        return timed_copy(["scp", "-q", "-r", *self.options(), "-P", str(self.port), str(source),
                           f"127.0.0.1:{target}"], target)

    def rsync(self, source: Path, target: Path) -> float:
        ssh = " ".join(["ssh", *self.options(), "-p", str(self.port)])
        return timed_copy(["rsync", "-a", "-e", ssh, f"{source}/", f"127.0.0.1:{target}/"], target)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


def pull(mesh: Mesh, name: str = "big-model", to: str = "dest", *extra: str) -> tuple[float, dict | list]:
    started = time.perf_counter()
    job = json.loads(mesh.meshctl("models", "pull", name, "--to", to, *extra, "--wait", "--json",
                                  timeout=3600).stdout)
    return time.perf_counter() - started, job


def served_by(jobs: list[dict], host: str) -> int:
    return sum(r["bytes_verified"] for j in jobs for r in j.get("source_rates", []) if r["host"] == host)


def row(label: str, times: list[float], size: int) -> float:
    rate = size / statistics.median(times)
    print(f"{label:26}: median {statistics.median(times):6.2f} s  {rate / 1e9:5.2f} GB/s  "
          f"(runs: {', '.join(f'{t:.2f}' for t in times)})")
    return rate


def throughput_figures(mesh: Mesh, model: Path, base: Path, size: int, repeats: int) -> None:
    sshd = Sshd(base / "sshd")
    if not sshd.why_not:
        sshd.start()
    runs: dict[str, list[float]] = {"pull": [], "cp": [], "scp": [], "rsync": []}
    try:
        for _ in range(repeats):  # interleaved: drift on a shared machine hits every tool alike
            runs["cp"].append(timed_copy(["cp", "-r", str(model), str(base / "cp-target")], base / "cp-target"))
            settle()
            elapsed, job = pull(mesh)
            assert job["state"] == "done" and job["bytes_received"] == size, job
            runs["pull"].append(elapsed)
            mesh.meshctl("models", "rm", "big-model", "--from", "dest")
            if not sshd.why_not:
                runs["scp"].append(sshd.scp(model, base / "scp-target"))
                runs["rsync"].append(sshd.rsync(model, base / "rsync-target"))
    finally:
        sshd.stop()
    pull_rate = row("pull, verified + fsynced", runs["pull"], size)
    cp_rate = row("cp + fsync", runs["cp"], size)
    print(f"{'ratio pull / cp+fsync':26}: {pull_rate / cp_rate:.2f}   (goal >= 0.5)")
    if sshd.why_not:
        print(f"scp, rsync over ssh       : skipped: {sshd.why_not}")
        return
    for tool in ("scp", "rsync"):
        rate = row(f"{tool} over ssh + fsync" if tool == "scp" else "rsync -e ssh + fsync", runs[tool], size)
        print(f"{'ratio pull / ' + tool:26}: {pull_rate / rate:.2f}   (goal >= 4)")


def resume_figures(mesh: Mesh, source_root: Path, size: int) -> None:
    _, again = pull(mesh)
    _, again = pull(mesh)
    print(f"repeated pull             : {again['bytes_received']} bytes moved (goal 0), "
          f"{again['bytes_reused'] / GIB:.2f} GiB reused")
    mesh.meshctl("models", "rm", "big-model", "--from", "dest")
    job = json.loads(mesh.meshctl("models", "pull", "big-model", "--to", "dest", "--detach", "--json").stdout)
    wait_for(lambda: mesh.json("jobs", "show", job["id"])["bytes_done"] >= size // 4, 600, "a quarter")
    mesh.agent("source").kill()
    wait_for(lambda: mesh.json("jobs", "show", job["id"])["state"] == "waiting", 120, "the job to wait")
    mesh.start_agent("source", [source_root])
    done = wait_for(lambda: (j := mesh.json("jobs", "show", job["id"]))["state"] == "done" and j, 1800,
                    "the resumed job")
    print(f"kill -9 of the source at 25%+ and restart: {(done['bytes_received'] - size) / 2**20:.1f} MiB "
          f"re-sent (4 pieces of 64 MiB in flight at most: <= 256 MiB)")
    mesh.meshctl("models", "rm", "big-model", "--from", "dest")


def limit_figure(mesh: Mesh, size: int) -> None:
    """A pull under --limit, sampled every 0.25 s (progress is reported every 0.5 s: that jitter is
    in the figure): the most bytes received over any 5 s, and over the pull."""
    job = json.loads(mesh.meshctl("models", "pull", "big-model", "--to", "dest", "--limit", f"{LIMIT // MB}MB/s",
                                  "--detach", "--json").stdout)
    samples = []
    while True:
        shown = mesh.json("jobs", "show", job["id"])
        samples.append((time.monotonic(), shown["bytes_received"]))  # finer than verified pieces
        if shown["state"] in ("done", "failed", "cancelled"):
            break
        time.sleep(0.25)
    assert shown["state"] == "done", shown
    moving = [(t, b) for t, b in samples if 0 < b < size]
    worst = max((b2 - b1) / (t2 - t1) for i, (t1, b1) in enumerate(moving)
                for t2, b2 in moving[i + 1:] if t2 - t1 >= 5.0) if len(moving) > 1 else 0.0
    overall = (moving[-1][1] - moving[0][1]) / (moving[-1][0] - moving[0][0]) if len(moving) > 1 else 0.0
    print(f"--limit {LIMIT / MB:.0f} MB/s        : {overall / MB:.1f} MB/s over the pull, at most "
          f"{worst / MB:.1f} MB/s over any 5 s ({100 * (worst / LIMIT - 1):+.1f} %; goal within 10 %)")
    mesh.meshctl("models", "rm", "big-model", "--from", "dest")


def fanout_figure(mesh: Mesh, source_root: Path, base: Path, gib: float) -> None:
    model = make_model(source_root, gib, "fan-model", seed=7)
    size = sum(f.stat().st_size for f in model.iterdir())
    mesh.agent("source").stop()
    mesh.start_agent("source", [source_root], extra=["--max-upload-rate", FANOUT_UPLOAD])
    for name in ("d1", "d2", "d3"):
        (base / f"root-{name}").mkdir()
        mesh.start_agent(name, [base / f"root-{name}"])
    for name in ("source", "d1", "d2", "d3"):
        mesh.wait_host(name)
    mesh.wait_models(lambda rows: version_of(rows, "fan-model"), timeout=900, what="the source's scan of fan-model")
    one, job = pull(mesh, "fan-model", "d1")
    assert job["state"] == "done", job
    mesh.meshctl("models", "rm", "fan-model", "--from", "d1")
    total, jobs = pull(mesh, "fan-model", "d1,d2,d3")
    assert all(j["state"] == "done" for j in jobs), jobs
    print(f"fan-out {size / GIB:.1f} GiB to 3, source upload {FANOUT_UPLOAD}: one destination {one:.1f} s, "
          f"three {total:.1f} s = {total / one:.2f}x (goal <= 1.5x; naive 3x); the source sent "
          f"{served_by(jobs, 'source') / size:.2f}x the model (goal <= 1.3x)")


def main() -> None:
    # meshctl as installed runs from compiled modules (pip compiles them at install); a machine
    # that turns bytecode caching off would recompile llmesh at every meshctl call of the bench.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fanout-gib", type=float, default=2.0)
    parser.add_argument("--skip-fanout", action="store_true")
    parser.add_argument("--dir", type=Path, default=None, help="work here instead of a temp dir")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="llmesh-bench-transfer-", dir=args.dir))
    mesh = Mesh(base, heartbeat=1.0)
    try:
        source_root, dest_root = base / "source", base / "dest"
        dest_root.mkdir()
        model = make_model(source_root, args.gib)
        size = sum(f.stat().st_size for f in model.iterdir())
        print(f"model: {size / GIB:.2f} GiB in {len(list(model.iterdir()))} files; {os.cpu_count()} cores; "
              f"loopback; mutual TLS")
        print(f"hash ceiling, one core    : {hash_rates()}")
        mesh.start_coordinator()
        mesh.start_agent("source", [source_root])
        mesh.start_agent("dest", [dest_root])
        mesh.wait_host("source")
        mesh.wait_host("dest")
        mesh.wait_models(lambda rows: version_of(rows, "big-model"), timeout=900, what="the source's scan")
        throughput_figures(mesh, model, base, size, args.repeats)
        resume_figures(mesh, source_root, size)
        limit_figure(mesh, size)
        if not args.skip_fanout:
            fanout_figure(mesh, source_root, base, args.fanout_gib)
    finally:
        mesh.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
