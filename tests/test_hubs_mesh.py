"""`meshctl models pull REGISTRY/NS/MODEL:TAG --to HOST` end to end: real agents, a real OCI
registry (Debian's docker-registry, behind the counting proxy of oci_registry.py), the agent
fetching the model itself into its store and its Ollama store layout, the version registered
with its source; pulled once, spread over the mesh (a second host's pull and `--to h1,h2` move
no bytes from the registry again)."""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from factories import make_gguf
from harness import Mesh, wait_for
from oci_registry import REGISTRY_BINARY, WHY_NO_REGISTRY, FaultProxy, LocalRegistry

from llmesh.agent.hubs.oci import OLLAMA_MODEL, OLLAMA_TEMPLATE, Registry
from llmesh.common.refs import parse_hub_ref

pytestmark = pytest.mark.skipif(REGISTRY_BINARY is None, reason=WHY_NO_REGISTRY)
MIB = 1024 * 1024


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_ollama_model(address: str, name: str, gguf: bytes) -> bytes:
    """An Ollama-shaped model pushed by the distribution protocol (blob uploads, manifest PUT)."""
    reg = Registry(parse_hub_ref(f"{address}/library/{name}", insecure=True))
    config = json.dumps({"model_format": "gguf", "model_family": "llama"}).encode()
    template = b"{{ .Prompt }}"
    for data in (config, gguf, template):
        reg.push_blob(digest_of(data), data)
    raw = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": digest_of(config),
                   "size": len(config)},
        "layers": [{"mediaType": OLLAMA_MODEL, "digest": digest_of(gguf), "size": len(gguf)},
                   {"mediaType": OLLAMA_TEMPLATE, "digest": digest_of(template), "size": len(template)}]}).encode()
    reg.push_manifest(raw)
    return raw


@pytest.fixture
def hub(tmp_path):
    reg = LocalRegistry(tmp_path / "registry-root")
    proxy = FaultProxy(reg.address)
    yield proxy
    proxy.stop()
    reg.stop()


def blob_gets(proxy, digest: str) -> int:
    return sum(1 for m, p, _ in proxy.requests if m == "GET" and f"/blobs/{digest}" in p)


def test_pull_from_a_registry_to_an_agent_then_spread_over_the_mesh(mesh, tmp_path, hub):
    gguf = make_gguf(tmp_path / "src" / "tiny.gguf", hidden=512, layers=6, seed=7).read_bytes()
    assert len(gguf) > 2 * MIB  # several pieces
    raw = push_ollama_model(hub.address, "tiny", gguf)

    mesh.start_coordinator(extra=["--piece-size", str(MIB)])
    roots = {h: tmp_path / f"root-{h}" for h in ("vm", "mac", "box")}
    for h, root in roots.items():
        root.mkdir()
        mesh.start_agent(h, [root], env={"OLLAMA_MODELS": str(tmp_path / f"ollama-{h}")})
    for h in roots:
        mesh.wait_host(h)

    ref = f"{hub.address}/library/tiny"
    job = json.loads(mesh.meshctl("models", "pull", ref, "--to", "vm", "--insecure", "--ollama", "--wait",
                                  "--json", timeout=300).stdout)
    assert job["state"] == "done", job
    assert job["ref"].startswith("tiny:") and job["bytes_received"] == job["bytes_total"] > len(gguf)
    pieces = -(-len(gguf) // MIB)
    assert blob_gets(hub, digest_of(gguf)) == pieces  # one Range request per piece, nothing twice

    # The host's Ollama store has it as Ollama keeps models, and the model dir holds the GGUF.
    manifest = tmp_path / "ollama-vm" / "manifests" / hub.address / "library" / "tiny" / "latest"
    assert manifest.read_bytes() == raw
    blob = tmp_path / "ollama-vm" / "blobs" / ("sha256-" + digest_of(gguf).split(":")[1])
    assert blob.read_bytes() == gguf
    info = mesh.json("models", "info", job["ref"])
    assert info["tags"]["hub.source"] == f"{hub.address}/library/tiny:latest"
    assert info["tags"]["hub.digest"] == digest_of(raw)
    assert [c["host"] for c in info["copies"]] == ["vm"]
    jobs = mesh.json("jobs", "--all")
    assert [j["kind"] for j in jobs if j["id"] == job["id"]] == ["hub-pull"]

    # A second host asks for the same ref: it comes from vm over the mesh, 0 bytes from the registry.
    before = len(hub.requests)
    second = json.loads(mesh.meshctl("models", "pull", ref, "--to", "mac", "--insecure", "--wait", "--json",
                                     timeout=300).stdout)
    assert second["state"] == "done" and second["ref"] == job["ref"] and second["sources"] == ["vm"]
    assert len(hub.requests) == before

    # A fresh ref to two hosts: fetched from the registry once, the second host from the first.
    gguf2 = make_gguf(tmp_path / "src" / "other.gguf", hidden=512, layers=6, seed=8).read_bytes()
    push_ollama_model(hub.address, "other", gguf2)
    first = json.loads(mesh.meshctl("models", "pull", f"{hub.address}/library/other", "--to", "box,mac",
                                    "--insecure", "--wait", "--json", timeout=300).stdout)
    assert first["state"] == "done"
    wait_for(lambda: {c["host"] for c in mesh.json("models", "info", first["ref"])["copies"]
                      if c["state"] == "verified"} == {"box", "mac"}, 120, "the fan-out to mac")
    assert blob_gets(hub, digest_of(gguf2)) == -(-len(gguf2) // MIB)


def test_hub_pull_errors_are_one_line(mesh, tmp_path, hub):
    mesh.start_coordinator()
    (tmp_path / "r").mkdir()
    mesh.start_agent("vm", [tmp_path / "r"])
    mesh.wait_host("vm")
    result = mesh.meshctl("models", "pull", f"{hub.address}/library/nothing:here", "--to", "vm", "--insecure",
                          "--wait", "--json", check=False, timeout=120)
    assert result.returncode != 0 and "unknown tag or repository" in result.stderr
    assert "Traceback" not in result.stderr
    result = mesh.meshctl("models", "pull", "a/b/c/d", "--to", "vm", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr and result.stderr.count("\n") == 1

    # A registry that wants credentials: one line without them; with them stored on the agent
    # (`meshctl hub login`, run on that host, never through the coordinator), the pull works.
    push_ollama_model(hub.address, "locked", make_gguf(tmp_path / "src" / "l.gguf", seed=12).read_bytes())
    hub.token, hub.token_basic = "tok", "bob:pw-9f3k"
    ref = f"{hub.address}/library/locked"
    result = mesh.meshctl("models", "pull", ref, "--to", "vm", "--insecure", "--wait", "--json", check=False,
                          timeout=120)
    assert result.returncode != 0 and "wants credentials" in result.stderr and "Traceback" not in result.stderr
    login = subprocess.run([sys.executable, "-m", "llmesh.cli", "hub", "login", hub.address, "--username", "bob",
                            "--home", str(mesh.base / "agent-vm" / "agent")], input="pw-9f3k\n",
                           capture_output=True, text=True, timeout=60)
    assert login.returncode == 0, login.stderr
    job = json.loads(mesh.meshctl("models", "pull", ref, "--to", "vm", "--insecure", "--wait", "--json",
                                  timeout=120).stdout)
    assert job["state"] == "done"
    assert "pw-9f3k" not in (mesh.base / "coordinator.log").read_text()


def test_push_to_a_registry_then_pull_it_back_onto_another_agent(mesh, tmp_path, hub):
    mesh.start_coordinator(extra=["--piece-size", str(MIB)])
    trainer, mac = tmp_path / "trainer", tmp_path / "mac"
    gguf = make_gguf(trainer / "tiny-q" / "tiny-q.gguf", hidden=512, layers=6, seed=9).read_bytes()
    mac.mkdir()
    mesh.start_agent("trainer", [trainer])
    mesh.start_agent("mac", [mac])
    mesh.wait_host("trainer")
    mesh.wait_host("mac")
    mesh.wait_models(lambda rows: any(r["name"] == "tiny-q" for r in rows))
    original = mesh.json("models", "info", "tiny-q")

    ref = f"{hub.address}/team/tiny-q:v1"
    pushed = mesh.json("models", "push", "tiny-q", ref, "--insecure")
    assert pushed["host"] == "trainer" and pushed["blobs_sent"] == 2 and pushed["blobs_skipped"] == 0
    again = mesh.json("models", "push", "tiny-q", f"{hub.address}/team/tiny-q:latest", "--insecure")
    assert again["blobs_sent"] == 0 and again["blobs_skipped"] == 2  # the registry has them: not sent
    assert again["manifest_digest"] == pushed["manifest_digest"]
    manifest = Registry(parse_hub_ref(ref, insecure=True)).manifest()
    assert manifest.layers[0]["mediaType"] == OLLAMA_MODEL and manifest.layers[0]["digest"] == digest_of(gguf)

    job = json.loads(mesh.meshctl("models", "pull", ref, "--to", "mac", "--insecure", "--wait", "--json",
                                  timeout=300).stdout)
    assert job["state"] == "done"
    copy = mesh.json("models", "info", job["ref"])
    assert copy["digest"] == original["digest"]  # the same bytes, the same files: the same version
    mac_copy = [c for c in copy["copies"] if c["host"] == "mac"]
    assert mac_copy and mac_copy[0]["state"] == "verified"
    pulled = Path(mac_copy[0]["path"])
    assert (pulled / "tiny-q.gguf" if pulled.is_dir() else pulled).read_bytes() == gguf

    result = mesh.meshctl("models", "push", "tiny-q", "hf.co/org/repo/x.gguf", check=False)
    assert result.returncode != 0 and "not a file of it" in result.stderr and "Traceback" not in result.stderr


def test_an_agent_killed_mid_pull_resumes_and_a_corrupted_piece_is_refetched_alone(mesh, tmp_path, hub):
    gguf = make_gguf(tmp_path / "src" / "slow.gguf", hidden=512, layers=6, seed=11).read_bytes()
    pieces = -(-len(gguf) // MIB)
    assert pieces >= 3
    push_ollama_model(hub.address, "slow", gguf)
    mesh.start_coordinator(extra=["--piece-size", str(MIB)])
    root = tmp_path / "root-vm"
    root.mkdir()
    mesh.start_agent("vm", [root])
    mesh.wait_host("vm")

    hub.delay_s = 3.0  # long enough that the kill lands while piece 1 is on the wire
    hub.corrupt_range = f"bytes={2 * MIB}-{3 * MIB - 1}"  # piece 2 arrives corrupted, once (after the restart)
    job = mesh.json("models", "pull", f"{hub.address}/library/slow", "--to", "vm", "--insecure", "--detach")
    wait_for(lambda: blob_gets(hub, digest_of(gguf)) >= 2, 120, "piece 1 requested")
    mesh.agent("vm").kill()  # mid-pull: piece 0 is recorded in the store's tmp/, piece 1 is not
    hub.delay_s = 0.0
    mesh.start_agent("vm", [root])
    done = wait_for(lambda: (lambda j: j if j["state"] in ("done", "failed") else None)(
        mesh.json("jobs", "show", job["id"])), 300, "the pull to finish after the restart")
    assert done["state"] == "done", done
    copy = [c for c in mesh.json("models", "info", done["ref"])["copies"] if c["host"] == "vm"][0]
    path = Path(copy["path"])
    assert (path if path.is_file() else path / "model.gguf").read_bytes() == gguf

    gets = [r for m, p, r in hub.requests if m == "GET" and f"/blobs/{digest_of(gguf)}" in p]
    per_piece = [gets.count(f"bytes={i * MIB}-{min((i + 1) * MIB, len(gguf)) - 1}") for i in range(pieces)]
    # piece 0: once, and once more while looking for the bad piece; piece 1: in flight at the kill,
    # again after the restart, and once while looking; piece 2: corrupted, looked at, rewritten;
    # every later piece exactly once (the restart did not start over).
    assert per_piece == [2, 3, 3] + [1] * (pieces - 3)


def test_a_pushed_version_pulled_into_another_mesh_keeps_its_name_metrics_and_tags(mesh, tmp_path, hub):
    mesh.start_coordinator()
    trainer = tmp_path / "trainer"
    make_gguf(trainer / "ft-q" / "ft-q.gguf", seed=13)
    mesh.start_agent("trainer", [trainer])
    mesh.wait_host("trainer")
    mesh.wait_models(lambda rows: any(r["name"] == "ft-q" for r in rows))
    mesh.meshctl("models", "register", str(trainer / "ft-q" / "ft-q.gguf"), "--host", "trainer", "--name", "ft-q",
                 "--tag", "team=nlp")
    mesh.meshctl("models", "score", "ft-q", "--metric", "accuracy=0.91")
    ref = f"{hub.address}/team/ft-q:v1"
    mesh.json("models", "push", "ft-q", ref, "--insecure")
    mesh.close()

    other = Mesh(tmp_path / "other-site")  # a second mesh that has never heard of ft-q
    try:
        other.start_coordinator()
        (tmp_path / "site-b").mkdir()
        other.start_agent("box", [tmp_path / "site-b"])
        other.wait_host("box")
        job = json.loads(other.meshctl("models", "pull", ref, "--to", "box", "--insecure", "--wait", "--json",
                                       timeout=300).stdout)
        assert job["state"] == "done"
        info = other.json("models", "info", job["ref"])
        assert info["name"] == "ft-q"  # the record's name, not the registry path's team/ft-q
        assert info["metrics"] == {"accuracy": 0.91}
        assert info["tags"]["team"] == "nlp" and info["tags"]["hub.source"] == ref
    finally:
        other.close()
