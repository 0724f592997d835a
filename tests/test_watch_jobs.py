"""WatchJobs: the coordinator streams job changes; meshctl follows pulls through it instead of
polling GetJob. Real coordinator and agents on loopback; the RPC counts come from /metrics."""
import json
import signal
import subprocess
import sys

import pytest
from factories import make_hf_model, write_big_safetensors
from harness import REPO, free_port, version_of, wait_for
from test_metrics import get, samples

from llmesh.cli.transfer import wait_for_jobs
from llmesh.common.errors import InvalidArgument, NotFound, Unimplemented
from llmesh.sdk.client import MeshClient
from llmesh.v1 import transfer_pb2 as transfer_pb

MIB = 1024 * 1024
WATCH = "llmesh.v1.Transfers/WatchJobs"
GET_JOB = "llmesh.v1.Transfers/GetJob"


@pytest.fixture
def pair(mesh, tmp_path):
    """A coordinator (with /metrics) and two agents: 'trainer' holds two models, 'mac' nothing."""
    mesh.start_coordinator(extra=["--piece-size", str(MIB), "--http-listen", f"127.0.0.1:{free_port()}"])
    trainer, mac = tmp_path / "trainer", tmp_path / "mac"
    mac.mkdir()
    make_hf_model(trainer / "llama-ft", shards=2, seed=3)
    write_big_safetensors(trainer / "big" / "model.safetensors", 8 * MIB, seed=5)
    (trainer / "big" / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    mesh.start_agent("trainer", [trainer])
    mesh.start_agent("mac", [mac])
    mesh.wait_host("trainer")
    mesh.wait_host("mac")
    mesh.wait_models(lambda rows: version_of(rows, "llama-ft") and version_of(rows, "big"))
    return mesh


def client(mesh) -> MeshClient:
    return MeshClient.connect(None, mesh.env(mesh.base / "coord-home"))


def rpc_count(mesh, method: str, code: str | None = None) -> float:
    token = json.loads((mesh.base / "coord-home" / "credentials.json").read_text())["token"]
    found = samples(get(mesh, "/metrics", token)[1])
    labels = {"method": method, **({"code": code} if code else {})}
    return sum(s.value for s in found.get("llmesh_rpc_requests", [])
               if s.name == "llmesh_rpc_requests_total" and all(s.labels.get(k) == v for k, v in labels.items()))


def slow_pull(mesh) -> dict:
    """A pull that cannot end during the test: 16 KB/s for 8 MiB."""
    return mesh.json("models", "pull", "big", "--to", "mac", "--limit", "16KB/s", "--detach")


def watch_process(mesh, job_id: str) -> subprocess.Popen:
    """`meshctl jobs watch ID --json` running, once it has printed the job's first state."""
    proc = subprocess.Popen([sys.executable, "-m", "llmesh.cli", "jobs", "watch", job_id, "--json"], cwd=REPO,
                            env=mesh.env(mesh.base / "coord-home"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    first = json.loads(proc.stdout.readline())
    assert first["id"] == job_id and first["state"] not in ("done", "failed", "cancelled")
    return proc


def test_pull_wait_follows_the_stream_and_never_polls(pair):
    result = pair.meshctl("models", "pull", "llama-ft", "--to", "mac", "--wait", "--json")
    job = json.loads(result.stdout)
    assert job["state"] == "done" and job["bytes_done"] == job["bytes_total"] > 0 and job["copy_path"]
    # meshctl learnt of the end from one WatchJobs stream that ended OK, not from GetJob.
    assert rpc_count(pair, WATCH, "OK") == 1
    assert rpc_count(pair, GET_JOB) == 0

    # A watch of a job that has finished: its final state, and the stream ends.
    with client(pair) as mesh:
        assert list(mesh.watch_jobs([job["id"]])) == [job]
    # The same through meshctl: one line, exit 0.
    lines = pair.meshctl("jobs", "watch", job["id"], "--json").stdout.splitlines()
    assert [json.loads(line)["state"] for line in lines] == ["done"]


def test_watch_delivers_a_real_pull_to_its_end(pair):
    with client(pair) as mesh:
        job = mesh.pull("big", "mac")
        seen = list(mesh.watch_jobs([job["id"]]))
    assert seen[0]["id"] == job["id"] and seen[-1]["state"] == "done"
    assert seen[-1]["bytes_done"] == seen[-1]["bytes_total"] == job["bytes_total"] > 8 * MIB
    assert all(s["state"] != "done" for s in seen[:-1])  # the end is the last message: the stream ended
    assert [s["bytes_done"] for s in seen] == sorted(s["bytes_done"] for s in seen)


def test_unknown_job_is_refused_in_one_line(pair):
    job = pair.json("models", "pull", "llama-ft", "--to", "mac", "--wait")
    with client(pair) as mesh, pytest.raises(NotFound, match="unknown job 'nosuchjob'"):
        list(mesh.watch_jobs([job["id"], "nosuchjob"]))  # nothing is sent for the known one either
    result = pair.meshctl("jobs", "watch", "nosuchjob", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == ["error: unknown job 'nosuchjob'"]


def test_a_client_that_goes_away_leaves_no_watch_behind(pair):
    job = slow_pull(pair)
    with client(pair) as mesh:
        stream = mesh.watch_jobs([job["id"]])
        assert next(stream)["id"] == job["id"]
        stream.close()  # the caller stops reading: the call is cancelled
    # The coordinator's stream ended (its handler ran to its end, as CANCELLED) ...
    wait_for(lambda: rpc_count(pair, WATCH, "CANCELLED") == 1, 60, "the dropped watch to end", logs=pair.logs())
    # ... and it still streams: a cancel reaches a new watcher at once, which then ends.
    proc = watch_process(pair, job["id"])
    pair.meshctl("jobs", "cancel", job["id"])
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert json.loads(out.splitlines()[-1])["state"] == "cancelled"
    assert rpc_count(pair, WATCH, "OK") == 1 and rpc_count(pair, GET_JOB) == 0
    log = pair.coordinator.output()
    assert "Traceback" not in log and "internal error" not in log


def test_a_coordinator_without_watch_jobs_is_polled(pair):
    job = pair.json("models", "pull", "llama-ft", "--to", "mac", "--detach")
    with client(pair) as mesh:
        # The call a coordinator from before WatchJobs would get: a method it does not serve.
        mesh._transfers.WatchJobs = mesh._channel.unary_stream(
            "/llmesh.v1.Transfers/NoSuchWatch", request_serializer=transfer_pb.WatchJobsRequest.SerializeToString,
            response_deserializer=transfer_pb.Job.FromString)
        with pytest.raises(Unimplemented):
            next(mesh.watch_jobs([job["id"]]))
        assert wait_for_jobs(mesh, [job["id"]])[0]["state"] == "done"
    assert rpc_count(pair, GET_JOB) >= 1 and rpc_count(pair, WATCH) == 0


@pytest.mark.parametrize("how", ["killed", "stopped"])
def test_a_coordinator_that_goes_away_ends_the_watch_with_an_error(pair, how):
    job = slow_pull(pair)
    proc = watch_process(pair, job["id"])
    if how == "killed":
        pair.coordinator.kill()
    else:
        pair.coordinator.signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)  # keepalives bound it even with no RST; here a guard only
    assert proc.returncode != 0 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    if how == "stopped":
        assert "stopping" in lines[0]


def test_a_watch_of_no_jobs_is_refused(pair):
    with client(pair) as mesh, pytest.raises(InvalidArgument, match="at least one job"):
        list(mesh.watch_jobs([]))
