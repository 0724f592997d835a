"""Acting as an agent towards another agent's Peer service, for tests: with the agent's own
certificate from its home and the tickets it received (LLMESH_TEST_TICKET_LOG)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import grpc

from llmesh.common import channels
from llmesh.common.tls import Identity
from llmesh.v1 import peer_pb2, peer_pb2_grpc


def identity_of(mesh, name: str) -> Identity:
    home = mesh.base / f"agent-{name}" / "agent"
    return Identity(*[(home / f).read_bytes() for f in ("agent.key", "agent.pem", "ca.pem")])


def ticket_log(mesh, name: str) -> Path:
    return mesh.base / f"tickets-{name}.jsonl"


def tickets_received(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def digest_of(path: Path) -> str:
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_blob(identity: Identity, address: str, ticket: str, digest: str, offset: int, length: int,
              on_chunk=None, timeout: float = 120) -> tuple[int, grpc.RpcError | None]:
    """(bytes received, the error that ended the stream or None)."""
    credentials = grpc.ssl_channel_credentials(identity.ca_pem, identity.key_pem, identity.cert_pem)
    options = [("grpc.ssl_target_name_override", channels.PEER_TLS_NAME)]
    received = 0
    with grpc.secure_channel(address, credentials, options) as channel:
        stream = peer_pb2_grpc.PeerStub(channel).ReadBlob(peer_pb2.ReadBlobRequest(
            ticket=ticket, digest=digest, offset=offset, length=length), timeout=timeout)
        try:
            for chunk in stream:
                received += len(chunk.data)
                if on_chunk is not None:
                    on_chunk(received)
        except grpc.RpcError as exc:
            return received, exc
    return received, None


def blob_address_of(identity: Identity, peer_address: str) -> str:
    """host:port of an agent's blob socket, as its Peer service's Describe says."""
    credentials = grpc.ssl_channel_credentials(identity.ca_pem, identity.key_pem, identity.cert_pem)
    options = [("grpc.ssl_target_name_override", channels.PEER_TLS_NAME)]
    with grpc.secure_channel(peer_address, credentials, options) as channel:
        port = peer_pb2_grpc.PeerStub(channel).Describe(peer_pb2.DescribeRequest(), timeout=30).blob_port
    assert port > 0, f"{peer_address} offers no blob socket"
    return f"{peer_address.rpartition(':')[0]}:{port}"


def read_blob_socket(identity: Identity, address: str, ticket: str, digest: str, offset: int, length: int,
                     on_chunk=None) -> tuple[int, Exception | None]:
    """(bytes received, the error that ended the read or None), over the blob socket, with the
    client agents use (llmesh.agent.transfer.blob_client)."""
    from llmesh.agent.transfer.blob_client import BlobReads

    received = [0]

    def sink(position, data):
        received[0] += len(data)
        if on_chunk is not None:
            on_chunk(received[0])

    try:
        BlobReads(lambda: identity).read(address, ticket, digest, offset, length, sink)
    except Exception as exc:  # a refusal (MeshError), a cut stream or a refused handshake (OSError)
        return received[0], exc
    return received[0], None


def piece_index(identity: Identity, address: str, ticket: str, digest: str, piece_size: int,
                piece_hashes=()) -> peer_pb2.PieceIndex:
    """GetPieceIndex as an agent asks it; ``piece_hashes`` empty: as an agent from before BLAKE3."""
    credentials = grpc.ssl_channel_credentials(identity.ca_pem, identity.key_pem, identity.cert_pem)
    options = [("grpc.ssl_target_name_override", channels.PEER_TLS_NAME)]
    with grpc.secure_channel(address, credentials, options) as channel:
        return peer_pb2_grpc.PeerStub(channel).GetPieceIndex(peer_pb2.PieceIndexRequest(
            ticket=ticket, digest=digest, piece_size=piece_size, piece_hashes=list(piece_hashes)), timeout=120)
