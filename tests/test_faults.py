"""Faults during a transfer, in a loop: each round kills one of the coordinator, the source
and the destination (kill -9) at a random point of a pull, starts it again, and expects the
job to finish with a byte-exact copy and nothing left in the destination's store/tmp.

The rounds are drawn from a seed that is printed (and shown with any failure); to replay a
failing run: LLMESH_FAULT_SEED=<seed> pytest tests/test_faults.py. LLMESH_FAULT_ROUNDS sets
how many rounds run (default 6: each victim twice).
"""
import hashlib
import json
import os
import random
import sqlite3
import time
from pathlib import Path

from factories import make_hf_model
from harness import version_of, wait_for

MIB = 1024 * 1024
THROTTLE = {"LLMESH_TEST_THROTTLE_BPS": str(2 * MIB)}  # per stream: a pull takes seconds, so kills land in it
VICTIMS = ("coordinator", "source", "destination")
ROUND_TIMEOUT_S = 120.0  # a bound on a round that cannot finish, never a measure of speed


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(MIB):
            h.update(block)
    return h.hexdigest()


def model_digests(model_dir: Path) -> dict[str, str]:
    """Every file of a model dir (the store's own .llmesh-* bookkeeping left out), by relative path."""
    return {p.relative_to(model_dir).as_posix(): sha256_of(p) for p in sorted(model_dir.rglob("*"))
            if p.is_file() and not p.name.startswith(".llmesh-")}


class Faults:
    """The mesh of one fault test: who runs, how to kill and start each party again."""

    def __init__(self, mesh, base: Path):
        self.mesh = mesh
        self.source_root, self.dest_root = base / "source-root", base / "dest-root"
        self.dest_root.mkdir(parents=True)
        # a real model of a few tens of MB in two shards, so that a pull has many pieces and two files
        make_hf_model(self.source_root / "faulty", hidden=768, vocab=4096, shards=2, seed=11)
        self.registry = base / "coord-home" / "coordinator" / "registry.db"
        self.dest_tmp = base / "agent-dest" / "agent" / "store" / "tmp"

    def start_coordinator(self):
        self.mesh.start_coordinator(extra=["--piece-size", str(MIB)])

    def start_source(self):
        self.mesh.start_agent("source", [self.source_root], env=THROTTLE)

    def start_destination(self):
        self.mesh.start_agent("dest", [self.dest_root])

    def kill(self, victim: str):
        proc = {"coordinator": self.mesh.coordinator, "source": self.mesh.agent("source"),
                "destination": self.mesh.agent("dest")}[victim]
        proc.kill()  # SIGKILL: no clean-up of any kind

    def restart(self, victim: str):
        {"coordinator": self.start_coordinator, "source": self.start_source,
         "destination": self.start_destination}[victim]()

    def job_row(self, job_id: str) -> dict | None:
        """The job as the registry holds it, read from its file: it answers while the coordinator is down."""
        try:
            with sqlite3.connect(f"file:{self.registry}?mode=ro", uri=True, timeout=5) as db:
                row = db.execute("SELECT state, bytes_done, bytes_total FROM jobs WHERE id = ?", [job_id]).fetchone()
        except sqlite3.Error:
            return None
        return row and {"state": row[0], "bytes_done": row[1], "bytes_total": row[2]}


def test_kill_any_party_at_any_point_of_a_pull_and_the_copy_is_still_exact(mesh, tmp_path):
    seed = int(os.environ.get("LLMESH_FAULT_SEED") or random.SystemRandom().randrange(2 ** 32))
    rounds = int(os.environ.get("LLMESH_FAULT_ROUNDS") or 6)
    print(f"fault injection seed {seed} ({rounds} rounds); replay with LLMESH_FAULT_SEED={seed}")
    rng = random.Random(seed)
    victims = [VICTIMS[i % len(VICTIMS)] for i in range(rounds)]
    rng.shuffle(victims)

    faults = Faults(mesh, tmp_path)
    faults.start_coordinator()
    faults.start_source()
    faults.start_destination()
    expected = model_digests(faults.source_root / "faulty")
    mesh.wait_models(lambda rows: (v := version_of(rows, "faulty")) and any(
        c["host"] == "source" and c["state"] == "verified" for c in v["copies"]), what="the source's copy")

    for number, victim in enumerate(victims, 1):
        point = 0.0 if rng.random() < 0.25 else rng.uniform(0.05, 0.95)  # 0: before the first byte moves
        down_s = rng.choice([0.0, rng.uniform(0.5, 3.0)])  # how long the victim stays dead
        where = (f"seed {seed}, round {number}: kill -9 the {victim} at {point:.0%} of the bytes, "
                 f"back after {down_s:.1f} s")
        print(where)
        started = time.monotonic()
        # a victim killed after its job was done may still be on its way back
        wait_for(lambda: {h["name"]: h["status"] for h in mesh.json("hosts")} == {
            "source": "online", "dest": "online"}, ROUND_TIMEOUT_S, "both agents online", logs=mesh.logs())

        job_id = json.loads(mesh.meshctl("models", "pull", "faulty", "--to", "dest", "--detach",
                                         "--json").stdout)["id"]
        wait_for(lambda: (row := faults.job_row(job_id)) and (
            row["bytes_done"] >= point * row["bytes_total"] or row["state"] == "done"),
            ROUND_TIMEOUT_S, f"the kill point ({where})", interval=0.05, logs=mesh.logs())
        faults.kill(victim)
        time.sleep(down_s)
        faults.restart(victim)

        job = wait_for(lambda: (j := mesh.json("jobs", "show", job_id))["state"] in ("done", "failed", "cancelled")
                       and j, ROUND_TIMEOUT_S, f"the job to finish ({where})", interval=0.3, logs=mesh.logs())
        assert job["state"] == "done", (where, job)
        print(f"  done in {time.monotonic() - started:.1f} s: {job['bytes_received']} bytes received "
              f"of {job['bytes_total']}")
        copy = Path(job["copy_path"])
        assert model_digests(copy) == expected, where  # byte-exact, every file, nothing more
        assert not list(faults.dest_tmp.iterdir()), (where, list(faults.dest_tmp.iterdir()))
        assert not list(faults.dest_tmp.parent.glob("models/.tmp-*")), where  # no build left half done
        copies = mesh.json("models", "info", "faulty")["copies"]
        assert ("dest", str(copy), "verified") in {(c["host"], c["path"], c["state"]) for c in copies}, where

        # so that the next round moves the bytes again
        mesh.meshctl("models", "rm", "faulty", "--from", "dest")
        assert not copy.exists(), where
