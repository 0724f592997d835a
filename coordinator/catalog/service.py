"""The catalog's domain methods (async, on dicts and refs).

Everything that touches SQLite goes through the coordinator's one writer thread
(``Core.run``); agents are asked through its LinkHub (verify re-hashes copies).
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import AsyncIterator, Callable

from llmesh.common import wire
from llmesh.common.errors import FailedPrecondition, InvalidArgument, MeshError
from llmesh.common.names import ModelRef, check_name, parse_ref
from llmesh.coordinator.catalog import importers
from llmesh.coordinator.core import INSPECT_TIMEOUT_S, Core
from llmesh.v1 import agent_link_pb2 as link_pb

log = logging.getLogger("llmesh.coordinator.catalog")

EVENT_POLL_S = 0.25
MAX_IMPORT_BYTES = 64 * 1024 * 1024


class CatalogService:
    def __init__(self, core: Core, on_alias_moved: Callable[[str, str], None] | None = None):
        self.core = core
        self.registry = core.registry
        self.on_alias_moved = on_alias_moved or (lambda name, alias: None)  # deployments follow aliases

    def _connected(self) -> frozenset[str]:
        return self.core.hub.connected_ids()

    async def _version(self, version_id: int) -> dict:
        return await self.core.run(self.registry.versions.version_by_id, version_id, self._connected())

    # -- registration ---------------------------------------------------------------------

    async def register(self, request: dict, actor: str) -> tuple[dict, bool, str]:
        spec = _spec(request)
        if not request.get("path"):
            if spec.get("state") not in ("draft", "training"):
                raise InvalidArgument("give a PATH to register, or --state draft|training (with --name) for a "
                                      "version whose weights come later")
            if not request.get("name"):
                raise InvalidArgument("a version without a PATH needs --name")
            version_id = await self.core.run(self.registry.catalog.create_draft, request["name"], spec, actor)
            return await self._version(version_id), True, f"registered without weights ({spec.get('state') or 'draft'})"
        if request.get("name"):
            check_name(request["name"])
        if spec.get("state") not in (None, "", "active", "draft", "training"):
            raise InvalidArgument(f"a new version starts as active, draft or training, not {spec['state']!r}")
        if spec.get("state") in ("draft", "training"):
            raise InvalidArgument(f"a version with weights cannot be {spec['state']}; leave out --state")
        if not request.get("host"):
            raise InvalidArgument("--host is required with a PATH: the host PATH is on")
        host = await self.core.run(self.registry.hosts.host_by_name, request["host"])
        connection = self.core.hub.get(host["id"], host["name"])
        reply = await connection.request(
            link_pb.Command(inspect=link_pb.InspectPath(path=request["path"])), INSPECT_TIMEOUT_S)
        found = wire.to_dict(reply.model)
        spec.pop("state", None)
        spec["name"] = request.get("name") or ""
        version_id, created, message = await self.core.run(self.registry.catalog.register_run, host["id"], found, spec, actor)
        return await self._version(version_id), created, message

    # -- edits, lifecycle, scores ----------------------------------------------------------

    async def versions(self, name: str) -> list[dict]:
        await self.core.run(self.registry.versions.version_numbers, name)  # NotFound for an unknown model
        return await self.core.run(self.registry.models.list_versions, self._connected(), name=name)

    async def edit(self, request: dict, actor: str) -> dict:
        changes = _spec(request)
        changes.update(roles=request.get("add_roles") or [], remove_roles=request.get("remove_roles") or [],
                       remove_capabilities=request.get("remove_capabilities") or [],
                       remove_tags=request.get("remove_tags") or [], backends=request.get("add_backends") or [],
                       remove_backends=request.get("remove_backends") or [])
        if request.get("semver") is not None:
            changes["semver"] = request["semver"]
        version_id = await self.core.run(self.registry.catalog.edit, parse_ref(request["ref"]), changes, actor)
        return await self._version(version_id)

    async def set_state(self, ref: str, state: str, reason: str, actor: str) -> dict:
        version_id = await self.core.run(self.registry.lifecycle.set_state, parse_ref(ref), state, reason, actor)
        return await self._version(version_id)

    async def score(self, ref: str, metrics: dict, remove: list[str], actor: str) -> dict:
        version_id = await self.core.run(self.registry.catalog.score, parse_ref(ref), dict(metrics), list(remove), actor)
        return await self._version(version_id)

    # -- aliases --------------------------------------------------------------------------

    async def set_alias(self, ref: str, alias: str, reason: str, protect: bool, caller) -> dict:
        parsed = parse_ref(ref)
        result = await self.core.run(self.registry.aliases.set_alias, parsed, alias, reason=reason, protect=protect,
                                     is_admin=caller.has_role("admin"), actor=caller.name)
        self.on_alias_moved(parsed.name, alias)
        return result

    async def remove_alias(self, name: str, alias: str, reason: str, caller) -> dict:
        check_name(name)
        result = await self.core.run(self.registry.aliases.remove_alias, name, alias, reason=reason,
                                     is_admin=caller.has_role("admin"), actor=caller.name)
        self.on_alias_moved(name, alias)
        return result

    async def alias_history(self, name: str, alias: str) -> list[dict]:
        return await self.core.run(self.registry.aliases.alias_history, check_name(name), alias)

    async def rollback(self, name: str, alias: str, reason: str, deprecate: bool, caller) -> dict:
        result = await self.core.run(self.registry.aliases.rollback, check_name(name), alias or "prod", reason=reason,
                                     deprecate=deprecate, is_admin=caller.has_role("admin"), actor=caller.name)
        self.on_alias_moved(name, alias or "prod")
        return result

    async def promote(self, ref: str, to: str, from_alias: str, gates: list[str], reason: str, caller) -> dict:
        """Move alias TO to the version (REF, or what FROM points to) if it passes every gate."""
        if not to:
            raise InvalidArgument("say which environment to promote to: --to ALIAS")
        parsed = parse_ref(ref)
        if from_alias:
            if parsed.names_a_version:
                raise InvalidArgument("give NAME with --from, or NAME:VERSION without it")
            parsed = ModelRef(parsed.name, alias=from_alias)
        await self.core.run(self.registry.gates.environment, to)  # NotFound naming the environments there are
        version_id = await self.core.run(self.registry.versions.resolve, parsed)
        version = await self._version(version_id)
        label = f"{version['name']}:{version['version']}"
        failed = await self.core.run(self.registry.gates.failing, version_id, version, to, list(gates))
        if failed:
            await self.core.run(self.registry.gates.record_refusal, version_id, to, failed, caller.name)
            raise FailedPrecondition(f"{label} not promoted to {to}: gate failed: " + "; ".join(failed))
        result = await self.core.run(
            self.registry.aliases.set_alias, ModelRef(version["name"], version=version["version"]), to,
            reason=reason or (f"promoted from {from_alias}" if from_alias else "promoted"),
            is_admin=caller.has_role("admin"), actor=caller.name, action="promote")
        await self.core.run(self.registry.gates.record_promotion, label, to, [], caller.name)
        self.on_alias_moved(version["name"], to)
        return result

    async def set_gate(self, environment: str, expression: str, actor: str) -> dict:
        if not expression.strip():
            raise InvalidArgument("give the gate's checks, e.g. \"metric.accuracy >= 0.85\"")
        return await self.core.run(self.registry.gates.set_gate, environment, expression, actor)

    async def remove_gate(self, environment: str, actor: str) -> dict:
        return await self.core.run(self.registry.gates.remove_gate, environment, actor)

    async def gates(self) -> list[dict]:
        return await self.core.run(self.registry.gates.gates)

    async def environments(self) -> list[dict]:
        return await self.core.run(self.registry.gates.environments)

    async def add_environment(self, environment: str, actor: str) -> dict:
        return await self.core.run(self.registry.gates.add_environment, environment, actor)

    async def remove_environment(self, environment: str, actor: str) -> dict:
        return await self.core.run(self.registry.gates.remove_environment, environment, actor)

    # -- reports --------------------------------------------------------------------------

    async def tree(self, name: str) -> dict:
        return await self.core.run(self.registry.reports.tree, check_name(name))

    async def lineage(self, ref: str) -> dict:
        return await self.core.run(self.registry.reports.lineage, parse_ref(ref))

    async def adapters(self, base: str) -> list[dict]:
        if not base:
            raise InvalidArgument("name a base model")
        ids = await self.core.run(self.registry.reports.adapters, base)
        return [await self._version(i) for i in ids]

    async def compare(self, name: str, a: str, b: str) -> dict:
        check_name(name)
        return await self.core.run(self.registry.reports.compare, name, a, b)

    async def resolve(self, role: str, capabilities: list[str], prefer: str) -> tuple[dict, str]:
        if not role:
            raise InvalidArgument("--role is required")
        version_id, reason = await self.core.run(self.registry.reports.resolve_role, role, list(capabilities), prefer)
        return await self._version(version_id), reason

    async def search(self, query: str, sort: str, limit: int,
                     as_chunks: bool = False) -> list[dict] | list[tuple[bytes, list[dict]]]:
        """as_chunks: each version as (its wire chunk, its copies) (registry.versions.matching)."""
        return await self.core.run(self.registry.search.search, self._connected(), query, sort=sort, limit=limit,
                                   as_chunks=as_chunks)

    async def summary(self, name: str) -> dict:
        return await self.core.run(self.registry.reports.summary, name)

    async def events(self, after_id: int, limit: int, follow: bool, resource: str) -> AsyncIterator[dict]:
        last = after_id
        for event in await self.core.run(self.registry.reports.events_after, after_id, limit or 100, resource):
            last = event["id"]
            yield event
        while follow:
            await asyncio.sleep(EVENT_POLL_S)
            if last == 0:  # nothing yet: start after whatever exists now
                newest = await self.core.run(self.registry.reports.events_after, 0, 1, resource)
                last = newest[-1]["id"] if newest else 0
                continue
            for event in await self.core.run(self.registry.reports.events_after, last, 500, resource):
                last = event["id"]
                yield event

    # -- verify ---------------------------------------------------------------------------

    async def verify(self, ref: str, lock: bool, unlock: bool, actor: str) -> dict:
        plan = await self.core.run(self.registry.reports.verification_plan, parse_ref(ref))
        results = await asyncio.gather(*(self._verify_copy(plan, c) for c in plan["copies"]))
        return await self.core.run(self.registry.reports.apply_verification, plan, list(results), lock, unlock, actor)

    async def _verify_copy(self, plan: dict, copy: dict) -> dict:
        result = {"copy_id": copy["id"], "host": copy["host"], "path": copy["path"], "digest": "", "error": ""}
        try:
            connection = self.core.hub.get(copy["host_id"], copy["host"])
        except MeshError as exc:
            return {**result, "outcome": "offline", "error": str(exc)}
        try:
            reply = await connection.request(
                link_pb.Command(verify=link_pb.VerifyCopy(path=copy["path"])), INSPECT_TIMEOUT_S)
        except MeshError as exc:
            outcome = "missing" if exc.code == "NOT_FOUND" else "error"
            return {**result, "outcome": outcome, "error": str(exc)}
        digest = reply.model.digest
        return {**result, "digest": digest, "outcome": "ok" if digest == plan["digest"] else "drifted"}

    # -- import and export ----------------------------------------------------------------

    async def import_file(self, file_name: str, content: bytes, fmt: str, dry_run: bool, actor: str,
                          host_map: dict[str, str] | None = None) -> dict:
        if len(content) > MAX_IMPORT_BYTES:
            raise InvalidArgument(f"{file_name}: larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB")
        try:
            data = json.loads(content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidArgument(f"{file_name}: not a JSON file ({exc})") from None
        bundle = importers.convert(data, fmt or "auto", file_name, host_map)
        return await self.core.run(self.registry.exchange.import_bundle, bundle, actor, dry_run)

    async def export(self) -> dict:
        return await self.core.run(self.registry.exchange.export_all)


def _spec(request: dict) -> dict:
    """The catalog facts of a register/edit request, as the registry takes them."""
    params = request.get("params") or {}
    if not isinstance(params, dict):
        raise InvalidArgument("params must be a JSON object of {name: value}")
    training = request.get("training") or {}
    if not isinstance(training, dict):
        raise InvalidArgument("training must be a JSON object")
    spec = {
        "base_model": request.get("base_model") or "", "roles": request.get("roles") or [],
        "tags": request.get("tags") or {}, "notes": request.get("notes") or "",
        "display_name": request.get("display_name") or "", "semver": request.get("semver") or "",
        "state": request.get("state") or "", "capabilities": request.get("capabilities") or {},
        "parents": request.get("parents") or [], "relation": request.get("relation") or "",
        "datasets": request.get("datasets") or [], "framework": request.get("framework"),
        "hardware": request.get("hardware"), "duration_s": request.get("duration_s"),
        "cost_usd": request.get("cost_usd"), "code_commit": request.get("code_commit"),
        "params": params, "metrics": request.get("metrics") or {}, "backends": request.get("backends") or [],
        "description": request.get("description"), "training": training,
    }
    return spec
