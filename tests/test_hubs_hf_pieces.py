"""Hugging Face pulls by our own verified pieces (HTTP Range on each file's resolve URL, through
the store's resumable piece fetch OCI pulls use), not huggingface_hub's `.incomplete` files: a
tampered LFS piece is found and only it rewritten, bytes that never match are never kept nor
registered, an agent killed mid-download resumes from its recorded pieces, the token goes to the
Hub's host only, the result is in the real HF cache layout; and the base model a repo's card or
adapter_config.json names becomes lineage. The Hub here is a STAND-IN (tests/hf_standin.py): the
live Hub cannot be reached from the tests."""
import json
from pathlib import Path

import pytest
from factories import make_gguf, make_peft_adapter
from harness import wait_for
from hf_standin import HubStandIn
from test_hubs_hf import hf_env, offline_snapshot

from llmesh.agent.hubs import fetch as hubfetch
from llmesh.agent.hubs.hf import pull_hf
from llmesh.agent.store.blobs import BlobStore
from llmesh.common.errors import FailedPrecondition, Unavailable
from llmesh.common.refs import parse_hub_ref

PIECE = 64 * 1024
MIB = 1024 * 1024


@pytest.fixture
def hub():
    standin = HubStandIn()
    yield standin
    standin.stop()


@pytest.fixture
def hf_here(hub, tmp_path, monkeypatch):
    """This process's huggingface_hub pointed at the stand-in and a cache of the test's own (it read
    HF_ENDPOINT / HF_HOME at import, so its constants are set here)."""
    from huggingface_hub import constants
    cache = tmp_path / "hf" / "hub"
    monkeypatch.setattr(constants, "ENDPOINT", hub.endpoint)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return tmp_path / "hf"


def filler(size: int, seed: int) -> bytes:
    out = bytearray(b"GGUF\x03\x00\x00\x00")
    block = bytes([seed]) * 32
    while len(out) < size:
        block = __import__("hashlib").sha256(block).digest()
        out += block
    return bytes(out[:size])


def lfs_ranges(hub, size: int, piece: int) -> list[int]:
    """How many times each piece's range was served from the CDN."""
    got = [r for m, p, r, _ in hub.served if m == "GET" and p.startswith("/lfs/") and r]
    return [got.count(f"bytes={i * piece}-{min((i + 1) * piece, size) - 1}") for i in range(-(-size // piece))]


def test_a_tampered_piece_is_found_and_only_it_rewritten_and_the_cache_layout_is_real(hub, hf_here, tmp_path):
    model = filler(5 * PIECE + 77, seed=1)
    commit = hub.add_commit("org/tiny", {"tiny.gguf": model, "config.json": b'{"a": 1}'})
    hub.corrupt = {f"bytes={2 * PIECE}-{3 * PIECE - 1}": 1}  # piece 2 arrives tampered, once
    store = BlobStore(tmp_path / "store")
    stats = hubfetch.PullStats()
    pulled = pull_hf(parse_hub_ref("hf.co/org/tiny"), store, piece_size=PIECE, stats=stats)
    assert pulled.commit == commit
    assert pulled.path.name == "tiny.gguf" and pulled.path.read_bytes() == model
    assert stats.bad_pieces == [2]
    # Each piece once; then, looking for the bad one, pieces 0-2 read again and compared with what
    # was recorded (the Hub publishes one sha256 per file, no piece hashes); piece 2 fetched once
    # more and kept; nothing after it read twice.
    assert lfs_ranges(hub, len(model), PIECE) == [2, 2, 3, 1, 1, 1]
    assert not list(store.tmp_dir.iterdir())

    # The real HF cache layout: a plain huggingface_hub, offline, finds it at the pinned commit.
    found = offline_snapshot(hub, hf_here, "org/tiny")
    assert found.returncode == 0, found.stderr
    snapshot = Path(found.stdout.strip())
    assert snapshot == hf_here / "hub" / "models--org--tiny" / "snapshots" / commit
    assert (snapshot / "tiny.gguf").read_bytes() == model and (snapshot / "config.json").read_bytes() == b'{"a": 1}'
    assert (snapshot / "tiny.gguf").is_symlink()
    assert (hf_here / "hub" / "models--org--tiny" / "refs" / "main").read_text() == commit
    assert not list((hf_here / "hub").rglob("*.incomplete"))


def test_offline_the_cache_is_used_verified_and_the_hub_is_not_asked(hub, hf_here, tmp_path, monkeypatch):
    from huggingface_hub import constants
    model = filler(2 * PIECE + 9, seed=5)
    commit = hub.add_commit("org/off", {"off.gguf": model, "README.md": b"# off\n"})
    pull_hf(parse_hub_ref("hf.co/org/off"), BlobStore(tmp_path / "store-1"), piece_size=PIECE)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # HF_HUB_OFFLINE=1 on the host
    asked = len(hub.served)
    pulled = pull_hf(parse_hub_ref("hf.co/org/off"), BlobStore(tmp_path / "store-2"), piece_size=PIECE)
    assert pulled.commit == commit and pulled.path.read_bytes() == model
    assert len(hub.served) == asked  # from this host's HF cache alone
    with pytest.raises(Unavailable, match="Offline mode is on"):
        pull_hf(parse_hub_ref("hf.co/org/elsewhere"), BlobStore(tmp_path / "store-3"))
    # A cache file whose bytes no longer match the hash it is kept under: refused, not registered.
    blob = (hf_here / "hub" / "models--org--off" / "snapshots" / commit / "off.gguf").resolve()
    blob.unlink()  # a hard link of store-1's read-only blob: replaced, not written through
    blob.write_bytes(model[:-1] + b"\0")
    with pytest.raises(FailedPrecondition, match="does not match the hash it is kept under"):
        pull_hf(parse_hub_ref("hf.co/org/off"), BlobStore(tmp_path / "store-4"))


def test_bytes_that_never_match_are_not_kept(hub, hf_here, tmp_path):
    model = filler(3 * PIECE, seed=2)
    hub.add_commit("org/bad", {"bad.gguf": model})
    hub.corrupt = {f"bytes={PIECE}-{2 * PIECE - 1}": -1}  # always tampered: no good bytes to be had
    store = BlobStore(tmp_path / "store")
    with pytest.raises(FailedPrecondition, match="do not match"):
        pull_hf(parse_hub_ref("hf.co/org/bad"), store, piece_size=PIECE)
    assert not list(store.blobs_dir.iterdir()) and not list(store.tmp_dir.iterdir())
    assert not (hf_here / "hub" / "models--org--bad" / "snapshots").exists()


def test_the_token_goes_to_the_hub_host_only(hub, hf_here, tmp_path):
    model = filler(2 * PIECE, seed=3)
    hub.add_commit("org/gated", {"m.gguf": model, "README.md": b"# m\n"})
    hub.gated["org/gated"] = "hf_tok_5b1e"
    pulled = pull_hf(parse_hub_ref("hf.co/org/gated"), BlobStore(tmp_path / "store"), token="hf_tok_5b1e",
                     piece_size=PIECE)
    assert pulled.path.name == "m.gguf" and pulled.path.read_bytes() == model
    resolves = [auth for m, p, _, auth in hub.served if "/resolve/" in p]
    cdn = [auth for m, p, _, auth in hub.served if p.startswith("/lfs/")]
    assert resolves and all(resolves)  # the Hub's host (127.0.0.1): with the token
    assert len(cdn) == 2 and not any(cdn)  # the redirect target on another host (localhost): without


def test_an_agent_killed_mid_download_resumes_from_its_pieces(mesh, tmp_path, hub):
    model = make_gguf(tmp_path / "src" / "slow.gguf", hidden=512, layers=6, seed=4).read_bytes()
    pieces = -(-len(model) // MIB)
    assert pieces >= 3
    commit = hub.add_commit("org/slow", {"slow.gguf": model, "README.md": b"# slow\n"})
    mesh.start_coordinator(extra=["--piece-size", str(MIB)])
    root = tmp_path / "root-vm"
    root.mkdir()
    env = hf_env(hub, tmp_path / "hf-vm")
    mesh.start_agent("vm", [root], env=env)
    mesh.wait_host("vm")

    hub.delay_s = 3.0  # long enough that the kill lands while piece 1 is on the wire
    job = mesh.json("models", "pull", "hf.co/org/slow", "--to", "vm", "--detach")
    wait_for(lambda: sum(lfs_ranges(hub, len(model), MIB)) >= 2, 120, "piece 1 requested")
    mesh.agent("vm").kill()  # kill -9, mid-download: piece 0 is recorded in the store's tmp/, piece 1 is not
    hub.delay_s = 0.0
    mesh.start_agent("vm", [root], env=env)
    done = wait_for(lambda: (lambda j: j if j["state"] in ("done", "failed") else None)(
        mesh.json("jobs", "show", job["id"])), 300, "the pull to finish after the restart")
    assert done["state"] == "done", done.get("error")
    # Piece 1 was in flight at the kill: fetched again; every other piece exactly once.
    assert lfs_ranges(hub, len(model), MIB) == [1, 2] + [1] * (pieces - 2)
    assert hub.lfs_bytes_served <= len(model) + MIB
    info = mesh.json("models", "info", done["ref"])
    assert info["tags"]["hub.digest"] == f"hf.co/org/slow@{commit}"
    found = offline_snapshot(hub, tmp_path / "hf-vm", "org/slow")
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip(), "slow.gguf").read_bytes() == model
    assert not list((tmp_path / "hf-vm").rglob("*.incomplete"))


def card(base: str, relation: str = "") -> bytes:
    extra = f"base_model_relation: {relation}\n" if relation else ""
    return f"---\nlicense: mit\nbase_model: {base}\n{extra}---\n# a model\n".encode()


def test_base_model_lineage_from_the_card_and_adapter_config(mesh, tmp_path, hub):
    base_gguf = make_gguf(tmp_path / "src" / "base.gguf", seed=31).read_bytes()
    quant_gguf = make_gguf(tmp_path / "src" / "quant.gguf", seed=32).read_bytes()
    adapter = make_peft_adapter(tmp_path / "src" / "adapter", base="org/base", seed=33)
    hub.add_commit("org/base", {"base.gguf": base_gguf, "README.md": b"---\nlicense: mit\n---\n# base\n"})
    hub.add_commit("org/base-Q8", {"base-Q8_0.gguf": quant_gguf, "README.md": card("org/base", "quantized")})
    hub.add_commit("org/lora", {p.name: p.read_bytes() for p in adapter.iterdir()})  # no card: adapter_config.json
    mesh.start_coordinator()
    (tmp_path / "r").mkdir()
    mesh.start_agent("vm", [tmp_path / "r"], env=hf_env(hub, tmp_path / "hf"))
    mesh.wait_host("vm")

    def pull(ref: str) -> dict:
        job = json.loads(mesh.meshctl("models", "pull", ref, "--to", "vm", "--wait", "--json", timeout=300).stdout)
        assert job["state"] == "done", job
        return mesh.json("models", "info", job["ref"])

    lora = pull("hf.co/org/lora")  # its base is not here yet: the base's id is kept
    assert lora["base_model"] == "org/base"
    assert mesh.json("models", "lineage", f"{lora['name']}:{lora['version']}")["ancestors"] == []
    base = pull("hf.co/org/base")  # the base arrives: the adapter pulled before it is linked to it
    assert base["base_model"] == ""
    quant = pull("hf.co/org/base-Q8")  # the card names the base, which is here: linked at once
    assert quant["base_model"] == "org/base"
    for child, relation in ((lora, "adapter"), (quant, "quantized")):
        lineage = mesh.json("models", "lineage", f"{child['name']}:{child['version']}")
        assert [(a["name"], a["version"], a["relation"]) for a in lineage["ancestors"]] == \
            [(base["name"], base["version"], relation)]
    children = mesh.json("models", "lineage", f"{base['name']}:{base['version']}")["children"]
    assert sorted(c["name"] for c in children) == sorted([lora["name"], quant["name"]])
    # The LoRA base finding of `models adapters` (issue 11 builds on it) finds the adapter.
    assert [a["name"] for a in mesh.json("models", "adapters", base["name"])] == [lora["name"]]
