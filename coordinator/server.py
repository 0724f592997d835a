"""Start and stop a coordinator: registry, servicers, the listening port."""
from __future__ import annotations

import logging

from llmesh.v1 import agent_link_pb2_grpc as link_grpc
from llmesh.v1 import mesh_pb2_grpc as mesh_grpc
from meshcore import channels
from meshcore.config import CoordinatorConfig, remove_endpoint, write_endpoint

from .registry import Registry
from .service import CoordinatorService
from .servicers import AgentLinkServicer, MeshServicer

log = logging.getLogger("llmesh.coordinator")


class Coordinator:
    """A running coordinator. ``await Coordinator.start(config)``, then ``await stop()``."""

    def __init__(self, config: CoordinatorConfig, service: CoordinatorService, server, address: str):
        self.config = config
        self.service = service
        self.server = server
        self.address = address

    @classmethod
    async def start(cls, config: CoordinatorConfig) -> "Coordinator":
        config.data_dir.mkdir(parents=True, exist_ok=True)
        service = CoordinatorService(Registry(config.data_dir / "registry.db"))
        server = channels.aio_server()
        mesh_grpc.add_MeshServicer_to_server(MeshServicer(service), server)
        link_grpc.add_AgentLinkServicer_to_server(AgentLinkServicer(service), server)
        try:
            address = channels.bind(server, config.listen)
        except Exception:
            service.close()
            raise
        await server.start()
        if config.endpoint_file:
            write_endpoint(config.endpoint_file, address)
        log.info("coordinator listening on %s (registry %s)", address, config.data_dir / "registry.db")
        return cls(config, service, server, address)

    async def stop(self, grace: float = 2.0) -> None:
        if self.config.endpoint_file:
            remove_endpoint(self.config.endpoint_file, self.address)
        self.service.hub.close_all()
        await self.server.stop(grace)
        self.service.close()
