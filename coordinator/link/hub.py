"""Open agent links: who is connected, and request/reply over each link's stream."""
from __future__ import annotations

import asyncio
import itertools
import logging

from llmesh.common.errors import DeadlineExceeded, Unavailable, error_for_code
from llmesh.v1 import agent_link_pb2 as pb

log = logging.getLogger("llmesh.coordinator.links")


class AgentConnection:
    """One agent's open link. Messages for the agent go through ``outbox``; a single
    writer task drains it, since a gRPC stream must not be written concurrently."""

    def __init__(self, host_id: str, name: str):
        self.host_id = host_id
        self.name = name
        self.outbox: asyncio.Queue[pb.CoordinatorMessage | None] = asyncio.Queue()
        self._pending: dict[str, asyncio.Future] = {}
        self._ids = itertools.count(1)
        self.closed = False
        self.task: asyncio.Task | None = None  # the RPC handler serving this link
        # A full inventory can span batches: paths seen so far in the scan in progress.
        self.scan_id = ""
        self.scan_paths: set[str] = set()

    async def request(self, command: pb.Command, timeout: float) -> pb.CommandReply:
        if self.closed:
            raise Unavailable(f"host {self.name!r} is offline")
        request_id = f"r{next(self._ids)}"
        command.request_id = request_id
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        await self.outbox.put(pb.CoordinatorMessage(command=command))
        try:
            reply = await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise DeadlineExceeded(f"host {self.name!r} did not answer within {timeout:g} s") from None
        finally:
            self._pending.pop(request_id, None)
        if reply.error_code:
            raise error_for_code(reply.error_code, reply.error_message)
        return reply

    def deliver(self, reply: pb.CommandReply) -> None:
        future = self._pending.get(reply.request_id)
        if future and not future.done():
            future.set_result(reply)

    def close(self) -> None:
        """Fail pending requests and end the RPC (the agent then reconnects, or is refused)."""
        self.closed = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(Unavailable(f"host {self.name!r} disconnected"))
        self.outbox.put_nowait(None)
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()


class LinkHub:
    def __init__(self):
        self._links: dict[str, AgentConnection] = {}

    def connected_ids(self) -> frozenset[str]:
        return frozenset(self._links)

    def attach(self, connection: AgentConnection) -> None:
        """A newer link from the same agent replaces an older, half-dead one."""
        old = self._links.get(connection.host_id)
        if old is not None:
            log.info("agent %s reconnected; closing its previous link", connection.name)
            old.close()
        self._links[connection.host_id] = connection

    def detach(self, connection: AgentConnection) -> None:
        if self._links.get(connection.host_id) is connection:
            del self._links[connection.host_id]
        connection.close()

    def connections(self) -> list[AgentConnection]:
        return list(self._links.values())

    def get(self, host_id: str, name: str) -> AgentConnection:
        connection = self._links.get(host_id)
        if connection is None:
            raise Unavailable(f"host {name!r} is offline")
        return connection

    def disconnect(self, host_id: str) -> None:
        connection = self._links.pop(host_id, None)
        if connection is not None:
            connection.close()

    def close_all(self) -> None:
        for connection in list(self._links.values()):
            connection.close()
        self._links.clear()

