"""gRPC health (grpc.health.v1) on the coordinator and on agents' Peer ports, NOT_SERVING first on a
graceful stop; server reflection on the API port, as grpcurl uses it; /healthz beside /metrics."""
import json
import signal
import ssl
import urllib.error
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from harness import free_port
from peers import identity_of

from llmesh.common import channels

SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


def credentials(mesh) -> dict:
    return json.loads((mesh.base / "coord-home" / "credentials.json").read_text())


def api_channel(mesh) -> grpc.Channel:
    """No token: health and reflection are open, as a load balancer or grpcurl finds them."""
    return grpc.secure_channel(mesh.address, grpc.ssl_channel_credentials(credentials(mesh)["ca_pem"].encode()))


def healthz(mesh) -> tuple[int, str]:
    context = ssl.create_default_context(cadata=credentials(mesh)["ca_pem"])
    try:
        with urllib.request.urlopen(f"https://{mesh.endpoint['http_address']}/healthz", context=context,
                                    timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_coordinator_health_and_reflection(mesh):
    mesh.start_coordinator(extra=["--http-listen", f"127.0.0.1:{free_port()}"])
    with api_channel(mesh) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "llmesh.v1.Catalog", "llmesh.v1.Transfers"):
            assert health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status == SERVING
        with pytest.raises(grpc.RpcError) as unknown:
            health.Check(health_pb2.HealthCheckRequest(service="llmesh.v1.Nothing"), timeout=10)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

        reflected = ProtoReflectionDescriptorDatabase(channel)
        services = set(reflected.get_services())
        assert {"llmesh.v1.Catalog", "llmesh.v1.Mesh", "llmesh.v1.Transfers", "llmesh.v1.Serving",
                "llmesh.v1.Admin", "grpc.health.v1.Health"} <= services
        # grpcurl's `describe`: the file declaring a service, with its methods.
        proto = reflected.FindFileContainingSymbol("llmesh.v1.Catalog")
        catalog = next(s for s in proto.service if s.name == "Catalog")
        assert "SetAlias" in [m.name for m in catalog.method]

        # Everything else still needs a token.
        with pytest.raises(grpc.RpcError) as refused:
            channel.unary_unary("/llmesh.v1.Mesh/ListHosts")(b"", timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert healthz(mesh) == (200, "ok\n")


def test_graceful_stop_turns_not_serving_first(mesh):
    coordinator = mesh.start_coordinator(extra=["--http-listen", f"127.0.0.1:{free_port()}", "--drain", "300"])
    with api_channel(mesh) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=60)
        assert next(watch).status == SERVING
        coordinator.signal(signal.SIGTERM)
        assert next(watch).status == NOT_SERVING  # told on the open stream, before the port closes
        # During the drain the ports still answer, and say so.
        check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="llmesh.v1.Catalog"),
                                                          timeout=10)
        assert check.status == NOT_SERVING
        assert healthz(mesh) == (503, "shutting down\n")
    coordinator.signal(signal.SIGTERM)  # a second signal ends the drain
    assert coordinator.popen.wait(60) == 0, coordinator.output()
    assert "Traceback" not in coordinator.output()


def test_agent_peer_port_health(mesh, tmp_path):
    mesh.start_coordinator()
    root = tmp_path / "models"
    root.mkdir()
    agent = mesh.start_agent("box", [root])
    address = mesh.wait_host("box")["peer_address"]
    identity = identity_of(mesh, "box")  # the Peer port is mutual TLS: a mesh certificate is needed
    credentials_ = grpc.ssl_channel_credentials(identity.ca_pem, identity.key_pem, identity.cert_pem)
    with grpc.secure_channel(address, credentials_, [("grpc.ssl_target_name_override", channels.PEER_TLS_NAME)]) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        assert health.Check(health_pb2.HealthCheckRequest(service="llmesh.v1.Peer"), timeout=10).status == SERVING
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=60)
        assert next(watch).status == SERVING
        agent.signal(signal.SIGTERM)
        assert next(watch).status == NOT_SERVING
    assert agent.popen.wait(60) == 0, agent.output()
