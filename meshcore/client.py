"""The typed client library for the coordinator's Mesh API (the Python SDK).

meshctl is a thin layer over this. Results are plain dicts with the API's field
names (see protos/llmesh/v1/mesh.proto); every failure is a meshcore.errors.MeshError.

    from meshcore.client import MeshClient
    with MeshClient.connect() as mesh:          # finds `meshctl up` through LLMESH_HOME
        for version in mesh.models(kind="lora"):
            print(version["name"], version["version"], version["copies"])
"""
from __future__ import annotations

import os
from typing import Iterable, Mapping

import grpc

from llmesh.v1 import mesh_pb2 as pb
from llmesh.v1 import mesh_pb2_grpc as mesh_grpc

from . import channels, wire
from .config import ClientConfig, resolve_coordinator
from .errors import Unavailable, from_rpc_error


class MeshClient:
    def __init__(self, config: ClientConfig):
        self.config = config
        self._channel = channels.client_channel(config.address)
        self._mesh = mesh_grpc.MeshStub(self._channel)

    @classmethod
    def connect(cls, coordinator: str | None = None, env: Mapping[str, str] | None = None,
                timeout_s: float = 30.0) -> "MeshClient":
        """--coordinator / LLMESH_COORDINATOR / the endpoint file in LLMESH_HOME, in that order."""
        return cls(resolve_coordinator(coordinator, os.environ if env is None else env, timeout_s))

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "MeshClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method, request, timeout: float | None = None):
        try:
            return method(request, timeout=timeout or self.config.timeout_s)
        except grpc.RpcError as exc:
            error = from_rpc_error(exc)
            if isinstance(error, Unavailable):
                raise Unavailable(f"coordinator at {self.config.address} (from {self.config.source}) "
                                  "is not reachable; is it running?") from None
            raise error from None

    # -- hosts ----------------------------------------------------------------------------

    def hosts(self) -> list[dict]:
        return [wire.to_dict(h) for h in self._call(self._mesh.ListHosts, pb.ListHostsRequest()).hosts]

    def gpus(self, host: str = "") -> list[dict]:
        reply = self._call(self._mesh.ListGpus, pb.ListGpusRequest(host=host))
        return [wire.to_dict(h) for h in reply.hosts]

    def rescan(self, host: str = "") -> list[str]:
        return list(self._call(self._mesh.Rescan, pb.RescanRequest(host=host)).hosts)

    # -- models ---------------------------------------------------------------------------

    def models(self, host: str = "", kind: str = "", name: str = "") -> list[dict]:
        reply = self._call(self._mesh.ListModels, pb.ListModelsRequest(host=host, kind=kind, name=name))
        return [wire.to_dict(v) for v in reply.versions]

    def model(self, ref: str) -> dict:
        return wire.to_dict(self._call(self._mesh.GetModel, pb.GetModelRequest(ref=ref)))

    def register(self, path: str, host: str, *, name: str = "", base_model: str = "",
                 roles: Iterable[str] = (), tags: Mapping[str, str] | None = None, notes: str = "",
                 display_name: str = "", timeout_s: float = 900.0) -> dict:
        """Name and annotate the model at PATH (native to HOST). Hashing happens on the
        agent, so the default timeout is long. Returns {version, created, message}."""
        request = pb.RegisterModelRequest(host=host, path=path, name=name, base_model=base_model,
                                          roles=list(roles), tags=dict(tags or {}), notes=notes,
                                          display_name=display_name)
        return wire.to_dict(self._call(self._mesh.RegisterModel, request, timeout_s))

    def delete(self, ref: str) -> dict:
        return wire.to_dict(self._call(self._mesh.DeleteModel, pb.DeleteModelRequest(ref=ref)))
