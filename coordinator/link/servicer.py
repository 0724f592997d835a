"""The AgentLink servicer: one call per connected agent, open as long as the agent runs.

It reads the agent's messages and hands each to the link service; everything for the agent
(the welcome, commands, certificates) goes out through the connection's one writer task.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import grpc

from llmesh import __version__
from llmesh.common import wire
from llmesh.common.errors import InvalidArgument, MeshError, grpc_status
from llmesh.v1 import agent_link_pb2 as link_pb
from llmesh.v1 import agent_link_pb2_grpc as link_grpc

from ..auth import caller
from .hub import AgentConnection
from .service import LinkService

log = logging.getLogger("llmesh.coordinator.link")


class AgentLinkServicer(link_grpc.AgentLinkServicer):
    def __init__(self, links: LinkService):
        self.links = links

    async def Link(self, request_iterator: AsyncIterator[link_pb.AgentMessage],
                   context: grpc.aio.ServicerContext) -> None:
        first = await context.read()
        if first is grpc.aio.EOF or first.WhichOneof("body") != "hello":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message on a link must be hello")
        try:
            connection = await self.links.connect(caller(context).name, wire.to_dict(first.hello))
        except MeshError as exc:
            await context.abort(grpc_status(exc), str(exc))
        connection.task = asyncio.current_task()  # closing the link ends this call
        # The revocation list is read after the link joined the hub: a host removed from now
        # on is pushed to this link too, so no agent misses one.
        connection.outbox.put_nowait(link_pb.CoordinatorMessage(welcome=link_pb.Welcome(
            host_id=connection.host_id, coordinator_version=__version__, revoked=self.links.revocations(),
            piece_size=self.links.transfers.piece_size)))
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
            self.links.disconnect(connection)
            writer.cancel()

    async def _write(self, connection: AgentConnection, context: grpc.aio.ServicerContext) -> None:
        while True:
            message = await connection.outbox.get()
            if message is None:
                return
            await context.write(message)

    async def _dispatch(self, connection: AgentConnection, message: link_pb.AgentMessage) -> None:
        kind = message.WhichOneof("body")
        try:
            if kind == "heartbeat":
                await self.links.heartbeat(connection, wire.to_dict(message.heartbeat.hardware),
                                           message.heartbeat.scanning)
            elif kind == "inventory":
                batch = message.inventory
                await self.links.inventory(connection, batch.scan_id, [wire.to_dict(m) for m in batch.models],
                                           list(batch.problems), batch.complete)
            elif kind == "reply":
                connection.deliver(message.reply)
            elif kind == "job":
                self.links.job_report(connection, message.job)
            elif kind == "renew":
                await connection.outbox.put(link_pb.CoordinatorMessage(
                    certificate=await self._renew(connection, message.renew.csr_pem)))
            elif kind == "ticket_request":
                await connection.outbox.put(link_pb.CoordinatorMessage(
                    ticket=await self._ticket(connection, message.ticket_request)))
            elif kind == "scrub":
                await self.links.scrub_report(connection, wire.to_dict(message.scrub))
            elif kind == "peer_reads":
                await self.links.peer_reads(connection, [wire.to_dict(r) for r in message.peer_reads.reads])
            else:
                raise InvalidArgument(f"unexpected {kind} message on an open link")
        except MeshError as exc:  # one bad message must not drop the agent
            log.warning("message from %s refused: %s", connection.name, exc)

    async def _ticket(self, connection: AgentConnection, request: link_pb.TicketRequest) -> link_pb.TicketGrant:
        grant = link_pb.TicketGrant(request_id=request.request_id, job_id=request.job_id)
        try:
            grant.ticket = await self.links.renew_ticket(connection, request.job_id)
        except MeshError as exc:
            grant.error_code, grant.error_message = exc.code, str(exc)
        return grant

    async def _renew(self, connection: AgentConnection, csr_pem: bytes) -> link_pb.Certificate:
        try:
            return link_pb.Certificate(cert_pem=await self.links.renew(connection, csr_pem))
        except MeshError as exc:
            return link_pb.Certificate(error=str(exc))
