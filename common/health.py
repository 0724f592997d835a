"""The standard gRPC health service (grpc.health.v1) on a server, for load balancers,
orchestrators and `grpcurl`: SERVING while up, NOT_SERVING from the start of a graceful shutdown."""
from __future__ import annotations

from grpc_health.v1 import health, health_pb2, health_pb2_grpc

HEALTH_SERVICE = health.SERVICE_NAME  # grpc.health.v1.Health


class Health:
    """Health of one server: the server as a whole ("") and each named service."""

    def __init__(self, server, services: list[str]):
        self.services = ["", *services]
        self.servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)
        self.shutting_down = False

    async def serving(self) -> None:
        for service in self.services:
            await self.servicer.set(service, health_pb2.HealthCheckResponse.SERVING)

    async def shut_down(self) -> None:
        """NOT_SERVING for good: called first when a graceful shutdown begins, so clients stop
        sending new work while the server still finishes what it has."""
        self.shutting_down = True
        await self.servicer.enter_graceful_shutdown()
