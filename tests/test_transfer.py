"""Models move agent to agent: real agents on loopback, mutual TLS, real bytes.

Pieces are 1 MiB here (coordinator --piece-size) so that small models have many."""
import filecmp
import json
import sqlite3
from pathlib import Path

import grpc
import pytest
from factories import make_hf_model, write_big_file
from harness import version_of, wait_for
from peers import digest_of, identity_of, read_blob, ticket_log, tickets_received

MIB = 1024 * 1024


@pytest.fixture
def pair(mesh, tmp_path):
    """A coordinator and two agents: 'trainer' holds models, 'mac' holds nothing yet."""
    mesh.start_coordinator(extra=["--piece-size", str(MIB)])
    mesh.trainer_root, mesh.mac_root = tmp_path / "trainer", tmp_path / "mac"
    mesh.mac_root.mkdir()
    make_hf_model(mesh.trainer_root / "llama-ft", shards=2, seed=3)
    write_big_file(mesh.trainer_root / "big" / "model.safetensors", 24 * MIB, seed=5)
    (mesh.trainer_root / "big" / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    return mesh


def start_both(mesh, trainer_env=None):
    mesh.start_agent("trainer", [mesh.trainer_root], env=trainer_env)
    mesh.start_agent("mac", [mesh.mac_root])
    mesh.wait_host("trainer")
    mesh.wait_host("mac")
    mesh.wait_models(lambda rows: version_of(rows, "llama-ft") and version_of(rows, "big"))


def pull(mesh, ref, *extra, check=True):
    result = mesh.meshctl("models", "pull", ref, "--to", "mac", "--wait", "--json", *extra, check=check)
    return json.loads(result.stdout) if result.returncode == 0 else result


def test_pull_copies_every_file_and_a_second_pull_moves_nothing(pair):
    start_both(pair)
    job = pull(pair, "llama-ft")
    assert job["state"] == "done" and job["bytes_received"] == job["bytes_total"] > 0
    copy = Path(job["copy_path"])
    source = pair.trainer_root / "llama-ft"
    assert copy.is_dir() and copy != source
    assert sorted(p.name for p in copy.iterdir() if not p.name.startswith(".")) == \
        sorted(p.name for p in source.iterdir())
    for f in source.iterdir():
        assert filecmp.cmp(f, copy / f.name, shallow=False), f.name
    info = pair.json("models", "info", "llama-ft")
    assert {(c["host"], c["path"], c["state"]) for c in info["copies"]} >= {("mac", str(copy), "verified")}

    again = pull(pair, "llama-ft")
    assert again["state"] == "done" and again["bytes_received"] == 0 and again["bytes_reused"] == again["bytes_total"]


def test_a_new_version_moves_only_the_files_that_differ(pair):
    v2 = pair.trainer_root / "llama-ft-v2"
    make_hf_model(v2, shards=2, seed=3)
    (v2 / "generation_config.json").write_text('{"temperature": 0.2}')  # one file differs
    start_both(pair)
    pair.wait_models(lambda rows: version_of(rows, "llama-ft-v2"))
    first = pull(pair, "llama-ft")
    second = pull(pair, "llama-ft-v2")
    assert first["state"] == second["state"] == "done"
    assert 0 < second["bytes_received"] == len('{"temperature": 0.2}')
    assert second["bytes_reused"] == second["bytes_total"] - second["bytes_received"]


def test_a_corrupted_piece_is_fetched_again_alone(pair):
    big = pair.trainer_root / "big" / "model.safetensors"
    import hashlib
    digest = "sha256:" + hashlib.sha256(big.read_bytes()).hexdigest()
    start_both(pair, trainer_env={"LLMESH_TEST_CORRUPT": f"{digest}@{3 * MIB}*1"})
    job = pull(pair, "big")
    assert job["state"] == "done"
    assert job["bytes_received"] == job["bytes_total"] + MIB  # exactly one piece sent twice
    assert filecmp.cmp(big, Path(job["copy_path"]) / "model.safetensors", shallow=False)
    agent_log = (pair.base / "agent-mac.log").read_text()
    assert "failed verification" in agent_log


def test_killing_the_source_mid_transfer_resumes_from_verified_pieces(pair):
    start_both(pair, trainer_env={"LLMESH_TEST_THROTTLE_BPS": str(MIB)})
    job = json.loads(pair.meshctl("models", "pull", "big", "--to", "mac", "--detach", "--json").stdout)
    wait_for(lambda: pair.json("jobs", "show", job["id"])["bytes_done"] >= 6 * MIB, 60, "some progress")
    pair.agent("trainer").kill()
    wait_for(lambda: pair.json("jobs", "show", job["id"])["state"] == "waiting", 90, "the job to wait",
             logs=pair.logs())
    pair.start_agent("trainer", [pair.trainer_root])  # back, unthrottled, on a new peer port
    done = wait_for(lambda: (j := pair.json("jobs", "show", job["id"]))["state"] == "done" and j, 60,
                    "the job to finish", logs=pair.logs())
    resent = done["bytes_received"] - done["bytes_total"]
    assert 0 <= resent <= 4 * MIB, resent  # at most the pieces that were in flight (4 of 1 MiB)
    assert filecmp.cmp(pair.trainer_root / "big" / "model.safetensors",
                       Path(done["copy_path"]) / "model.safetensors", shallow=False)


def store_of(mesh, host):
    return mesh.base / f"agent-{host}" / "agent" / "store"


def test_cancel_and_a_too_small_disk_leave_nothing_behind(pair):
    start_both(pair, trainer_env={"LLMESH_TEST_THROTTLE_BPS": str(MIB)})
    job = json.loads(pair.meshctl("models", "pull", "big", "--to", "mac", "--detach", "--json").stdout)
    wait_for(lambda: pair.json("jobs", "show", job["id"])["bytes_done"] >= 2 * MIB, 60, "some progress")
    pair.meshctl("jobs", "cancel", job["id"])
    wait_for(lambda: not any((store_of(pair, "mac") / "tmp").glob("*.partial")), 60, "partials removed")
    store = store_of(pair, "mac")
    assert not list((store / "blobs").glob("sha256-*")) and not any((store / "models").iterdir())
    assert pair.json("jobs", "show", job["id"])["state"] == "cancelled"

    registry = pair.base / "coord-home" / "coordinator" / "registry.db"
    with sqlite3.connect(registry) as db:  # pretend llama-ft is a 1 PB model
        db.execute("UPDATE version_files SET size = ? WHERE path = 'model-00001-of-00002.safetensors'", [10 ** 15])
    failed = pull(pair, "llama-ft", check=False)
    assert failed.returncode == 1 and "disk too small" in failed.stderr
    assert not any((store / "tmp").iterdir()) and not list((store / "blobs").glob("sha256-*"))
    assert (pair.trainer_root / "llama-ft" / "config.json").exists()


def test_rm_deletes_a_copy_but_not_the_last_one(pair):
    start_both(pair)
    job = pull(pair, "llama-ft")
    copy = Path(job["copy_path"])
    refused = pair.meshctl("models", "rm", "big", "--from", "trainer", check=False)
    assert refused.returncode == 1 and "last verified copy" in refused.stderr
    assert (pair.trainer_root / "big" / "model.safetensors").exists()
    pair.meshctl("models", "rm", "llama-ft", "--from", "mac")
    assert not copy.exists()
    assert not list((store_of(pair, "mac") / "blobs").glob("sha256-*"))  # collected
    hosts = {c["host"] for c in pair.json("models", "info", "llama-ft")["copies"]}
    assert hosts == {"trainer"}


def test_pull_errors_are_one_clear_line(pair):
    start_both(pair)
    for args, message in [(("models", "pull", "nope", "--to", "mac"), "unknown model"),
                          (("models", "pull", "llama-ft:7", "--to", "mac"), "no version 7"),
                          (("models", "pull", "llama-ft", "--to", "nohost"), "unknown host"),
                          (("jobs", "show", "nojob"), "unknown job")]:
        result = pair.meshctl(*args, check=False)
        assert result.returncode == 1 and message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


def test_dest_places_the_files_in_a_folder_of_a_root_too(pair):
    start_both(pair)
    (pair.mac_root / "incoming").mkdir()
    job = pull(pair, "llama-ft", "--dest", str(pair.mac_root / "incoming"))
    placed = Path(job["copy_path"])
    assert placed.parent == pair.mac_root / "incoming" and (placed / "config.json").exists()
    outside = pull(pair, "big", "--dest", "/tmp", check=False)
    assert outside.returncode == 1 and "not under any model root" in outside.stderr


def test_pulling_to_an_offline_host_says_so(pair):
    start_both(pair)
    pair.agent("mac").stop()
    pair.wait_host("mac", "offline")
    result = pair.meshctl("models", "pull", "big", "--to", "mac", check=False)
    assert result.returncode == 1 and "host 'mac' is offline" in result.stderr


def test_tickets_expire_quickly_and_a_long_pull_renews_its_own(mesh, tmp_path):
    mesh.start_coordinator(extra=["--piece-size", str(MIB), "--ticket-ttl", "3"])
    trainer_root, mac_root = tmp_path / "trainer", tmp_path / "mac"
    big = write_big_file(trainer_root / "big" / "model.safetensors", 24 * MIB, seed=5)
    (trainer_root / "big" / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    mac_root.mkdir()
    mesh.start_agent("trainer", [trainer_root], env={"LLMESH_TEST_THROTTLE_BPS": str(MIB)})  # >= 6 s
    mesh.start_agent("mac", [mac_root], env={"LLMESH_TEST_TICKET_LOG": str(ticket_log(mesh, "mac"))})
    mesh.wait_host("trainer")
    mesh.wait_host("mac")
    mesh.wait_models(lambda rows: version_of(rows, "big"))
    job = pull(mesh, "big")
    assert job["state"] == "done" and job["bytes_received"] == job["bytes_total"]  # nothing refused, nothing re-sent
    assert filecmp.cmp(big, Path(job["copy_path"]) / "model.safetensors", shallow=False)
    received = [t["ticket"] for t in tickets_received(ticket_log(mesh, "mac")) if t["job"] == job["id"]]
    assert len(received) >= 2, "the pull outlived its first ticket, so it must have renewed it"
    mac_reads = f"agent:{mesh.host('mac')['id']}"

    def reads(result):
        return [e for e in mesh.json("audit", "--actor", mac_reads) if e["action"] == "peer.read"
                and e["result"] == result]
    wait_for(lambda: sum(e["detail"]["bytes"] for e in reads("ok")) == 24 * MIB + big.with_name("config.json")
             .stat().st_size, 30, "the pull's reads in the audit log", logs=mesh.logs())
    assert reads("denied") == []  # renewed in time: no read was ever refused for an expired ticket
    # The first ticket is dead by now: the source refuses it, to the very agent it was issued to.
    _, refused = read_blob(identity_of(mesh, "mac"), mesh.host("trainer")["peer_address"], received[0],
                           digest_of(big), 0, MIB)
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED and "expired" in refused.details()


def test_the_audit_log_shows_who_read_which_blob_from_whom(pair):
    start_both(pair)
    job = pull(pair, "llama-ft")
    sizes = {digest_of(f): f.stat().st_size for f in (pair.trainer_root / "llama-ft").iterdir()}
    mac = pair.host("mac")

    def reads():
        rows = [e for e in pair.json("audit") if e["action"] == "peer.read" and e["detail"]["job"] == job["id"]]
        read = {}
        for e in rows:
            assert (e["actor"], e["result"], e["detail"]["reader_host"], e["detail"]["source_host"]) == \
                (f"agent:{mac['id']}", "ok", "mac", "trainer"), e
            read[e["resource"]] = read.get(e["resource"], 0) + e["detail"]["bytes"]
        return read
    wait_for(lambda: reads() == sizes, 30, "every blob's reads in the audit log", logs=pair.logs())
    table = pair.meshctl("audit").stdout
    big_digest = max(sizes, key=sizes.get)
    assert any("peer.read" in line and "trainer→mac" in line and big_digest.split(":")[1][:12] in line
               for line in table.splitlines()), table
