"""What the coordinator does, as async methods on domain values (dicts, refs).

The registry is synchronous SQLite; every call to it runs on one writer thread
(``_db``) so the event loop never blocks on disk and writes never interleave.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
from typing import Any, Callable

from llmesh.common import wire
from llmesh.common.errors import InvalidArgument, MeshError
from llmesh.common.names import check_host_name, check_name, parse_ref
from llmesh.coordinator.link.hub import AgentConnection, LinkHub
from llmesh.coordinator.registry import Registry
from llmesh.v1 import agent_link_pb2 as link_pb

log = logging.getLogger("llmesh.coordinator")

INSPECT_TIMEOUT_S = 600.0  # registering hashes the files on the agent: big models take a while
GPU_QUERY_TIMEOUT_S = 3.0


class CoordinatorService:
    def __init__(self, registry: Registry):
        self.registry = registry
        self.hub = LinkHub()
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="registry")

    async def _db(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        # The caller's context travels along, so audit rows know who asked.
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, lambda: context.run(fn, *args, **kwargs))

    def close(self) -> None:
        self.hub.close_all()
        self._writer.shutdown(wait=True)
        self.registry.close()

    # -- agent links ----------------------------------------------------------------------

    async def agent_hello(self, hello: dict) -> AgentConnection:
        if not hello.get("agent_id"):
            raise InvalidArgument("agent hello without an agent id")
        check_host_name(hello.get("name", ""))
        row = await self._db(self.registry.hosts.host_hello, hello)
        connection = AgentConnection(row["id"], row["name"])
        self.hub.attach(connection)
        log.info("agent %s (%s) connected", row["name"], row["id"])
        return connection

    async def agent_heartbeat(self, connection: AgentConnection, hardware: dict, scanning: bool) -> None:
        await self._db(self.registry.hosts.host_heartbeat, connection.host_id, hardware, scanning)

    async def agent_inventory(self, connection: AgentConnection, batch: link_pb.InventoryBatch) -> None:
        if batch.scan_id != connection.scan_id:
            connection.scan_id, connection.scan_paths = batch.scan_id, set()
        models = [wire.to_dict(m) for m in batch.models]
        connection.scan_paths.update(m["path"] for m in models)
        complete = set(connection.scan_paths) if batch.complete else None
        result = await self._db(self.registry.models.apply_inventory, connection.host_id, models,
                                list(batch.problems), complete)
        if batch.complete:
            connection.scan_id, connection.scan_paths = "", set()
            log.info("inventory from %s: %d models, %d new copies, %d missing, %d problems",
                     connection.name, len(complete), result["new_copies"], result["missing"],
                     len(batch.problems))

    async def agent_seen(self, connection: AgentConnection) -> None:
        await self._db(self.registry.hosts.host_seen, connection.host_id)

    def agent_gone(self, connection: AgentConnection) -> None:
        self.hub.detach(connection)
        log.info("agent %s disconnected", connection.name)

    # -- hosts and GPUs -------------------------------------------------------------------

    async def list_hosts(self) -> list[dict]:
        return await self._db(self.registry.hosts.list_hosts, self.hub.connected_ids())

    async def list_gpus(self, host: str = "") -> list[dict]:
        if host:
            await self._db(self.registry.hosts.host_by_name, host)  # NotFound for an unknown name
        hosts = [h for h in await self.list_hosts() if not host or h["name"] == host]
        return await asyncio.gather(*(self._host_gpus(h) for h in hosts))

    async def _host_gpus(self, host: dict) -> dict:
        """Ask the agent for live readings; fall back to its last heartbeat."""
        hardware, live = host["hardware"], False
        if host["status"] == "online":
            try:
                connection = self.hub.get(host["id"], host["name"])
                reply = await connection.request(
                    link_pb.Command(query_hardware=link_pb.QueryHardware()), GPU_QUERY_TIMEOUT_S)
                hardware, live = wire.to_dict(reply.hardware), True
            except MeshError as exc:
                log.warning("live GPU query to %s failed: %s", host["name"], exc)
        return {"host": host["name"], "status": host["status"], "live": live,
                "gpus": hardware.get("gpus", []), "gpu_error": hardware.get("gpu_error", "")}

    async def rescan(self, host: str = "") -> list[str]:
        hosts = [h for h in await self.list_hosts() if not host or h["name"] == host]
        if host and not hosts:
            await self._db(self.registry.hosts.host_by_name, host)
        asked = []
        for h in hosts:
            if h["status"] != "online":
                continue
            connection = self.hub.get(h["id"], h["name"])
            await connection.request(link_pb.Command(rescan=link_pb.Rescan()), GPU_QUERY_TIMEOUT_S)
            asked.append(h["name"])
        return asked

    # -- models ---------------------------------------------------------------------------

    async def list_models(self, host: str = "", kind: str = "", name: str = "", **filters) -> list[dict]:
        """filters: role, backend, tags, query (the catalog's search engine)."""
        return await self._db(self.registry.models.list_versions, self.hub.connected_ids(),
                              host=host, kind=kind, name=name, **filters)

    async def get_model(self, ref_text: str) -> dict:
        ref = parse_ref(ref_text)
        return await self._db(self.registry.versions.get_version, ref, self.hub.connected_ids())

    async def register_model(self, request: dict, actor: str = "") -> tuple[dict, bool, str]:
        if request.get("name"):
            check_name(request["name"])
        if not request.get("path"):
            raise InvalidArgument("a path to register is required")
        host = await self._db(self.registry.hosts.host_by_name, request["host"])
        connection = self.hub.get(host["id"], host["name"])
        reply = await connection.request(
            link_pb.Command(inspect=link_pb.InspectPath(path=request["path"])), INSPECT_TIMEOUT_S)
        found = wire.to_dict(reply.model)
        version_id, created, message = await self._db(
            self.registry.models.register, host["id"], found, name=request.get("name", ""),
            base_model=request.get("base_model", ""), roles=request.get("roles") or [],
            tags=request.get("tags") or {}, notes=request.get("notes", ""),
            display_name=request.get("display_name", ""), actor=actor)
        version = await self._db(self.registry.versions.version_by_id, version_id, self.hub.connected_ids())
        return version, created, message

    async def delete_model(self, ref_text: str, actor: str = "") -> list[str]:
        return await self._db(self.registry.models.delete, parse_ref(ref_text), actor)

