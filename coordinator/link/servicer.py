"""The AgentLink servicer: one call per connected agent; messages go to the core, the transfer
service and the security service."""
from __future__ import annotations

import asyncio
import logging

import grpc

from llmesh import __version__
from llmesh.common import wire
from llmesh.common.errors import InvalidArgument, MeshError, grpc_status
from llmesh.v1 import agent_link_pb2 as link_pb
from llmesh.v1 import agent_link_pb2_grpc as link_grpc

from ..auth import caller
from ..core import CoordinatorService

log = logging.getLogger("llmesh.coordinator.link")


class AgentLinkServicer(link_grpc.AgentLinkServicer):
    """One call per connected agent, open as long as the agent runs."""

    def __init__(self, service: CoordinatorService, security, transfers):
        self.service = service
        self.security = security
        self.transfers = transfers
        self._tasks: set[asyncio.Task] = set()

    async def Link(self, request_iterator, context):
        first = await context.read()
        if first is grpc.aio.EOF or first.WhichOneof("body") != "hello":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message on a link must be hello")
        if caller(context).name != f"agent:{first.hello.agent_id}":
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                "an agent may only speak for the id in its own certificate")
        try:
            connection = await self.service.agent_hello(wire.to_dict(first.hello))
        except MeshError as exc:
            await context.abort(grpc_status(exc), str(exc))
        connection.task = asyncio.current_task()
        self.transfers.wake()  # jobs waiting for this host, or for a source it holds
        # Everything for the agent, the welcome included, goes through the one writer task.
        connection.outbox.put_nowait(link_pb.CoordinatorMessage(welcome=link_pb.Welcome(
            host_id=connection.host_id, coordinator_version=__version__)))
        writer = asyncio.create_task(self._write(connection, context))
        try:
            while True:
                message = await context.read()
                if message is grpc.aio.EOF:
                    break
                await self._dispatch(connection, message)
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            pass
        finally:
            self.service.agent_gone(connection)
            self.transfers.wake()
            writer.cancel()

    async def _write(self, connection, context):
        while True:
            message = await connection.outbox.get()
            if message is None:
                return
            await context.write(message)

    async def _job_progress(self, connection, progress) -> None:
        try:
            await self.transfers.on_progress(connection, progress)
        except MeshError as exc:
            log.warning("job report from %s refused: %s", connection.name, exc)
        except Exception:
            log.exception("job report from %s failed", connection.name)

    async def _renew(self, connection, csr_pem: bytes) -> link_pb.Certificate:
        try:
            return link_pb.Certificate(cert_pem=await self.security.renew(connection.host_id, csr_pem))
        except MeshError as exc:
            return link_pb.Certificate(error=str(exc))

    async def _dispatch(self, connection, message):
        kind = message.WhichOneof("body")
        try:
            if kind == "heartbeat":
                await self.service.agent_heartbeat(
                    connection, wire.to_dict(message.heartbeat.hardware), message.heartbeat.scanning)
            elif kind == "inventory":
                await self.service.agent_seen(connection)
                await self.service.agent_inventory(connection, message.inventory)
            elif kind == "reply":
                connection.deliver(message.reply)
            elif kind == "job":
                # Its own task: finishing a job may ask this same agent something, and the
                # answer arrives through this very loop.
                task = asyncio.create_task(self._job_progress(connection, message.job))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            elif kind == "renew":
                await connection.outbox.put(link_pb.CoordinatorMessage(
                    certificate=await self._renew(connection, message.renew.csr_pem)))
            else:
                raise InvalidArgument(f"unexpected {kind} message on an open link")
        except MeshError as exc:  # one bad message must not drop the agent
            log.warning("message from %s refused: %s", connection.name, exc)
