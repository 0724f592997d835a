"""Nobody gets in who does not belong: every check here is a real connection on loopback."""
import datetime
import json
import stat
import time

import grpc
import pytest
from cryptography import x509
from factories import make_hf_model, write_big_safetensors
from harness import wait_for
from peers import blob_address_of, digest_of, identity_of, read_blob, read_blob_socket, ticket_log, tickets_received

from llmesh.common import blob_socket, sealed, tickets, tls
from llmesh.common.tls import Identity
from llmesh.v1 import agent_link_pb2, agent_link_pb2_grpc, mesh_pb2, mesh_pb2_grpc


@pytest.fixture
def secured(mesh, tmp_path):
    mesh.start_coordinator()
    root = tmp_path / "models"
    make_hf_model(root / "tiny-llama")
    mesh.root = root
    mesh.ca_dir = mesh.base / "coord-home" / "coordinator" / "ca"
    return mesh


def ca_of(mesh):
    return (tls.load_key((mesh.ca_dir / "ca.key").read_bytes()),
            tls.load_cert((mesh.ca_dir / "ca.pem").read_bytes()))


def agent_identity(ca_key, ca_cert, agent_id="cafe01", ttl=datetime.timedelta(hours=1)):
    key = tls.new_key()
    cert = tls.issue(ca_key, ca_cert, key.public_key(), f"agent {agent_id}",
                     sans=[x509.UniformResourceIdentifier(tls.agent_uri(agent_id))], ttl=ttl,
                     server=True, client=True)
    return Identity(tls.key_pem(key), tls.cert_pem(cert), tls.cert_pem(ca_cert))


def link_call(mesh, identity: Identity | None, agent_id="cafe01"):
    """Open an agent link as a would-be agent and return the first reply or the error."""
    ca_pem = (mesh.ca_dir / "ca.pem").read_bytes()
    creds = (grpc.ssl_channel_credentials(ca_pem, identity.key_pem, identity.cert_pem) if identity
             else grpc.ssl_channel_credentials(ca_pem))
    with grpc.secure_channel(mesh.endpoint["link_address"], creds) as channel:
        hello = agent_link_pb2.AgentMessage(hello=agent_link_pb2.Hello(agent_id=agent_id, name="intruder"))
        try:
            replies = agent_link_pb2_grpc.AgentLinkStub(channel).Link(iter([hello]), timeout=10)
            return next(iter(replies))
        except grpc.RpcError as exc:
            return exc


def test_the_link_port_refuses_anything_but_a_valid_mesh_certificate(secured):
    ca_key, ca_cert = ca_of(secured)
    other_key, other_cert = tls.make_ca("some other mesh")
    cases = {
        "no client certificate": None,
        "another CA's certificate": agent_identity(other_key, other_cert),
        "an expired certificate": agent_identity(ca_key, ca_cert, ttl=datetime.timedelta(seconds=-60)),
    }
    for what, identity in cases.items():
        result = link_call(secured, identity)
        assert isinstance(result, grpc.RpcError), what
        assert result.code() == grpc.StatusCode.UNAVAILABLE, (what, result)  # the TLS handshake fails
    valid = link_call(secured, agent_identity(ca_key, ca_cert))
    assert valid.WhichOneof("body") == "welcome"
    impostor = link_call(secured, agent_identity(ca_key, ca_cert, "cafe01"), agent_id="beef02")
    assert impostor.code() == grpc.StatusCode.PERMISSION_DENIED


def test_key_material_is_private(secured):
    for name in ("ca.key", "server.key"):
        assert stat.S_IMODE((secured.ca_dir / name).stat().st_mode) == 0o600
    assert stat.S_IMODE((secured.base / "coord-home" / "credentials.json").stat().st_mode) == 0o600


def test_the_registry_and_the_data_dir_are_private(secured):
    def modes(directory):
        return {str(p.relative_to(directory)): stat.S_IMODE(p.stat().st_mode) for p in directory.rglob("*")
                if p.is_file()}

    data = secured.base / "coord-home" / "coordinator"
    secured.meshctl("user", "add", "pat", "--role", "viewer")  # a write: the WAL holds it
    running = modes(data)
    assert {"registry.db", "registry.db-wal", "registry.db-shm", "ca/ca.key"} <= set(running), running
    assert set(running.values()) == {0o600}, running
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    secured.coordinator.stop()
    for name in modes(data):  # as an older llmesh left them
        (data / name).chmod(0o644)
    data.chmod(0o755)
    secured.start_coordinator()
    secured.meshctl("user", "add", "quinn", "--role", "viewer")
    reopened = modes(data)
    assert "registry.db-wal" in reopened and set(reopened.values()) == {0o600}, reopened
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_a_removed_host_is_revoked_at_once(secured):
    agent = secured.start_agent("trainer", [secured.root])
    host = secured.wait_host("trainer")
    identity = Identity(*[(secured.base / "agent-trainer" / "agent" / name).read_bytes()
                          for name in ("agent.key", "agent.pem", "ca.pem")])
    secured.meshctl("hosts", "remove", "trainer")
    assert agent.popen.wait(30) != 0
    assert "revoked" in agent.output() and "Traceback" not in agent.output()
    assert secured.host("trainer") is None
    refused = link_call(secured, identity, agent_id=host["id"])
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED and "revoked" in refused.details()


def test_join_tokens_are_one_time_expiring_and_pin_the_ca(secured, tmp_path):
    token = secured.meshctl("token", "create").stdout.strip()
    assert token.startswith("K10") and "::" in token
    first = secured.start_agent("first", [secured.root], extra=["--token", token])
    secured.wait_host("first")
    assert first.alive()

    def refused(name, token):
        agent = secured.start_agent(name, [secured.root], extra=["--token", token])
        assert agent.popen.wait(30) != 0
        lines = [line for line in agent.output().splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and "Traceback" not in agent.output(), agent.output()
        return lines[0]

    assert "already used" in refused("second", token)
    short = secured.meshctl("token", "create", "--ttl", "1s").stdout.strip()
    time.sleep(1.5)
    assert "expired" in refused("late", short)
    pin, secret = tls.parse_token(secured.meshctl("token", "create").stdout.strip(), "K10")
    assert "pin" in refused("misled", f"K10{'0' * 64}::{secret}")


def test_roles_decide_what_each_person_may_do(secured):
    agent = secured.start_agent("trainer", [secured.root])
    secured.wait_host("trainer")
    path = str(secured.root / "tiny-llama")

    def as_role(role):
        token = secured.meshctl("user", "add", f"{role}-user", "--role", role).stdout.strip()
        return {"LLMESH_TOKEN": token}

    viewer, developer = as_role("viewer"), as_role("developer")
    assert secured.meshctl("hosts", "--json", env=viewer).returncode == 0
    for args, env in [(("models", "register", path, "--host", "trainer"), viewer),
                      (("models", "delete", "tiny-llama"), viewer),
                      (("user", "add", "eve", "--role", "admin"), developer),
                      (("hosts", "remove", "trainer"), developer),
                      (("token", "create"), developer),
                      (("models", "pull", "tiny-llama", "--to", "trainer"), developer)]:
        result = secured.meshctl(*args, check=False, env=env)
        assert result.returncode == 1 and result.stderr.startswith("error: "), (args, result.stderr)
        assert "needs" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert secured.meshctl("models", "register", path, "--host", "trainer", "--name", "dev-ok",
                           env=developer).returncode == 0
    pin = tls.fingerprint(ca_of(secured)[1])
    wrong = secured.meshctl("hosts", check=False, env={"LLMESH_TOKEN": f"L10{pin}::not-a-real-secret"})
    assert wrong.returncode == 1 and "invalid API token" in wrong.stderr
    assert agent.alive()


def test_a_removed_user_is_refused_from_the_next_call_on(secured):
    """The coordinator remembers the tokens it has checked; removing a user forgets them before
    `user rm` answers, and a user added again under the same name gets a new token and role."""
    token = secured.meshctl("user", "add", "carol", "--role", "viewer").stdout.strip()
    for _ in range(2):  # checked in the registry, then remembered
        assert json.loads(secured.meshctl("whoami", "--json", env={"LLMESH_TOKEN": token}).stdout)["role"] == "viewer"
    secured.meshctl("user", "rm", "carol")
    refused = secured.meshctl("whoami", check=False, env={"LLMESH_TOKEN": token})
    assert refused.returncode == 1 and "invalid API token" in refused.stderr, refused.stderr
    again = secured.meshctl("user", "add", "carol", "--role", "admin").stdout.strip()
    assert json.loads(secured.meshctl("whoami", "--json", env={"LLMESH_TOKEN": again}).stdout)["role"] == "admin"
    assert secured.meshctl("whoami", check=False, env={"LLMESH_TOKEN": token}).returncode == 1


def test_calls_without_a_token_or_with_an_agent_certificate_are_refused(secured):
    ca_pem = (secured.ca_dir / "ca.pem").read_bytes()
    with grpc.secure_channel(secured.address, grpc.ssl_channel_credentials(ca_pem)) as channel:
        with pytest.raises(grpc.RpcError) as missing:
            mesh_pb2_grpc.MeshStub(channel).ListHosts(mesh_pb2.ListHostsRequest(), timeout=10)
    assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED and "no API token" in missing.value.details()
    identity = agent_identity(*ca_of(secured))
    creds = grpc.ssl_channel_credentials(ca_pem, identity.key_pem, identity.cert_pem)
    with grpc.secure_channel(secured.endpoint["link_address"], creds) as channel:
        with pytest.raises(grpc.RpcError) as agent_call:
            mesh_pb2_grpc.MeshStub(channel).ListHosts(mesh_pb2.ListHostsRequest(), timeout=10)
    assert agent_call.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "agent certificate cannot call user RPCs" in agent_call.value.details()


def test_the_audit_log_records_changes_and_refusals(secured):
    secured.start_agent("trainer", [secured.root])
    secured.wait_host("trainer")
    viewer = secured.meshctl("user", "add", "val", "--role", "viewer").stdout.strip()
    secured.meshctl("models", "register", str(secured.root / "tiny-llama"), "--host", "trainer",
                    check=False, env={"LLMESH_TOKEN": viewer})
    secured.meshctl("models", "register", str(secured.root / "tiny-llama"), "--host", "trainer", "--name", "ok")
    events = secured.json("audit")
    actions = {(e["action"], e["result"]) for e in events}
    assert {("user.add", "ok"), ("token.create", "ok"), ("model.register", "ok"), ("rpc.refused", "denied")} <= actions
    refusal = next(e for e in events if e["action"] == "rpc.refused")
    assert refusal["actor"] == "val" and "Register" in refusal["resource"]
    assert refusal["role"] == "viewer" and refusal["source"].startswith("ipv4:127.0.0.1")  # who, from where
    forged_token = f"L10{secured.endpoint['ca_sha256']}::forged"
    result = secured.meshctl("hosts", check=False, env={"LLMESH_TOKEN": forged_token})
    assert result.returncode == 1, result.stderr
    forged = next(e for e in secured.json("audit") if e["action"] == "rpc.refused")
    assert (forged["actor"], forged["role"]) == ("unknown", "unknown")
    assert forged["source"].startswith("ipv4:127.0.0.1")
    change = next(e for e in events if e["action"] == "model.register")
    assert change["role"] == "admin" and change["source"].startswith("ipv4:127.0.0.1")
    only_val = secured.json("audit", "--actor", "val")
    assert only_val and all(e["actor"] == "val" for e in only_val)
    family = secured.json("audit", "--action", "user")  # user.add and its kin, not token.create
    assert {e["action"] for e in family} == {e["action"] for e in events if e["action"].startswith("user.")} != set()
    exact = secured.json("audit", "--action", "model.register")
    assert exact and {e["action"] for e in exact} == {"model.register"}
    assert "model.register" in {e["action"] for e in secured.json("audit", "--action", "model")}
    assert secured.json("audit", "--action", "mod") == []  # a family is a whole word, not a prefix


# Short enough to see a renewal and an expiry in one test, long enough that the renewed
# certificate outlives a coordinator restart on a loaded machine.
CERT_TTL_S = 15


def test_certificates_renew_before_expiry_without_a_restart(mesh, tmp_path):
    port = __import__("harness").free_port()
    mesh.start_coordinator(port, extra=["--agent-cert-ttl", str(CERT_TTL_S)])
    make_hf_model(tmp_path / "models" / "tiny")
    mesh.start_agent("trainer", [tmp_path / "models"])
    mesh.wait_host("trainer")
    cert_path = mesh.base / "agent-trainer" / "agent" / "agent.pem"
    first = tls.load_cert(cert_path.read_bytes())
    renewed = wait_for(lambda: (c := tls.load_cert(cert_path.read_bytes())).serial_number != first.serial_number
                       and c, CERT_TTL_S * 3, "a renewed certificate", logs=mesh.logs())
    assert tls.expires_at(renewed) > tls.expires_at(first)
    time.sleep(max(0.0, tls.expires_at(first) - time.time() + 0.5))  # the first certificate is now expired
    mesh.coordinator.stop()
    mesh.start_coordinator(port, extra=["--agent-cert-ttl", str(CERT_TTL_S)])
    mesh.wait_host("trainer", timeout=30)  # reconnected with a renewed certificate


def test_tickets_allow_one_destination_its_digests_until_expiry(tmp_path):
    ca_key, ca_cert = tls.make_ca()
    digest, other = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    token = tickets.issue_ticket(ca_key, "job1", "dest-agent", [digest], ttl_s=60)
    ticket = tickets.verify_ticket(token, ca_cert.public_key(), caller_agent_id="dest-agent", digest=digest)
    assert ticket.job == "job1" and ticket.digests == {digest}
    payload, signature = token.split(".")
    forged = json.loads(tickets._unb64(payload))
    forged["digests"].append(other)
    tampered = tickets._b64(json.dumps(forged).encode()) + "." + signature
    foreign_key, foreign_cert = tls.make_ca("another mesh")
    refusals = {
        "expired": (tickets.issue_ticket(ca_key, "j", "dest-agent", [digest], ttl_s=-1), "dest-agent", digest),
        "tampered": (tampered, "dest-agent", other),
        "another mesh": (tickets.issue_ticket(foreign_key, "j", "dest-agent", [digest]), "dest-agent", digest),
        "another host": (token, "someone-else", digest),
        "another digest": (token, "dest-agent", other),
        "garbage": ("not-a-ticket", "dest-agent", digest),
    }
    for what, (candidate, caller, wanted) in refusals.items():
        with pytest.raises(tickets.PermissionDenied):
            tickets.verify_ticket(candidate, ca_cert.public_key(), caller_agent_id=caller, digest=wanted)
    with pytest.raises(ValueError):
        tickets.issue_ticket(ca_key, "j", "dest-agent", ["/etc/passwd"])


# -- revoked hosts read nothing more -------------------------------------------------------

MIB = 1024 * 1024


def holders_and_mal(mesh, tmp_path, holders, size=8 * MIB, env=None):
    """Agents `holders` each holding the same 'big' model, and 'mal', which holds nothing and
    keeps the tickets it receives. Returns the model file's digest."""
    mesh.start_coordinator(extra=["--piece-size", str(MIB)])
    mesh.roots = {}
    for name in holders:
        root = mesh.roots[name] = tmp_path / name
        write_big_safetensors(root / "big" / "model.safetensors", size, seed=5)
        (root / "big" / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
        mesh.start_agent(name, [root], env=env)
    (tmp_path / "mal").mkdir()
    mesh.start_agent("mal", [tmp_path / "mal"], env={"LLMESH_TEST_TICKET_LOG": str(ticket_log(mesh, "mal"))})
    for name in [*holders, "mal"]:
        mesh.wait_host(name)
    wait_for(lambda: {c["host"] for c in mesh.json("models", "info", "big")["copies"]
                      if c["state"] == "verified"} >= set(holders), 60, "copies of big", logs=mesh.logs())
    return digest_of(mesh.roots[holders[0]] / "big" / "model.safetensors")


def ticket_for(mesh, name, job_id):
    return wait_for(lambda: [t["ticket"] for t in tickets_received(ticket_log(mesh, name)) if t["job"] == job_id],
                    30, f"a ticket for job {job_id}", logs=mesh.logs())[0]


def test_a_removed_host_is_refused_by_every_peer_at_once(mesh, tmp_path):
    digest = holders_and_mal(mesh, tmp_path, ["trainer", "box"])
    job = json.loads(mesh.meshctl("models", "pull", "big", "--to", "mal", "--wait", "--json").stdout)
    assert job["state"] == "done"
    ticket, mal, mal_id = ticket_for(mesh, "mal", job["id"]), identity_of(mesh, "mal"), mesh.host("mal")["id"]
    peers = {name: mesh.host(name)["peer_address"] for name in ("trainer", "box")}
    for name, address in peers.items():  # mal's own certificate and ticket are good until it is removed
        assert read_blob(mal, address, ticket, digest, 0, MIB) == (MIB, None), name

    mesh.agent("box").stop()
    mesh.wait_host("box", "offline")
    removed = mesh.meshctl("hosts", "remove", "mal")
    assert "every online agent refuses it" in removed.stdout
    received, refused = read_blob(mal, peers["trainer"], ticket, digest, 0, MIB)  # no waiting: at once
    assert received == 0 and refused.code() == grpc.StatusCode.PERMISSION_DENIED and "revoked" in refused.details()

    mesh.start_agent("box", [mesh.roots["box"]])  # offline during the removal: hears of it in its welcome
    box = mesh.wait_host("box")
    received, refused = wait_for(
        lambda: (r := read_blob(mal, box["peer_address"], ticket, digest, 0, MIB))[1] is not None
        and r[1].code() != grpc.StatusCode.UNAVAILABLE and r, 30, "box to answer", logs=mesh.logs())
    assert received == 0 and refused.code() == grpc.StatusCode.PERMISSION_DENIED and "revoked" in refused.details()

    def refusals():
        return {e["detail"]["source_host"] for e in mesh.json("audit") if e["action"] == "peer.read"
                and e["result"] == "denied" and e["actor"] == f"agent:{mal_id}"
                and "revoked" in e["detail"]["error"]}
    wait_for(lambda: refusals() == {"trainer", "box"}, 30, "the refusals in the audit log", logs=mesh.logs())


def test_a_stream_to_a_removed_host_is_cut_at_once(mesh, tmp_path):
    size = 24 * MIB
    digest = holders_and_mal(mesh, tmp_path, ["trainer"], size, env={"LLMESH_TEST_THROTTLE_BPS": str(MIB)})
    job = json.loads(mesh.meshctl("models", "pull", "big", "--to", "mal", "--detach", "--json").stdout)
    ticket, mal = ticket_for(mesh, "mal", job["id"]), identity_of(mesh, "mal")
    removed = []

    def remove_mal_once(received):
        if not removed:  # the stream is flowing: now remove its reader
            removed.append(mesh.meshctl("hosts", "remove", "mal"))

    received, cut = read_blob(mal, mesh.host("trainer")["peer_address"], ticket, digest, 0, size, remove_mal_once)
    assert removed and cut is not None, (received, cut)
    assert cut.code() == grpc.StatusCode.PERMISSION_DENIED and "revoked" in cut.details()
    assert MIB <= received < size


# -- the blob socket: the same checks as the Peer service, on the data path ------------------------

def test_the_blob_socket_serves_only_a_valid_ticket_of_a_mesh_agent_within_the_roots(mesh, tmp_path, monkeypatch):
    digest = holders_and_mal(mesh, tmp_path, ["trainer"])
    job = json.loads(mesh.meshctl("models", "pull", "big", "--to", "mal", "--wait", "--json").stdout)
    assert job["state"] == "done"
    ticket, mal = ticket_for(mesh, "mal", job["id"]), identity_of(mesh, "mal")
    blob = blob_address_of(mal, mesh.host("trainer")["peer_address"])
    opened = []
    monkeypatch.setattr(sealed.SealedReader, "recv_into", counted(sealed.SealedReader.recv_into, opened))
    assert read_blob_socket(mal, blob, ticket, digest, 0, MIB) == (MIB, None)  # the control: it works
    assert opened  # and the body came in sealed frames
    # An agent from before sealed frames (no key in its request) gets the same bytes in TLS records.
    contexts = blob_socket.Contexts(lambda: mal, server=False)
    with blob_socket.connect(blob, contexts, 30) as old:
        blob_socket.send_frame(old, {"v": 1, "ticket": ticket, "digest": digest, "offset": MIB, "length": MIB})
        assert blob_socket.recv_frame(old) == {"ok": True}
        body = blob_socket.recv_exactly(old, MIB)
    with open(mesh.roots["trainer"] / "big" / "model.safetensors", "rb") as held:
        held.seek(MIB)
        assert body == held.read(MIB)

    ca_key, ca_cert = ca_of_mesh(mesh)
    foreign_key, foreign_cert = tls.make_ca("another mesh")
    bad_tickets = {
        "garbage": "not-a-ticket",
        "another host's": tickets.issue_ticket(ca_key, "j", "someone-else", [digest]),
        "another digest": tickets.issue_ticket(ca_key, "j", mesh.host("mal")["id"], ["sha256:" + "b" * 64]),
        "another mesh's": tickets.issue_ticket(foreign_key, "j", mesh.host("mal")["id"], [digest]),
        "expired": tickets.issue_ticket(ca_key, "j", mesh.host("mal")["id"], [digest], ttl_s=-1),
    }
    for what, bad in bad_tickets.items():
        received, refused = read_blob_socket(mal, blob, bad, digest, 0, MIB)
        assert received == 0 and getattr(refused, "code", "") == "PERMISSION_DENIED", (what, refused)

    # A certificate of another CA does not get past the handshake.
    stranger = agent_identity(foreign_key, foreign_cert, mesh.host("mal")["id"])
    received, refused = read_blob_socket(stranger, blob, ticket, digest, 0, MIB)
    assert received == 0 and isinstance(refused, OSError), refused

    # The file now lies outside the roots (its folder moved out, a link left in its place; the file
    # itself unchanged): not served, on either path.
    folder = mesh.roots["trainer"] / "big"
    folder.rename(tmp_path / "outside")
    folder.symlink_to(tmp_path / "outside", target_is_directory=True)
    # (The holdings check its real path against the roots before naming it, and the open again.)
    received, refused = read_blob_socket(mal, blob, ticket, digest, 0, MIB)
    assert received == 0 and getattr(refused, "code", "") in ("NOT_FOUND", "PERMISSION_DENIED"), refused
    received, refused = read_blob(mal, mesh.host("trainer")["peer_address"], ticket, digest, 0, MIB)
    assert received == 0 and refused.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED)


def test_the_blob_socket_refuses_a_removed_host_and_cuts_its_stream_at_once(mesh, tmp_path):
    size = 24 * MIB
    digest = holders_and_mal(mesh, tmp_path, ["trainer"], size, env={"LLMESH_TEST_THROTTLE_BPS": str(4 * MIB)})
    job = json.loads(mesh.meshctl("models", "pull", "big", "--to", "mal", "--detach", "--json").stdout)
    ticket, mal = ticket_for(mesh, "mal", job["id"]), identity_of(mesh, "mal")
    blob = blob_address_of(mal, mesh.host("trainer")["peer_address"])
    removed = []

    def remove_mal_once(received):
        if not removed:  # bytes are flowing: now remove their reader
            removed.append(mesh.meshctl("hosts", "remove", "mal"))

    received, cut = read_blob_socket(mal, blob, ticket, digest, 0, size, remove_mal_once)
    assert removed and cut is not None and 0 < received < size, (received, cut)
    received, refused = read_blob_socket(mal, blob, ticket, digest, 0, MIB)
    assert received == 0 and getattr(refused, "code", "") == "PERMISSION_DENIED" and "revoked" in str(refused)


def counted(method, calls: list):
    def wrapper(self, *args, **kwargs):
        calls.append(1)
        return method(self, *args, **kwargs)
    return wrapper


def ca_of_mesh(mesh):
    ca_dir = mesh.base / "coord-home" / "coordinator" / "ca"
    return tls.load_key((ca_dir / "ca.key").read_bytes()), tls.load_cert((ca_dir / "ca.pem").read_bytes())
