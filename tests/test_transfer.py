"""Models move agent to agent: real agents on loopback, mutual TLS, real bytes.

Pieces are 1 MiB here (coordinator --piece-size) so that small models have many."""
import filecmp
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import grpc
import pytest
from factories import make_hf_model, write_big_safetensors
from harness import free_port, version_of, wait_for
from peers import blob_address_of, digest_of, identity_of, piece_index, read_blob, ticket_log, tickets_received

MIB = 1024 * 1024


@pytest.fixture
def pair(mesh, tmp_path):
    """A coordinator and two agents: 'trainer' holds models, 'mac' holds nothing yet."""
    mesh.start_coordinator(extra=["--piece-size", str(MIB)])
    mesh.trainer_root, mesh.mac_root = tmp_path / "trainer", tmp_path / "mac"
    mesh.mac_root.mkdir()
    make_hf_model(mesh.trainer_root / "llama-ft", shards=2, seed=3)
    write_big_safetensors(mesh.trainer_root / "big" / "model.safetensors", 24 * MIB, seed=5)
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
    digest = "sha256:" + hashlib.sha256(big.read_bytes()).hexdigest()
    start_both(pair, trainer_env={"LLMESH_TEST_CORRUPT": f"{digest}@{3 * MIB}*1"})
    job = pull(pair, "big")
    assert job["state"] == "done"
    assert job["bytes_received"] == job["bytes_total"] + MIB  # exactly one piece sent twice
    # Progress counts verified bytes only: the bad piece is received twice, counted once.
    assert job["bytes_done"] == job["bytes_total"]
    assert [(r["host"], r["bytes_verified"]) for r in job["source_rates"]] == [("trainer", job["bytes_total"])]
    assert filecmp.cmp(big, Path(job["copy_path"]) / "model.safetensors", shallow=False)
    agent_log = (pair.base / "agent-mac.log").read_text()
    assert "failed verification" in agent_log


def registry_piece_index(mesh, digest: str) -> str:
    with sqlite3.connect(mesh.base / "coord-home" / "coordinator" / "registry.db") as db:
        row = db.execute("SELECT index_id FROM piece_indexes WHERE digest = ? AND piece_size = ?",
                         [digest, MIB]).fetchone()
    return row[0] if row else ""


def start_pair(mesh, trainer_env=None, mac_env=None):
    mesh.start_agent("trainer", [mesh.trainer_root], env=trainer_env)
    mesh.start_agent("mac", [mesh.mac_root], env={"LLMESH_TEST_TICKET_LOG": str(ticket_log(mesh, "mac")),
                                                  **(mac_env or {})})
    mesh.wait_host("trainer")
    mesh.wait_host("mac")
    mesh.wait_models(lambda rows: version_of(rows, "big"))


def test_blake3_pieces_scan_to_registry_to_ticket_to_destination_and_a_bad_one_is_refetched(pair):
    """The scan hashes the pieces with BLAKE3 in the pass that makes the sha256, the registry
    binds that index, the ticket names it, and the destination checks every piece with it
    (a corrupted one is caught and fetched again) and never hashes the whole file."""
    from llmesh.common import tickets
    from llmesh.common.pieces import compute_piece_index
    big = pair.trainer_root / "big" / "model.safetensors"
    blake = compute_piece_index(big, MIB, algorithm="blake3")
    assert blake.index_id != compute_piece_index(big, MIB, algorithm="sha256").index_id
    start_pair(pair, trainer_env={"LLMESH_TEST_CORRUPT": f"{blake.digest}@{3 * MIB}*1"})
    wait_for(lambda: registry_piece_index(pair, blake.digest) == blake.index_id, 120, "the blake3 index on record")
    job = pull(pair, "big")
    assert job["state"] == "done" and job["bytes_received"] == job["bytes_total"] + MIB  # one piece twice
    assert filecmp.cmp(big, Path(job["copy_path"]) / "model.safetensors", shallow=False)
    named = [tickets.piece_index_ids(t["ticket"]) for t in tickets_received(ticket_log(pair, "mac"))
             if t["job"] == job["id"]]
    assert named and all(ids == (MIB, {**ids[1], blake.digest: blake.index_id}) for ids in named)
    log = (pair.base / "agent-mac.log").read_text()
    assert "piece 3 of " in log and "failed verification" in log
    assert f"{blake.digest[:19]} received: every piece matched the index on record" in log
    verified = pair.meshctl("models", "verify", "big")  # the whole-file sha256, on demand, on every copy
    assert verified.returncode == 0 and "mac" in verified.stdout, verified.stdout


def test_sha256_piece_indexes_still_carry_pulls_either_way(pair):
    """Mixed fleets. A source without blake3 indexes with sha256: the registry binds that, and a
    destination that has blake3 verifies with it, trusting it as before. A destination without
    blake3 asks a blake3 source for sha256 pieces: it gets them (hashed on request), and since
    the index on record is the blake3 one it checks the whole file too."""
    from llmesh.common.pieces import compute_piece_index
    big = pair.trainer_root / "big" / "model.safetensors"
    sha_index = compute_piece_index(big, MIB, algorithm="sha256")
    start_pair(pair, trainer_env={"LLMESH_TEST_NO_BLAKE3": "1", "LLMESH_TEST_CORRUPT": f"{sha_index.digest}@{2 * MIB}*1"})
    wait_for(lambda: registry_piece_index(pair, sha_index.digest) == sha_index.index_id, 120, "the sha256 index on record")
    job = pull(pair, "big")
    assert job["state"] == "done" and job["bytes_received"] == job["bytes_total"] + MIB
    assert filecmp.cmp(big, Path(job["copy_path"]) / "model.safetensors", shallow=False)
    log = (pair.base / "agent-mac.log").read_text()
    assert f"{sha_index.digest[:19]} received: every piece matched the index on record" in log


def test_a_destination_without_blake3_pulls_from_a_blake3_source(pair):
    from llmesh.common.pieces import compute_piece_index
    big = pair.trainer_root / "big" / "model.safetensors"
    blake = compute_piece_index(big, MIB, algorithm="blake3")
    start_pair(pair, trainer_env={"LLMESH_TEST_CORRUPT": f"{blake.digest}@{4 * MIB}*1"},
               mac_env={"LLMESH_TEST_NO_BLAKE3": "1"})
    wait_for(lambda: registry_piece_index(pair, blake.digest) == blake.index_id, 120, "the blake3 index on record")
    job = pull(pair, "big")
    assert job["state"] == "done" and job["bytes_received"] == job["bytes_total"] + MIB
    assert filecmp.cmp(big, Path(job["copy_path"]) / "model.safetensors", shallow=False)
    log = (pair.base / "agent-mac.log").read_text()
    assert "is not the one on record; checking the whole file" in log
    assert f"{blake.digest[:19]} received: whole file checked against its sha256" in log


def test_a_source_answers_each_caller_with_piece_hashes_it_can_verify(pair):
    from llmesh.common import tickets, tls
    from llmesh.common.pieces import compute_piece_index
    big = pair.trainer_root / "big" / "model.safetensors"
    blake, sha = (compute_piece_index(big, MIB, algorithm=a) for a in ("blake3", "sha256"))
    start_pair(pair)
    ca_key = tls.load_key((pair.base / "coord-home" / "coordinator" / "ca" / "ca.key").read_bytes())
    ticket = tickets.issue_ticket(ca_key, "probe", pair.host("mac")["id"], [blake.digest], ttl_s=300)

    def ask(*piece_hashes):
        reply = piece_index(identity_of(pair, "mac"), pair.host("trainer")["peer_address"], ticket,
                            blake.digest, MIB, piece_hashes)
        return reply.piece_hash, tuple(reply.hashes)

    assert ask("blake3", "sha256") == ("blake3", blake.hashes)  # the scan's index, no second read
    assert ask() == ("", sha.hashes)  # an agent from before BLAKE3: sha256, hashed on request
    assert ask("sha256") == ("", sha.hashes)
    assert ask("md5") == ("", sha.hashes)  # names it does not know are ignored


def test_a_source_without_a_blob_socket_is_read_over_grpc_verified_alike(pair):
    """An agent that offers no blob socket (an older one: Describe says port 0) still serves
    pulls, over the Peer service's ReadBlob, with the same piece checks."""
    big = pair.trainer_root / "big" / "model.safetensors"
    digest = "sha256:" + hashlib.sha256(big.read_bytes()).hexdigest()
    start_both(pair, trainer_env={"LLMESH_TEST_NO_BLOB_SOCKET": "1", "LLMESH_TEST_CORRUPT": f"{digest}@{5 * MIB}*1"})
    assert "blob socket port 0" in pair.agent("trainer").output()
    job = pull(pair, "big")
    assert job["state"] == "done" and job["bytes_received"] == job["bytes_total"] + MIB
    assert filecmp.cmp(big, Path(job["copy_path"]) / "model.safetensors", shallow=False)


def test_a_fixed_blob_port_carries_the_bytes_and_a_taken_one_fails_the_start_in_one_line(pair):
    """--blob-port fixes the blob socket's port (one to open in a firewall); a port already taken
    stops the agent at start with one line naming it, not a silent fall back to another port."""
    port = free_port()
    pair.start_agent("trainer", [pair.trainer_root], extra=["--blob-port", str(port)])
    pair.start_agent("mac", [pair.mac_root])
    pair.wait_host("trainer")
    pair.wait_host("mac")
    pair.wait_models(lambda rows: version_of(rows, "big"))
    trainer = pair.host("trainer")
    assert blob_address_of(identity_of(pair, "mac"), trainer["peer_address"]).endswith(f":{port}")
    assert f"blob socket port {port}" in pair.agent("trainer").output()
    job = pull(pair, "big")
    assert job["state"] == "done"
    assert filecmp.cmp(pair.trainer_root / "big" / "model.safetensors",
                       Path(job["copy_path"]) / "model.safetensors", shallow=False)

    (pair.mac_root.parent / "spare").mkdir()
    other = pair.start_agent("spare", [pair.mac_root.parent / "spare"], extra=["--blob-port", str(port)])
    assert other.popen.wait(60) != 0
    lines = [line for line in other.output().splitlines() if line.startswith("error:")]
    assert lines and f"cannot listen for blob reads on 127.0.0.1:{port}" in lines[-1], other.output()
    assert "Traceback" not in other.output()


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


def partials(mesh, host) -> list[Path]:
    return sorted((store_of(mesh, host) / "tmp").glob("*.partial"))


def test_a_refused_blob_does_not_jam_the_destination(pair):
    """The source denies one blob once, after a while, when the other files' partials are being
    opened, slowly (a disk that preallocates block by block): that run ends with opens in
    flight. Each is released, so the job resumes and a second pull of the model works, with no
    restart of the agent."""
    refused = digest_of(pair.trainer_root / "llama-ft" / "config.json")
    pair.start_agent("trainer", [pair.trainer_root], env={"LLMESH_TEST_REFUSE": f"{refused}*1",
                                                          "LLMESH_TEST_REFUSE_AFTER_S": "0.5"})
    mac = pair.start_agent("mac", [pair.mac_root], env={"LLMESH_TEST_OPEN_DELAY_S": "1.5"})
    pair.wait_host("trainer")
    pair.wait_host("mac")
    pair.wait_models(lambda rows: version_of(rows, "llama-ft"))
    job = pull(pair, "llama-ft", check=False)
    assert not isinstance(job, subprocess.CompletedProcess), job.stderr
    assert job["state"] == "done"
    assert "refused" in (pair.base / "agent-mac.log").read_text()  # the fault did happen
    pair.meshctl("models", "rm", "llama-ft", "--from", "mac")
    again = pull(pair, "llama-ft", check=False)
    assert not isinstance(again, subprocess.CompletedProcess), again.stderr
    assert again["state"] == "done" and again["bytes_received"] == again["bytes_total"]
    assert mac.alive() and "already being received" not in (pair.base / "agent-mac.log").read_text()
    assert not partials(pair, "mac")


def flip_a_byte(path: Path, offset: int, keep_mtime: bool) -> None:
    st = path.stat()
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))
    if keep_mtime:  # bit rot: the same size and mtime, so no hash cache notices
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("keep_mtime", [True, False], ids=["same-mtime", "new-mtime"])
def test_a_drifted_only_source_fails_the_job_and_names_the_copy(pair, keep_mtime):
    """The only source's bytes change after the registry (and its piece index) saw them: the job
    fails in bounded time naming that copy, `pull --wait` says so, the copy shows drifted and the
    destination keeps no partial."""
    slow_rescans = ["--rescan-interval", "3600"]  # the test decides when the source looks again
    pair.start_agent("trainer", [pair.trainer_root], extra=slow_rescans)
    pair.start_agent("mac", [pair.mac_root], extra=slow_rescans)
    pair.wait_host("trainer")
    pair.wait_host("mac")
    pair.wait_models(lambda rows: version_of(rows, "big"))
    assert pull(pair, "big:1")["state"] == "done"  # the source has hashed its pieces now
    pair.meshctl("models", "rm", "big:1", "--from", "mac")
    flip_a_byte(pair.trainer_root / "big" / "model.safetensors", 5 * MIB + 10, keep_mtime)

    failed = pull(pair, "big:1", check=False)
    assert isinstance(failed, subprocess.CompletedProcess) and failed.returncode == 1, failed
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and "failed" in lines[0] and "drifted" in lines[0], lines
    assert f"trainer:{pair.trainer_root / 'big'}" in lines[0]
    copies = pair.json("models", "info", "big:1")["copies"]
    assert [(c["host"], c["state"]) for c in copies] == [("trainer", "drifted")]
    wait_for(lambda: not partials(pair, "mac"), 30, "the partial removed", logs=pair.logs())


def test_cancelling_a_waiting_job_removes_its_partials(pair):
    """Whether the job waits for its source or for its destination, cancelling it deletes its
    partial blobs on the destination: at once, or when the destination is back."""
    throttled = {"LLMESH_TEST_THROTTLE_BPS": str(MIB)}
    start_both(pair, trainer_env=throttled)

    def pull_until_some_progress():
        job = json.loads(pair.meshctl("models", "pull", "big", "--to", "mac", "--detach", "--json").stdout)
        wait_for(lambda: pair.json("jobs", "show", job["id"])["bytes_done"] >= 2 * MIB, 60, "some progress")
        return job

    def wait_state(job, state):
        wait_for(lambda: pair.json("jobs", "show", job["id"])["state"] == state, 90, f"job {state}",
                 logs=pair.logs())

    # The source goes away: the job waits on the destination's side, its partial kept for resuming.
    job = pull_until_some_progress()
    pair.agent("trainer").stop()
    wait_state(job, "waiting")
    assert partials(pair, "mac")
    pair.meshctl("jobs", "cancel", job["id"])
    wait_for(lambda: not partials(pair, "mac"), 30, "the partial removed", logs=pair.logs())

    # The destination goes away: the partial is deleted once it is back.
    pair.start_agent("trainer", [pair.trainer_root], env=throttled)
    pair.wait_host("trainer")
    job = pull_until_some_progress()
    pair.agent("mac").stop()
    pair.wait_host("mac", "offline")
    wait_state(job, "waiting")
    assert partials(pair, "mac")
    assert pair.json("jobs", "cancel", job["id"])["state"] == "cancelled"
    assert partials(pair, "mac")  # nobody could delete it yet
    pair.start_agent("mac", [pair.mac_root])
    wait_for(lambda: not partials(pair, "mac") and not list((store_of(pair, "mac") / "tmp").iterdir()), 30,
             "the partial removed", logs=pair.logs())
    assert pair.json("jobs", "show", job["id"])["state"] == "cancelled"


def test_dest_outside_the_roots_is_refused_before_any_byte(pair, tmp_path):
    start_both(pair)
    outside = tmp_path / "outside"
    outside.mkdir()
    (pair.mac_root / "escape").symlink_to(outside, target_is_directory=True)
    (pair.mac_root / "incoming" / "big-v1").mkdir(parents=True)
    for dest, message in [(outside, "not under any model root"),
                          (pair.mac_root / "escape", "not under any model root"),  # a link out of the root
                          (pair.mac_root / "incoming", "already exists")]:
        result = pair.meshctl("models", "pull", "big", "--to", "mac", "--dest", str(dest), "--wait", check=False)
        assert result.returncode == 1 and message in result.stderr, (dest, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert pair.json("jobs", "--all") == []  # refused at pull time: no job, no byte moved
    store = store_of(pair, "mac")
    assert not any((store / "tmp").iterdir()) and not list((store / "blobs").glob("sha256-*"))
    assert not any(outside.iterdir())


@pytest.fixture
def small_disk(pair):
    """A 300 MiB tmpfs mounted in mac's root (needs root, as in CI)."""
    mount = pair.mac_root / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill_disk(path: Path, leave: int) -> Path:
    filler = path / "filler"
    filler.unlink(missing_ok=True)
    size = shutil.disk_usage(path).free - leave
    fd = os.open(filler, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.posix_fallocate(fd, 0, size)
    finally:
        os.close(fd)
    return filler


def test_dest_on_a_small_disk_is_refused_and_a_full_one_mid_copy_leaves_nothing(pair, small_disk):
    start_both(pair, trainer_env={"LLMESH_TEST_THROTTLE_BPS": str(MIB)})  # slow: the fill lands mid-copy
    # Too small from the start (the store's disk is not: the files are copied to another disk).
    filler = fill_disk(small_disk, leave=16 * MIB)
    refused = pair.meshctl("models", "pull", "big", "--to", "mac", "--dest", str(small_disk), "--wait",
                           check=False)
    assert refused.returncode == 1 and "too small" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert pair.json("jobs", "--all") == [] and not list((store_of(pair, "mac") / "blobs").glob("sha256-*"))

    # Room at first; the disk fills up while the bytes move: the copy fails, cleanly.
    filler.unlink()
    job = json.loads(pair.meshctl("models", "pull", "big", "--to", "mac", "--dest", str(small_disk),
                                  "--detach", "--json").stdout)
    wait_for(lambda: pair.json("jobs", "show", job["id"])["bytes_done"] >= 4 * MIB, 60, "some progress")
    filler = fill_disk(small_disk, leave=8 * MIB)
    ended = wait_for(lambda: (j := pair.json("jobs", "show", job["id"]))["state"] in ("done", "failed") and j,
                     90, "the job to end", logs=pair.logs())
    assert ended["state"] == "failed" and "disk full" in ended["error"], ended
    assert "\n" not in ended["error"] and "Error(" not in ended["error"]
    assert sorted(small_disk.iterdir()) == [filler]  # no *.partial-copy, no half-placed model


def test_tickets_expire_quickly_and_a_long_pull_renews_its_own(mesh, tmp_path):
    mesh.start_coordinator(extra=["--piece-size", str(MIB), "--ticket-ttl", "3"])
    trainer_root, mac_root = tmp_path / "trainer", tmp_path / "mac"
    big = write_big_safetensors(trainer_root / "big" / "model.safetensors", 24 * MIB, seed=5)
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
