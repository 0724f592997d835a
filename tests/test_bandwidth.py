"""Bandwidth limits: rate parsing, quiet hours, and the token bucket on a fake clock (the 10 %
bound checked over every 5 s window of simulated time), then real agents on loopback."""
import json
import random

import pytest
from factories import write_big_safetensors
from harness import version_of

from llmesh.common.errors import InvalidArgument
from llmesh.common.ratelimit import QuietHours, Schedule, TokenBucket, chunk_for, quiet_hours
from llmesh.common.units import human_rate, parse_rate

MIB = 1024 * 1024


@pytest.mark.parametrize("text,expected", [
    ("50MB/s", 50_000_000), ("1GiB/s", 1024 ** 3), ("800k", 800_000), ("12345", 12345), ("0", 0),
    ("1.5 MiB/s", int(1.5 * MIB)), ("100mb", 100_000_000), ("", 0),
])
def test_rates_parse_with_units(text, expected):
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["fast", "50XB/s", "-5MB/s", "MB/s", "1.2.3MB"])
def test_a_bad_rate_names_the_option(text):
    with pytest.raises(InvalidArgument, match="--limit"):
        parse_rate(text, "--limit")


def test_rates_are_shown_in_decimal_units():
    assert human_rate(50_000_000) == "50.0 MB/s" and human_rate(512) == "512 B/s"


def test_quiet_hours_cap_the_rate_inside_their_window_only():
    day = QuietHours.parse("09:00-18:00=50MB/s")
    night = QuietHours.parse("22:30-06:00=1GB/s")  # wraps midnight
    minute = [0]
    schedule = Schedule(200_000_000, [day, night], minute_of_day=lambda: minute[0])
    for at, expected in [(8 * 60 + 59, 200_000_000), (9 * 60, 50_000_000), (17 * 60 + 59, 50_000_000),
                         (18 * 60, 200_000_000), (23 * 60, 200_000_000), (3 * 60, 200_000_000)]:
        minute[0] = at
        assert schedule.rate() == expected, at
    unlimited = Schedule(0, [night], minute_of_day=lambda: minute[0])
    minute[0] = 23 * 60
    assert unlimited.rate() == 1_000_000_000
    minute[0] = 12 * 60
    assert unlimited.rate() == 0


@pytest.mark.parametrize("text", ["09:00=5MB/s", "9-18=5MB/s", "09:00-25:00=5MB/s", "09:00-09:00=5MB/s",
                                  "09:00-18:00=0", "09:00-18:00=lots"])
def test_bad_quiet_hours_are_refused(text):
    with pytest.raises(InvalidArgument, match="quiet-hours"):
        quiet_hours([text])


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def simulate(bucket: TokenBucket, clock: FakeClock, chunks: list[int], senders: int) -> list[tuple[float, int]]:
    """Several senders share the bucket; each reserves a chunk, waits as told, sends, and asks again.
    Returns (send time, bytes) of every chunk, in simulated time."""
    ready = [(clock.now, i) for i in range(senders)]
    sent, queue = [], list(chunks)
    while queue:
        ready.sort()
        at, who = ready.pop(0)
        clock.now = max(clock.now, at)
        n = queue.pop(0)
        wait = bucket.reserve(n)
        sent.append((clock.now + wait, n))
        ready.append((clock.now + wait, who))
    return sorted(sent)


def worst_window(sent: list[tuple[float, int]], span: float) -> float:
    """Most bytes sent in any window of ``span`` seconds (windows start at a send)."""
    best, j, total = 0, 0, 0
    for i, (start, _) in enumerate(sent):
        while j < len(sent) and sent[j][0] < start + span:
            total += sent[j][1]
            j += 1
        best = max(best, total)
        total -= sent[i][1]
    return best


@pytest.mark.parametrize("rate,senders,seed", [(50_000_000, 4, 1), (1_000_000, 1, 2), (8 * MIB, 8, 3)])
def test_the_bucket_holds_the_limit_within_ten_percent_over_any_five_seconds(rate, senders, seed):
    rng = random.Random(seed)
    clock = FakeClock()
    bucket = TokenBucket(rate, clock=clock)
    largest = chunk_for(bucket, MIB)  # what the Peer service sends under this limit
    chunks = [rng.choice([largest, largest // 3, 1]) for _ in range(int(rate * 60 / largest * 2))]
    sent = simulate(bucket, clock, chunks, senders)
    assert worst_window(sent, 5.0) <= 1.10 * rate * 5.0
    # From the start, never ahead of the limit (each chunk only once it is paid for).
    total = 0
    for at, n in sent:
        total += n
        assert total <= rate * (at - 1000.0) + 1  # a byte of float rounding
    # ... and it does not starve the senders: over the whole run the rate is the limit.
    span = sent[-1][0] - sent[0][0]
    assert sum(n for _, n in sent) / span >= 0.95 * rate


def test_an_idle_bucket_saves_only_a_quarter_second_of_burst():
    clock = FakeClock()
    bucket = TokenBucket(10_000_000, clock=clock)
    clock.now += 3600  # an hour idle
    assert bucket.reserve(2_500_000) == 0.0
    assert bucket.reserve(1_000_000) == pytest.approx(0.1)


def test_the_bucket_follows_the_schedule_and_zero_means_no_limit():
    clock, rate = FakeClock(), [0]
    bucket = TokenBucket(lambda: rate[0], clock=clock)
    assert all(bucket.reserve(100 * MIB) == 0.0 for _ in range(10))
    rate[0] = MIB
    assert bucket.reserve(MIB) == pytest.approx(1.0)


# -- real agents --------------------------------------------------------------------------------

@pytest.fixture
def pair(mesh, tmp_path):
    mesh.start_coordinator(extra=["--piece-size", str(MIB)])
    mesh.trainer_root, mesh.mac_root = tmp_path / "trainer", tmp_path / "mac"
    mesh.mac_root.mkdir()
    write_big_safetensors(mesh.trainer_root / "big" / "model.safetensors", 16 * MIB, seed=5)
    (mesh.trainer_root / "big" / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    return mesh


def start_both(mesh, trainer_extra=(), mac_extra=()):
    mesh.start_agent("trainer", [mesh.trainer_root], extra=list(trainer_extra))
    mesh.start_agent("mac", [mesh.mac_root], extra=list(mac_extra))
    mesh.wait_host("trainer")
    mesh.wait_host("mac")
    mesh.wait_models(lambda rows: version_of(rows, "big"))


def mean_rate(job: dict) -> float:
    """Bytes over the wire / the job's whole run, dispatch to the final report (an overestimate of
    the time the bytes took, so an underestimate of their rate: never kinder to the limiter)."""
    return job["bytes_received"] / (job["finished_at"] - job["started_at"])


def test_a_pull_with_a_limit_stays_under_it_and_jobs_show_per_source_rates(pair):
    start_both(pair)
    limit = 4_000_000
    job = json.loads(pair.meshctl("models", "pull", "big", "--to", "mac", "--limit", "4MB/s", "--wait",
                                  "--json").stdout)
    assert job["state"] == "done" and job["bytes_received"] == job["bytes_total"] > 10 * MIB
    assert job["rate_limit"] == limit
    print(f"  limited pull: {mean_rate(job) / 1e6:.2f} MB/s mean under a 4 MB/s limit")
    assert mean_rate(job) <= 1.10 * limit
    # Every verified byte is accounted to the source that delivered it.
    assert [(r["host"], r["bytes_verified"]) for r in job["source_rates"]] == [("trainer", job["bytes_received"])]
    shown = pair.meshctl("jobs", "show", job["id"]).stdout
    assert "rate_limit      4.0 MB/s" in shown and "from trainer" in shown


def test_an_agents_upload_limit_holds_for_every_reader(pair):
    start_both(pair, trainer_extra=["--max-upload-rate", "4MB/s"])
    job = json.loads(pair.meshctl("models", "pull", "big", "--to", "mac", "--wait", "--json").stdout)
    assert job["state"] == "done" and job["rate_limit"] == 0
    print(f"  upload-limited pull: {mean_rate(job) / 1e6:.2f} MB/s mean under a 4 MB/s limit")
    assert mean_rate(job) <= 1.10 * 4_000_000


def test_bad_rates_are_one_line_errors(pair):
    pair.start_agent("trainer", [pair.trainer_root])
    pair.wait_host("trainer")
    result = pair.meshctl("models", "pull", "big", "--to", "trainer", "--limit", "fast", check=False)
    assert result.returncode != 0 and "--limit 'fast'" in result.stderr and "Traceback" not in result.stderr
    agent = pair.meshctl("agent", "run", "--coordinator", pair.address, "--root", str(pair.mac_root),
                         "--quiet-hours", "9-18=5MB/s", check=False)
    assert agent.returncode != 0 and "--quiet-hours" in agent.stderr and "Traceback" not in agent.stderr


# -- hash once per byte -------------------------------------------------------------------------

def registry_index_ids(mesh) -> dict[str, str]:
    import sqlite3
    with sqlite3.connect(mesh.base / "coord-home" / "coordinator" / "registry.db") as db:
        return dict(db.execute("SELECT digest, index_id FROM piece_indexes WHERE piece_size = ?", [MIB]))


def test_the_scan_indexes_pieces_the_registry_binds_them_and_a_pull_hashes_each_byte_once(pair):
    from harness import wait_for

    from llmesh.common.pieces import compute_piece_index
    start_both(pair)
    weights = pair.trainer_root / "big" / "model.safetensors"
    expected = compute_piece_index(weights, MIB)
    wait_for(lambda: registry_index_ids(pair).get(expected.digest) == expected.index_id, 120,
             "the scan's piece index in the registry")
    job = json.loads(pair.meshctl("models", "pull", "big", "--to", "mac", "--wait", "--json").stdout)
    assert job["state"] == "done"
    log = (pair.base / "agent-mac.log").read_text()
    assert f"{expected.digest[:19]} received: every piece matched the index on record" in log
    verified = pair.meshctl("models", "verify", "big")  # sha256 is still checked on demand, on every copy
    assert verified.returncode == 0 and "mac" in verified.stdout, verified.stdout


def test_an_index_on_record_that_the_sources_do_not_match_means_a_whole_file_check(pair):
    import sqlite3

    from harness import wait_for

    from llmesh.common.pieces import compute_piece_index
    start_both(pair)
    weights = pair.trainer_root / "big" / "model.safetensors"
    expected = compute_piece_index(weights, MIB)
    wait_for(lambda: expected.digest in registry_index_ids(pair), 120, "the scan's piece index in the registry")
    with sqlite3.connect(pair.base / "coord-home" / "coordinator" / "registry.db") as db:
        db.execute("UPDATE piece_indexes SET index_id = ? WHERE digest = ?", ["sha256:" + "0" * 64, expected.digest])
    job = json.loads(pair.meshctl("models", "pull", "big", "--to", "mac", "--wait", "--json").stdout)
    assert job["state"] == "done"
    log = (pair.base / "agent-mac.log").read_text()
    assert "is not the one on record; checking the whole file" in log
    assert f"{expected.digest[:19]} received: whole file checked against its sha256" in log


def test_a_ticket_names_the_piece_indexes_and_still_verifies():
    from cryptography.hazmat.primitives.asymmetric import ec

    from llmesh.common import tickets
    key = ec.generate_private_key(ec.SECP256R1())
    digest, index_id = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    token = tickets.issue_ticket(key, "j", "dest", [digest], piece_indexes={digest: index_id}, piece_size=MIB)
    assert tickets.piece_index_ids(token) == (MIB, {digest: index_id})
    assert tickets.verify_ticket(token, key.public_key(), caller_agent_id="dest", digest=digest).job == "j"
    assert tickets.piece_index_ids(tickets.issue_ticket(key, "j", "dest", [digest])) == (0, {})
