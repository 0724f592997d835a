"""Models to and from a real OCI registry (Debian's docker-registry on a loopback port, started
here), with a fault proxy in front: push an Ollama-shaped model, pull it back piece by piece into
the agent's store and an Ollama store layout, byte-exact; a piece corrupted on the way is found
and only it rewritten; an interrupted pull resumes from its recorded pieces; auth challenges and
registry errors are one clear line each."""
import hashlib
import json
import os

import pytest
from oci_registry import REGISTRY_BINARY, WHY_NO_REGISTRY, FaultProxy, LocalRegistry

from llmesh.agent.hubs import fetch as hubfetch
from llmesh.agent.hubs.oci import OLLAMA_MODEL, OLLAMA_TEMPLATE, Registry
from llmesh.agent.hubs.push import PushFile, files_of_manifest, push_files
from llmesh.agent.store.blobs import BlobStore
from llmesh.common.errors import NotFound, PermissionDenied, ResourceExhausted, Unauthenticated, Unavailable
from llmesh.common.refs import parse_hub_ref

pytestmark = pytest.mark.skipif(REGISTRY_BINARY is None, reason=WHY_NO_REGISTRY)

PIECE = 64 * 1024


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    reg = LocalRegistry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.fixture
def proxy(registry):
    p = FaultProxy(registry.address)
    yield p
    p.stop()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def gguf_bytes(size: int, seed: int = 1) -> bytes:
    """GGUF magic then deterministic filler: the registry and the pull treat it as opaque bytes."""
    out, block = bytearray(b"GGUF\x03\x00\x00\x00"), hashlib.sha256(bytes([seed])).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


def push_raw(reg: Registry, blobs: list[tuple[str, bytes]]) -> bytes:
    """An Ollama-shaped model pushed by the distribution protocol itself (blob uploads, then the
    manifest PUT), as `ollama push` lays one out: a config and model/template layers."""
    config = json.dumps({"model_format": "gguf", "model_family": "llama", "file_type": "Q8_0"}).encode()
    for _, data in [("config", config), *blobs]:
        reg.push_blob(digest_of(data), data)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                           "digest": digest_of(config), "size": len(config)},
                "layers": [{"mediaType": media, "digest": digest_of(data), "size": len(data)}
                           for media, data in blobs]}
    raw = json.dumps(manifest).encode()
    reg.push_manifest(raw)
    return raw


def test_pull_of_an_ollama_model_into_the_store_and_an_ollama_layout(tmp_path, proxy):
    model = gguf_bytes(5 * PIECE + 123)
    template = b"{{ .Prompt }}"
    ref = parse_hub_ref(f"{proxy.address}/library/tiny:q8", insecure=True)
    raw = push_raw(Registry(ref), [(OLLAMA_MODEL, model), (OLLAMA_TEMPLATE, template)])

    store = BlobStore(tmp_path / "store")
    reg = Registry(ref)
    manifest = reg.manifest()
    assert manifest.raw == raw and manifest.digest == digest_of(raw)
    stats = hubfetch.PullStats()
    blobs = hubfetch.pull_manifest_blobs(store, reg, manifest, piece_size=PIECE, stats=stats)
    assert blobs[digest_of(model)].read_bytes() == model
    assert stats.bytes_received == stats.bytes_total == len(model) + len(template) + manifest.config["size"]
    # Every byte of the model came by Range, one request per piece.
    model_gets = [r for m, p, r in proxy.requests if m == "GET" and digest_of(model) in p]
    assert model_gets == [f"bytes={i * PIECE}-{min((i + 1) * PIECE, len(model)) - 1}" for i in range(6)]

    ollama = tmp_path / "ollama-models"
    path = hubfetch.place_in_ollama_store(ollama, ref.ollama_manifest_parts, manifest, blobs)
    assert path == ollama / "manifests" / proxy.address / "library" / "tiny" / "q8"
    assert path.read_bytes() == raw
    for digest in (digest_of(model), digest_of(template), manifest.config["digest"]):
        held = ollama / "blobs" / ("sha256-" + digest.split(":")[1])
        assert digest_of(held.read_bytes()) == digest
    assert [n for n, _, _ in files_of_manifest(manifest)] == ["model.gguf", "template"]


def test_a_piece_corrupted_on_the_way_is_found_and_only_it_rewritten(tmp_path, proxy):
    model = gguf_bytes(4 * PIECE, seed=2)
    ref = parse_hub_ref(f"{proxy.address}/library/bad:1", insecure=True)
    push_raw(Registry(ref), [(OLLAMA_MODEL, model)])
    proxy.corrupt_range = f"bytes={2 * PIECE}-{3 * PIECE - 1}"  # piece 2, once
    store = BlobStore(tmp_path / "store")
    stats = hubfetch.PullStats()
    reg = Registry(ref)
    hubfetch.pull_manifest_blobs(store, reg, reg.manifest(), piece_size=PIECE, stats=stats)
    assert store.blob_path(digest_of(model)).read_bytes() == model
    assert stats.bad_pieces == [2]
    assert not list((tmp_path / "store" / "tmp").iterdir())


def test_a_pull_interrupted_resumes_from_its_recorded_pieces(tmp_path, proxy):
    model = gguf_bytes(6 * PIECE, seed=3)
    ref = parse_hub_ref(f"{proxy.address}/library/resume:1", insecure=True)
    push_raw(Registry(ref), [(OLLAMA_MODEL, model)])
    reg = Registry(ref)
    manifest = reg.manifest()
    layer = manifest.layers[0]

    class Killed(Exception):
        pass

    seen = []

    def kill_after_three(done, received):
        seen.append(received)
        if sum(1 for r in seen if r) == 3:
            raise Killed()

    with pytest.raises(Killed):
        hubfetch.RegistryBlobFetch(BlobStore(tmp_path / "store"), reg, layer["digest"], layer["size"],
                                   piece_size=PIECE, progress=kill_after_three).run()
    before = len(proxy.ranges())
    store = BlobStore(tmp_path / "store")  # as a restarted agent opens it: the partial stays
    assert store.partial_path(layer["digest"]).exists()
    stats = hubfetch.PullStats()
    path = hubfetch.RegistryBlobFetch(store, Registry(ref), layer["digest"], layer["size"], piece_size=PIECE,
                                      stats=stats).run()
    assert path.read_bytes() == model
    # Killed while piece 2 was landing (before its state was written): that one piece again, then 3-5.
    assert stats.pieces_fetched == 4 and len(proxy.ranges()) - before == 4


def test_push_of_store_files_round_trips_and_skips_blobs_the_registry_has(tmp_path, proxy):
    files = []
    for rel, data in (("weights/m.gguf", gguf_bytes(2 * PIECE + 7, seed=4)), ("README.md", b"# tiny\n")):
        path = tmp_path / rel.replace("/", "_")
        path.write_bytes(data)
        files.append(PushFile(rel, path, digest_of(data), len(data)))
    ref = parse_hub_ref(f"{proxy.address}/team/tiny:v1", insecure=True)
    record = {"name": "team/tiny", "version": 1}
    first = push_files(Registry(ref), files, record)
    assert first.blobs_sent == 3 and first.blobs_skipped == 0
    again = push_files(Registry(parse_hub_ref(f"{proxy.address}/team/tiny:v2", insecure=True)), files, record)
    assert again.blobs_sent == 0 and again.blobs_skipped == 3
    assert again.manifest_digest == first.manifest_digest

    reg = Registry(ref)
    manifest = reg.manifest()
    assert manifest.digest == first.manifest_digest
    assert manifest.layers[0]["mediaType"] == OLLAMA_MODEL
    store = BlobStore(tmp_path / "store")
    blobs = hubfetch.pull_manifest_blobs(store, reg, manifest, piece_size=PIECE)
    names = files_of_manifest(manifest)
    assert [n for n, _, _ in names] == ["weights/m.gguf", "README.md"]
    for (name, digest, _), f in zip(names, files):
        assert blobs[digest].read_bytes() == f.path.read_bytes()
    assert json.loads(blobs[manifest.config["digest"]].read_bytes())["llmesh"] == record


def test_a_bearer_challenge_is_answered(tmp_path, proxy, registry):
    model = gguf_bytes(PIECE, seed=5)
    push_raw(Registry(parse_hub_ref(f"{registry.address}/library/auth:1", insecure=True)), [(OLLAMA_MODEL, model)])
    proxy.token = "s3cret"
    reg = Registry(parse_hub_ref(f"{proxy.address}/library/auth:1", insecure=True))
    assert reg.manifest().layers[0]["digest"] == digest_of(model)
    assert proxy.count("GET", "/token") == 1  # one token, then used for every request


@pytest.mark.parametrize("status,error,words", [
    (401, Unauthenticated, "wants credentials"), (403, PermissionDenied, "refused access"),
    (404, NotFound, "unknown tag or repository"), (429, ResourceExhausted, "rate-limiting"),
    (500, Unavailable, "HTTP 500"),
])
def test_registry_errors_are_one_line(proxy, status, error, words):
    proxy.status = status
    with pytest.raises(error) as e:
        Registry(parse_hub_ref(f"{proxy.address}/library/x:1", insecure=True)).manifest()
    assert words in str(e.value) and "\n" not in str(e.value)


def test_unknown_tag_and_dropped_connection(tmp_path, proxy, registry):
    with pytest.raises(NotFound, match="unknown tag or repository"):
        Registry(parse_hub_ref(f"{registry.address}/library/nothing:here", insecure=True)).manifest()
    proxy.drop = True
    store = BlobStore(tmp_path / "store")
    with pytest.raises(Unavailable, match="connection failed"):
        Registry(parse_hub_ref(f"{proxy.address}/library/x:1", insecure=True)).manifest()
    assert not os.listdir(store.tmp_dir)
