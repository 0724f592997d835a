"""The Mesh API's domain: hosts, their GPUs, the models the agents found, rescans."""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import uuid

from llmesh.common import wire
from llmesh.common.errors import InvalidArgument, MeshError
from llmesh.common.names import parse_ref
from llmesh.coordinator.core import Core
from llmesh.coordinator.registry.deployments import with_liveness
from llmesh.v1 import agent_link_pb2 as link_pb

log = logging.getLogger("llmesh.coordinator.mesh")

GPU_QUERY_TIMEOUT_S = 3.0


class MeshService:
    def __init__(self, core: Core):
        self.core = core
        self.registry = core.registry

    # -- hosts and GPUs -------------------------------------------------------------------

    async def list_hosts(self) -> list[dict]:
        return await self.core.run(self.registry.hosts.list_hosts, self.core.hub.connected_ids())

    async def list_gpus(self, host: str = "") -> list[dict]:
        if host:
            await self.core.run(self.registry.hosts.host_by_name, host)  # NotFound for an unknown name
        hosts = [h for h in await self.list_hosts() if not host or h["name"] == host]
        return await asyncio.gather(*(self._host_gpus(h) for h in hosts))

    async def _host_gpus(self, host: dict) -> dict:
        """Ask the agent for live readings; fall back to its last heartbeat."""
        hardware, live = host["hardware"], False
        if host["status"] == "online":
            try:
                connection = self.core.hub.get(host["id"], host["name"])
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
            await self.core.run(self.registry.hosts.host_by_name, host)
        asked = []
        for h in hosts:
            if h["status"] != "online":
                continue
            connection = self.core.hub.get(h["id"], h["name"])
            await connection.request(link_pb.Command(rescan=link_pb.Rescan()), GPU_QUERY_TIMEOUT_S)
            asked.append(h["name"])
        return asked

    # -- integrity scrubs -----------------------------------------------------------------

    async def scrub(self, host: str = "", actor: str = "") -> dict:
        """Ask each online host (or HOST) to re-hash every copy it holds; the runs started, or
        already running there, and the hosts that are offline."""
        hosts = [h for h in await self.list_hosts() if not host or h["name"] == host]
        if host and not hosts:
            await self.core.run(self.registry.hosts.host_by_name, host)  # NotFound naming the known hosts
        ids, offline = [], []
        for h in hosts:
            if h["status"] != "online":
                offline.append(h["name"])
                continue
            scrub_id = uuid.uuid4().hex
            await self.core.run(self.registry.scrubs.requested, h["id"], scrub_id, actor)
            try:
                reply = await self.core.hub.get(h["id"], h["name"]).request(
                    link_pb.Command(scrub=link_pb.StartScrub(scrub_id=scrub_id)), GPU_QUERY_TIMEOUT_S)
            except MeshError:
                await self.core.run(self.registry.scrubs.forget, scrub_id)
                raise
            running = json.loads(reply.json or "{}").get("scrub_id") or scrub_id
            if running != scrub_id:  # one was running already: that is the one to watch
                await self.core.run(self.registry.scrubs.forget, scrub_id)
            ids.append(running)
        return {"scrubs": await self.list_scrubs(ids=ids) if ids else [], "offline": offline}

    async def list_scrubs(self, host: str = "", ids: list[str] | None = None) -> list[dict]:
        host_id = (await self.core.run(self.registry.hosts.host_by_name, host))["id"] if host else ""
        return await self.core.run(self.registry.scrubs.list, host_id, ids)

    # -- models ---------------------------------------------------------------------------

    async def list_models(self, host: str = "", kind: str = "", name: str = "", **filters) -> list[dict]:
        """filters: role, backend, tags, query (the catalog's search engine)."""
        return await self.core.run(self.registry.models.list_versions, self.core.hub.connected_ids(),
                                   host=host, kind=kind, name=name, **filters)

    async def list_models_page(self, page_size: int, page_token: str, host: str = "", kind: str = "",
                               name: str = "", **filters) -> tuple[list[dict], str]:
        """One page of list_models and the token of the next ('' after the last). page_size 0:
        every version at once. A version added or removed between pages may shift a row
        across the boundary, as with any offset paging."""
        if not page_size:
            if page_token:
                raise InvalidArgument("page_token needs a page_size")
            return await self.list_models(host, kind, name, **filters), ""
        if page_size > MAX_PAGE_SIZE:
            raise InvalidArgument(f"page_size must be at most {MAX_PAGE_SIZE}, got {page_size}")
        offset = _page_offset(page_token)
        # One row past the page tells whether another page follows, without a second query.
        rows = await self.list_models(host, kind, name, limit=page_size + 1, offset=offset, **filters)
        if len(rows) <= page_size:
            return rows, ""
        return rows[:page_size], _page_token(offset + page_size)

    async def get_model(self, ref_text: str) -> dict:
        ref = parse_ref(ref_text)
        connected = self.core.hub.connected_ids()
        version, rows = await self.core.run(self._version_and_deployments, ref, connected)
        version["deployed_to"] = [{k: d[k] for k in ("host", "backend", "served_name", "endpoint", "state", "ref",
                                                     "alias", "adapter", "created_at")}
                                  for d in with_liveness(rows, connected)]
        return version

    def _version_and_deployments(self, ref, connected: frozenset[str]) -> tuple[dict, list[dict]]:
        """On the writer thread: one trip there for the version and where it runs, not three."""
        version = self.registry.versions.get_version(ref, connected)
        version_id = self.registry.versions.resolve(ref)
        return version, self.registry.deployments.running_deployments_of([version_id])

    async def delete_model(self, ref_text: str, actor: str = "") -> list[str]:
        return await self.core.run(self.registry.models.delete, parse_ref(ref_text), actor)


MAX_PAGE_SIZE = 10_000  # the registry's search limit


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"models:{offset}".encode()).decode()


def _page_offset(token: str) -> int:
    """The offset a next_page_token stands for: opaque to callers, so it can change shape later."""
    if not token:
        return 0
    try:
        kind, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "models" and offset.isdigit():
            return int(offset)
    except (binascii.Error, UnicodeError, ValueError):
        pass
    raise InvalidArgument(f"page_token {token[:40]!r} is not a token this coordinator gave")
