"""The integrity scrub: a byte flipped in a held copy (size and mtime kept, so a hash cache keyed
on them cannot notice) is found by the next `meshctl scrub` and shown as drifted in the CLI, in
/metrics, on the dashboard and as a copy.drifted webhook; an untouched copy stays verified; agents
scrub on their own schedule; the throttle keeps to its rate; a scrub never follows a link out of
the roots. Also what the host's Ollama has loaded, in /metrics, through the Ollama STAND-IN (tests/ollama_standin.py:
the Ollama server cannot be installed here)."""
import json
import os
import threading
import urllib.parse

import pytest
from factories import make_hf_model
from harness import free_port, wait_for
from ollama_standin import OllamaStandIn
from test_dashboard import Client, admin_token
from test_hooks import Receiver
from test_metrics import get, samples, value

from llmesh.agent.inventory.hash_cache import HashCache
from llmesh.agent.inventory.scanner import Scanner
from llmesh.agent.inventory.scrub import ScrubRun, ScrubStopped, Throttle, scrub_copies
from llmesh.common.errors import InvalidArgument, PermissionDenied
from llmesh.coordinator.registry import Registry


class FakeClock:
    """Time that moves only when the throttle sleeps (or the test says so)."""

    def __init__(self):
        self.now, self.sleeps = 100.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def flip_last_byte(path) -> None:
    """Change one byte in place, keeping size, inode and mtime: only a re-read can see it."""
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        byte = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino)


# -- the throttle and the scrub itself, in process ---------------------------------------------

def test_throttle_sleeps_until_the_bytes_read_are_due():
    clock = FakeClock()
    throttle = Throttle(100, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        throttle(50)
    # 200 bytes at 100 B/s take 2 s: each read of 50 waits until its bytes are due.
    assert clock.sleeps == [0.5, 0.5, 0.5, 0.5]
    clock.now += 10  # a slow disk: a pause earns at most the bucket's burst (a quarter second), not 10 s
    throttle(25)
    assert len(clock.sleeps) == 4
    throttle(100)
    assert clock.sleeps[4:] == [1.0]
    unlimited = Throttle(0, clock=clock, sleep=clock.sleep)
    unlimited(10 ** 12)
    assert len(clock.sleeps) == 5


def test_throttle_gives_a_scrub_its_share_of_the_disks_time_at_whatever_speed_the_disk_reads():
    clock = FakeClock()
    throttle = Throttle(0, share=0.25, clock=clock, sleep=clock.sleep)

    def read(seconds: float, n: int = 1 << 20) -> None:  # a read that takes ``seconds`` on the fake disk
        clock.now += seconds
        throttle(n)

    read(5.0)  # a worker's first read has no start to measure from
    assert clock.sleeps == []
    read(0.1)  # a fast disk: a short pause; at a quarter, three times the read
    read(0.4)  # the disk slowed down: the pause follows
    assert clock.sleeps == pytest.approx([0.3, 1.2])
    clock.now += 60  # idle time (between copies, a new worker) earns no credit: a read still pauses
    assert throttle.due(1, 0.2) == pytest.approx(0.6)
    assert Throttle(0, share=1, clock=clock, sleep=clock.sleep).due(10, 3.0) == 0  # share 1: no pause

    # Two workers share one budget: reads that overlapped in time still cost the sum of their seconds.
    both = Throttle(0, share=0.5, clock=clock, sleep=clock.sleep)
    clock.now += 1.0
    assert both.due(1, 1.0) == pytest.approx(1.0)
    # The other worker, done at the same moment: two worker-seconds of reading cost four from when they began.
    assert both.due(1, 1.0) == pytest.approx(3.0)

    # The rate still caps: a disk fast enough for the share pauses for the bytes instead.
    capped = Throttle(100, share=0.5, clock=clock, sleep=clock.sleep)
    assert capped.due(50, 0.1) == pytest.approx(0.5)  # 50 bytes at 100 B/s, longer than the 0.1 s share pause
    clock.now += 0.5 + 3.0  # that pause, then a slow read
    assert capped.due(1, 3.0) == pytest.approx(3.0)  # now the share's pause is the longer one
    for share in (0, -1, 1.5):
        with pytest.raises(InvalidArgument, match="share"):
            Throttle(0, share=share)


def test_scrub_rereads_every_byte_at_its_rate_and_ignores_the_hash_cache(tmp_path):
    root = tmp_path / "models"
    make_hf_model(root / "one", seed=1)
    make_hf_model(root / "two", seed=2)
    scanner = Scanner([str(root)], HashCache(tmp_path / "cache.db"), hash_workers=2)
    models = sorted(scanner.scan().models, key=lambda m: m.path)
    flip_last_byte(root / "one" / "model.safetensors")
    assert scanner.inspect(str(root / "one")).digest == models[0].digest  # the cache is fooled
    clock = FakeClock()
    rate = 1024 * 1024
    run = ScrubRun("s1", "request")
    scrub_copies(models, scanner.inspect, Throttle(rate, clock=clock, sleep=clock.sleep), run)
    total = sum(m.size_bytes for m in models)
    assert (run.copies_checked, run.bytes_done, run.bytes_total) == (2, total, total)
    assert sum(clock.sleeps) == pytest.approx(total / rate)  # no faster than the rate, on the fake clock
    digests = {f["path"]: f["digest"] for f in run.findings}
    assert digests[models[0].path] != models[0].digest  # the flipped byte
    assert digests[models[1].path] == models[1].digest

    stopping = threading.Event()
    stopping.set()
    with pytest.raises(ScrubStopped):  # an agent that stops ends its scrub at the next read
        scrub_copies(models, scanner.inspect, Throttle(0), ScrubRun("s2", "request"), stopping)


def test_scrub_does_not_follow_a_link_out_of_the_roots(tmp_path):
    root, outside = tmp_path / "models", tmp_path / "elsewhere"
    make_hf_model(root / "linked", seed=3)
    scanner = Scanner([str(root)], HashCache(tmp_path / "cache.db"))
    [model] = scanner.scan().models
    weights = root / "linked" / "model.safetensors"
    outside.mkdir()
    os.replace(weights, outside / "model.safetensors")
    os.symlink(outside / "model.safetensors", weights)
    run = ScrubRun("s1", "request")
    scrub_copies([model], scanner.inspect, Throttle(0), run)
    [finding] = run.findings
    assert finding["outcome"] == "error" and finding["digest"] == ""
    assert "outside" in finding["error"], finding
    assert run.bytes_done == 0 or run.bytes_done < model.size_bytes


def test_a_scrub_in_flight_when_its_agent_reconnects_is_interrupted_until_it_reports_again(tmp_path):
    registry = Registry(tmp_path / "registry.db")
    try:
        for agent_id, name in (("id-a", "a"), ("id-b", "b")):
            registry.hosts.host_hello({"agent_id": agent_id, "name": name, "facts": {"platform": "linux"},
                                       "roots": ["/m"], "heartbeat_interval_s": 1.0})
        host_id = registry.hosts.host_by_name("a")["id"]
        registry.scrubs.requested(host_id, "s1", "alice")
        report = {"scrub_id": "s1", "state": "running", "copies_total": 3, "copies_checked": 1}
        registry.scrubs.report(host_id, "a", report)
        registry.scrubs.interrupt(host_id)  # the agent said hello again
        [row] = registry.scrubs.list(host_id)
        assert row["state"] == "interrupted" and "reconnected" in row["error"]
        registry.scrubs.report(host_id, "a", dict(report, copies_checked=2))  # it was still running
        assert registry.scrubs.list(ids=["s1"])[0]["state"] == "running"
        registry.scrubs.report(host_id, "a", dict(report, state="done", copies_checked=3, findings=[]))
        registry.scrubs.report(host_id, "a", dict(report, state="running"))  # a stale repeat: ignored
        [row] = registry.scrubs.list(ids=["s1"])
        assert (row["state"], row["copies_checked"], row["requested_by"]) == ("done", 3, "alice")
        with pytest.raises(PermissionDenied):  # one agent cannot report another's scrub
            registry.scrubs.report(registry.hosts.host_by_name("b")["id"], "b", dict(report, state="done"))
    finally:
        registry.close()


# -- real processes ---------------------------------------------------------------------------

def test_a_flipped_byte_is_found_by_the_next_scrub_and_shown_as_drifted(mesh, tmp_path):
    receiver = Receiver()
    try:
        mesh.start_coordinator(extra=["--http-listen", f"127.0.0.1:{free_port()}"])
        root = tmp_path / "models"
        make_hf_model(root / "rot", seed=4)
        make_hf_model(root / "sound", seed=5)
        # Paced by the share alone (no rate): the scrub still reads every byte.
        mesh.start_agent("box", [root], extra=["--scrub-interval", "0", "--scrub-rate", "0", "--scrub-share", "0.5"])
        mesh.wait_host("box")
        mesh.wait_models(lambda rows: {"rot", "sound"} <= {r["name"] for r in rows})
        hook = mesh.json("hooks", "add", f"{receiver.url}/good", "--on", "copy.drifted", "--secret", "x")

        clean = mesh.meshctl("scrub", "--wait", "--json")  # nothing drifted yet: exit 0
        [first] = json.loads(clean.stdout)["scrubs"]
        assert (first["host"], first["state"], first["copies_checked"], first["drifted"]) == ("box", "done", 2, 0)

        flip_last_byte(root / "rot" / "model.safetensors")
        found = mesh.meshctl("scrub", "--wait", "--json", check=False)
        assert found.returncode == 1 and "Traceback" not in found.stderr, found.stderr
        assert "1 drifted copy" in found.stderr and "rot:1" in found.stderr
        [scrub] = json.loads(found.stdout)["scrubs"]
        assert scrub["state"] == "done" and scrub["trigger"] == "request" and scrub["drifted"] == 1
        assert scrub["bytes_done"] == scrub["bytes_total"] > 0
        assert scrub["drifted_copies"] == [f"rot:1 {root.resolve() / 'rot'}"]

        states = {name: [c["state"] for c in mesh.json("models", "info", f"{name}:1")["copies"]]
                  for name in ("rot", "sound")}
        assert states == {"rot": ["drifted"], "sound": ["verified"]}
        status = mesh.json("scrub", "--status")["scrubs"]
        assert [(s["id"], s["drifted"]) for s in status] == [(scrub["id"], 1)]
        assert "drifted" in mesh.meshctl("scrub", "--status").stdout
        last = mesh.host("box")["last_scrub"]
        assert (last["id"], last["drifted"], last["copies_checked"]) == (scrub["id"], 1, 2)

        viewer = mesh.meshctl("user", "add", "prometheus", "--role", "viewer").stdout.strip()
        metrics = samples(get(mesh, "/metrics", viewer)[1])
        assert value(metrics, "llmesh_copies", state="drifted") == 1
        assert value(metrics, "llmesh_copies", state="verified") == 1
        assert value(metrics, "llmesh_scrub_drifted_copies", "llmesh_scrub_drifted_copies_total", host="box") == 1
        assert value(metrics, "llmesh_scrub_copies_checked", "llmesh_scrub_copies_checked_total", host="box") == 4
        assert value(metrics, "llmesh_scrub_bytes", "llmesh_scrub_bytes_total", host="box") == 2 * scrub["bytes_done"]
        assert value(metrics, "llmesh_scrub_last_success_timestamp_seconds", host="box") == pytest.approx(
            scrub["finished_at"])
        assert value(metrics, "llmesh_scrub_running", host="box") == 0

        # The dashboard's models x hosts matrix reads the same copy states.
        web = Client(mesh)
        assert web.login(admin_token(mesh))[0] == 303
        page = web.json("/api/models?q=" + urllib.parse.quote("name = 'rot' OR name = 'sound'"))[1]
        assert {v["name"]: [(c["host"], c["state"]) for c in v["copies"]] for v in page["items"]} == {
            "rot": [("box", "drifted")], "sound": [("box", "verified")]}

        [delivery] = wait_for(lambda: receiver.at("/good"), 30, "a copy.drifted delivery", logs=mesh.logs())
        body = json.loads(delivery["body"])
        assert delivery["headers"]["X-Llmesh-Event"] == "copy.drifted"
        assert body["resource"] == "rot:1@box" and body["detail"]["scrub"] == scrub["id"]
        assert hook["events"] == ["copy.drifted"]

        bad = mesh.meshctl("scrub", "--host", "nosuch", check=False)
        assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "unknown host 'nosuch'" in bad.stderr
    finally:
        receiver.close()


def test_scheduled_scrubs_and_what_ollama_has_loaded_in_metrics(mesh, tmp_path):
    with OllamaStandIn() as ollama:
        ollama.loaded["tiny:latest"] = {"size": 3_000_000, "size_vram": 2_000_000}
        mesh.start_coordinator(extra=["--http-listen", f"127.0.0.1:{free_port()}"])
        root = tmp_path / "models"
        make_hf_model(root / "kept", seed=6)
        mesh.start_agent("sched", [root], extra=["--scrub-interval", "1", "--ollama-url", ollama.url])
        mesh.wait_host("sched")
        scheduled = wait_for(
            lambda: [s for s in mesh.json("scrub", "--status", "--host", "sched")["scrubs"]
                     if s["trigger"] == "schedule" and s["state"] == "done"],
            60, "a scheduled scrub", logs=mesh.logs())
        assert scheduled[0]["copies_checked"] == 1 and scheduled[0]["drifted"] == 0
        viewer = mesh.meshctl("user", "add", "prometheus", "--role", "viewer").stdout.strip()
        found = wait_for(lambda: (f := samples(get(mesh, "/metrics", viewer)[1]))
                         and value(f, "llmesh_ollama_loaded_models", host="sched") == 1 and f,
                         30, "Ollama's loaded models in /metrics", logs=mesh.logs())
        labels = dict(host="sched", model="tiny:latest")
        assert value(found, "llmesh_ollama_model_vram_bytes", **labels) == 2_000_000
        assert value(found, "llmesh_ollama_model_size_bytes", **labels) == 3_000_000
        assert ollama.count("GET", "/api/ps") >= 1
