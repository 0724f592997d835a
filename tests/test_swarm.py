"""Fan-out: `models pull NAME --to h1,h2,h3` makes the destinations a swarm. Real agents on
loopback; the source's upload is limited so that it, not the loopback, is the bottleneck."""
import filecmp
import hashlib
import json
from pathlib import Path

import pytest
from factories import write_big_safetensors
from harness import version_of

MIB = 1024 * 1024
DESTINATIONS = ("d1", "d2", "d3")


@pytest.fixture
def swarm(mesh, tmp_path):
    mesh.start_coordinator(extra=["--piece-size", str(MIB)])
    mesh.trainer_root = tmp_path / "trainer"
    write_big_safetensors(mesh.trainer_root / "big" / "model.safetensors", 24 * MIB, seed=5)
    (mesh.trainer_root / "big" / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    return mesh


def start(mesh, trainer_extra=(), env_for=None):
    mesh.start_agent("trainer", [mesh.trainer_root], extra=list(trainer_extra))
    for name in DESTINATIONS:
        root = mesh.base / f"root-{name}"
        root.mkdir(exist_ok=True)
        mesh.start_agent(name, [root], extra=["--label", "halext"], env=(env_for or {}).get(name))
    for name in ("trainer", *DESTINATIONS):
        mesh.wait_host(name)
    mesh.wait_models(lambda rows: version_of(rows, "big"))


def served_by(jobs: list[dict], host: str) -> int:
    return sum(r["bytes_verified"] for j in jobs for r in j["source_rates"] if r["host"] == host)


def check_copies(mesh, jobs):
    weights = mesh.trainer_root / "big" / "model.safetensors"
    assert sorted(j["destination"] for j in jobs) == sorted(DESTINATIONS)
    for j in jobs:
        assert j["state"] == "done", j
        assert filecmp.cmp(weights, Path(j["copy_path"]) / "model.safetensors", shallow=False)


def test_a_fan_out_sends_each_piece_from_the_source_about_once(swarm):
    start(swarm, trainer_extra=["--max-upload-rate", "8MB/s"])
    jobs = json.loads(swarm.meshctl("models", "pull", "big", "--to", "d1,d2,d3", "--wait", "--json",
                                    timeout=300).stdout)
    check_copies(swarm, jobs)
    size = jobs[0]["bytes_total"]
    from_source = served_by(jobs, "trainer")
    from_peers = sum(served_by(jobs, d) for d in DESTINATIONS)
    print(f"  fan-out of {size / MIB:.0f} MiB to 3: source sent {from_source / size:.2f}× the model, "
          f"destinations {from_peers / size:.2f}×")
    assert from_source + from_peers == 3 * size  # every verified byte has one sender
    assert from_source <= 1.3 * size  # a naive fan-out sends 3×
    assert len({j["swarm"] for j in jobs}) == 1 and jobs[0]["swarm"]


def test_a_swarm_member_sending_bad_pieces_is_dropped_and_nothing_unverified_spreads(swarm):
    weights = swarm.trainer_root / "big" / "model.safetensors"
    digest = "sha256:" + hashlib.sha256(weights.read_bytes()).hexdigest()
    # d2 corrupts every piece it serves to the others (its own copy is good).
    corrupt = {"d2": {"LLMESH_TEST_CORRUPT": f"{digest}@any*1000"}}
    start(swarm, trainer_extra=["--max-upload-rate", "8MB/s"], env_for=corrupt)
    jobs = json.loads(swarm.meshctl("models", "pull", "big", "--to", "label=halext", "--wait", "--json",
                                    timeout=300).stdout)
    check_copies(swarm, jobs)
    logs = "".join((swarm.base / f"agent-{d}.log").read_text() for d in ("d1", "d3"))
    if "from d2 failed verification" in logs:  # d2 was asked for pieces: they were caught
        assert "d2 sent 3 pieces that failed verification; not using it any more" in logs
    # Not one byte of the weights d2 corrupts counts as verified from it; the small config.json it
    # serves intact (to d1 and d3 at most) may.
    others = sum(f.stat().st_size for f in weights.parent.iterdir() if f != weights)
    assert served_by(jobs, "d2") <= 2 * others


def test_a_destination_killed_mid_swarm_resumes_and_the_others_finish_without_it(swarm):
    from harness import wait_for
    start(swarm, trainer_extra=["--max-upload-rate", "4MB/s"])
    first = json.loads(swarm.meshctl("models", "pull", "big", "--to", "d1,d2,d3", "--detach", "--json").stdout)
    jobs = {j["destination"]: j for j in first}
    wait_for(lambda: swarm.json("jobs", "show", jobs["d2"]["id"])["bytes_done"] >= 4 * MIB, 120, "d2 receiving")
    swarm.agent("d2").kill()
    for d in ("d1", "d3"):
        wait_for(lambda: swarm.json("jobs", "show", jobs[d]["id"])["state"] == "done", 240, f"{d} to finish",
                 logs=swarm.logs())
    swarm.start_agent("d2", [swarm.base / "root-d2"], extra=["--label", "halext"])
    done = wait_for(lambda: (j := swarm.json("jobs", "show", jobs["d2"]["id"]))["state"] == "done" and j, 240,
                    "d2 to resume and finish", logs=swarm.logs())
    assert done["bytes_received"] - done["bytes_total"] <= 4 * MIB  # at most the pieces in flight again
    check_copies(swarm, [swarm.json("jobs", "show", jobs[d]["id"]) for d in DESTINATIONS])
