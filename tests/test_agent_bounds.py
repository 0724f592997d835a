"""An agent reads, hashes and serves nothing outside its roots and nothing beyond its limits,
whatever its roots hold: real agents on loopback, files planted as an attacker or a careless
user would, the Peer service called as another agent of the mesh would."""
import hashlib
import json
import os
import stat
from pathlib import Path

import grpc
import pytest
from factories import make_hf_model
from harness import version_of, wait_for

from llmesh.common import channels, tickets, tls
from llmesh.v1 import peer_pb2, peer_pb2_grpc

MIB = 1024 * 1024
SECRET = b"-----BEGIN OPENSSH PRIVATE KEY-----\nnot-for-other-hosts\n-----END OPENSSH PRIVATE KEY-----\n"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def link(target, at) -> None:
    """Replace the file ``at`` with a link to ``target``, atomically."""
    tmp = at.with_name(at.name + ".link-tmp")
    os.symlink(target, tmp)
    os.replace(tmp, at)


class PeerCaller:
    """Another agent of the mesh (its certificate), holding tickets the coordinator's CA signed."""

    def __init__(self, mesh, caller: str, source: str):
        agent_dir = mesh.base / f"agent-{caller}" / "agent"
        key, cert, ca = [(agent_dir / name).read_bytes() for name in ("agent.key", "agent.pem", "ca.pem")]
        ca_dir = mesh.base / "coord-home" / "coordinator" / "ca"
        self.ca_key = tls.load_key((ca_dir / "ca.key").read_bytes())
        self.caller_id = mesh.host(caller)["id"]
        self.channel = grpc.secure_channel(
            mesh.host(source)["peer_address"], grpc.ssl_channel_credentials(ca, key, cert),
            [("grpc.ssl_target_name_override", channels.PEER_TLS_NAME)])
        self.stub = peer_pb2_grpc.PeerStub(self.channel)

    def ticket(self, digest: str) -> str:
        return tickets.issue_ticket(self.ca_key, "probe", self.caller_id, [digest], ttl_s=300)

    def index(self, digest: str, piece_size: int):
        return self.stub.GetPieceIndex(peer_pb2.PieceIndexRequest(
            ticket=self.ticket(digest), digest=digest, piece_size=piece_size), timeout=30)

    def read(self, digest: str, length: int) -> bytes:
        chunks = self.stub.ReadBlob(peer_pb2.ReadBlobRequest(
            ticket=self.ticket(digest), digest=digest, offset=0, length=length), timeout=30)
        return b"".join(chunk.data for chunk in chunks)


@pytest.fixture
def planted(mesh, tmp_path):
    """A root holding good models and planted ones, served by 'trainer'; 'mac' holds nothing."""
    mesh.start_coordinator()
    root, outside = tmp_path / "trainer", tmp_path / "home-of-someone"
    (outside / ".ssh").mkdir(parents=True)
    (outside / ".ssh" / "id_rsa").write_bytes(SECRET)
    make_hf_model(root / "good", seed=1)
    leaky = make_hf_model(root / "leaky", seed=2)
    link(outside / ".ssh" / "id_rsa", leaky / "model.safetensors")
    linked = make_hf_model(root / "linked-inside", seed=3)  # a link to a file inside the roots
    (root / "weights").mkdir()                               # is fine: it is read through
    os.replace(linked / "model.safetensors", root / "weights" / "w.safetensors")
    link(root / "weights" / "w.safetensors", linked / "model.safetensors")
    make_hf_model(root / "swapped", seed=6)
    mesh.root, mesh.outside = root, outside
    (tmp_path / "mac").mkdir()
    mesh.start_agent("trainer", [root])
    mesh.start_agent("mac", [tmp_path / "mac"])
    mesh.wait_host("trainer")
    mesh.wait_host("mac")
    mesh.wait_models(lambda rows: all(version_of(rows, n) for n in ("good", "linked-inside", "swapped")),
                     host="trainer")
    return mesh


def test_links_out_of_the_roots_and_bad_files_are_one_problem_each(planted):
    root = planted.root
    nested = make_hf_model(root / "nested", seed=4)
    (nested / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    corrupt = make_hf_model(root / "corrupt", seed=5)
    weights = (corrupt / "model.safetensors").read_bytes()
    (corrupt / "model.safetensors").write_bytes(weights[:len(weights) // 2])  # a cut-off download
    planted.meshctl("rescan", "--host", "trainer")
    problems = wait_for(lambda: len(p := planted.host("trainer")["problems"]) >= 3 and p, 30, "problems",
                        logs=planted.logs())
    assert len(problems) == 3, problems
    names = {v["name"] for v in planted.json("models", "list", "--host", "trainer")}
    assert names == {"good", "linked-inside", "swapped"}
    leaky = next(p for p in problems if p.startswith(f"{root / 'leaky'}:"))
    assert "model.safetensors leads outside this agent's model roots" in leaky
    nested = next(p for p in problems if p.startswith(f"{root / 'nested'}:"))
    assert "config.json" in nested and "nested too deeply" in nested
    corrupt = next(p for p in problems if p.startswith(f"{root / 'corrupt'}:"))
    assert "model.safetensors is not a valid safetensors file" in corrupt

    refused = planted.meshctl("models", "register", str(root / "leaky"), "--host", "trainer", check=False)
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "model.safetensors leads outside" in refused.stderr
    not_pulled = planted.meshctl("models", "pull", "leaky", "--to", "mac", check=False)
    assert not_pulled.returncode == 1 and "unknown model 'leaky'" in not_pulled.stderr
    for name, what in (("nested", "config.json"), ("corrupt", "model.safetensors")):
        result = planted.meshctl("models", "register", str(root / name), "--host", "trainer", check=False)
        assert result.returncode == 1 and what in result.stderr and "Traceback" not in result.stderr

    job = json.loads(planted.meshctl("models", "pull", "linked-inside", "--to", "mac", "--wait",
                                     "--json").stdout)
    assert job["state"] == "done"
    copy = Path(job["copy_path"]) / "model.safetensors"
    assert copy.read_bytes() == (root / "weights" / "w.safetensors").read_bytes()
    home = planted.base / "agent-trainer" / "agent"
    for name in ("hash-cache.db", "hash-cache.db-wal", "hash-cache.db-shm"):
        if (home / name).exists() or name == "hash-cache.db":
            assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name


def test_no_ticket_gets_bytes_from_outside_the_roots(planted):
    peer = PeerCaller(planted, "mac", "trainer")
    for call in (lambda d: peer.read(d, len(SECRET)), lambda d: peer.index(d, MIB)):
        with pytest.raises(grpc.RpcError) as refused:
            call(sha256(SECRET))
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND

    weights = planted.root / "swapped" / "model.safetensors"
    data = weights.read_bytes()
    assert peer.read(sha256(data), len(data)) == data  # served while it is what the scan found
    impostor = planted.outside / "impostor.bin"  # as large as the file the scan listed
    impostor.write_bytes(SECRET + b"\0" * (len(data) - len(SECRET)))
    link(impostor, weights)
    for call in (lambda d: peer.read(d, len(data)), lambda d: peer.index(d, MIB)):
        with pytest.raises(grpc.RpcError) as refused:
            call(sha256(data))
        assert refused.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED)
        assert "id_rsa" not in refused.value.details() and "impostor" not in refused.value.details()


def test_piece_sizes_come_from_a_fixed_set(planted):
    peer = PeerCaller(planted, "mac", "trainer")
    data = (planted.root / "good" / "model.safetensors").read_bytes()
    assert peer.index(sha256(data), MIB).hashes  # the ticket and channel are good
    for bad in (1, 1000, 3 * MIB, 512 * MIB, -MIB):
        with pytest.raises(grpc.RpcError) as refused:
            peer.index(sha256(data), bad)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, bad
        assert f"invalid piece size {bad}" in refused.value.details()
        assert "1 MiB" in refused.value.details() and "256 MiB" in refused.value.details()
    index_dir = planted.base / "agent-trainer" / "agent" / "piece-indexes"
    assert sum(f.stat().st_size for f in index_dir.iterdir()) < 64 * 1024  # nothing big was built
    started = planted.meshctl("coordinator", "serve", "--listen", "127.0.0.1:0", "--piece-size", "1000",
                              check=False, timeout=30)
    assert started.returncode == 1 and started.stderr.startswith("error: invalid piece size 1000")
