"""What a node's own agent identity can ask of the coordinator (halext nodes)."""
from __future__ import annotations

import grpc

from llmesh.common import channels, wire
from llmesh.common.errors import FailedPrecondition, from_rpc_error
from llmesh.v1 import serving_pb2, serving_pb2_grpc


def request_model(credentials, ref: str, role: str, backend: str, port: int, timeout_s: float) -> dict:
    """Ask, as this host's agent, for a model to be served on this host."""
    identity = credentials.load()
    if identity is None:
        raise FailedPrecondition("this host's agent has not joined a mesh (meshctl agent join)")
    with channels.client_channel(credentials.link_address(), identity.ca_pem, identity=identity) as channel:
        try:
            reply = serving_pb2_grpc.ServingStub(channel).RequestModel(
                serving_pb2.RequestModelRequest(ref=ref, role=role, backend=backend, port=port),
                timeout=max(timeout_s, 3600))
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
    return wire.to_dict(reply)
