"""What the dashboard's JSON endpoints read and do, through the coordinator's services.

Every listing is a page (``PAGE`` rows, ``offset``) so the page stays quick with 10,000
versions and 100 hosts; versions are found with the catalog's query language. Writes need
the role the same RPC needs (policy.py) and run as the logged-in user, so the registry's
audit rows name them.
"""
from __future__ import annotations

import time

from llmesh.common.errors import InvalidArgument, PermissionDenied
from llmesh.common.units import parse_duration
from llmesh.coordinator.catalog.service import CatalogService
from llmesh.coordinator.core import Core
from llmesh.coordinator.identity import Caller, current_caller
from llmesh.coordinator.mesh.service import MeshService
from llmesh.coordinator.policy import policy_for
from llmesh.coordinator.security.service import SecurityService
from llmesh.coordinator.serving.service import ServingService
from llmesh.coordinator.transfer.service import TransferService

PAGE = 50
MAX_PAGE = 200
# What the page may do beyond reading: the RPC whose role each action needs.
ACTIONS = {"cancel_job": "/llmesh.v1.Transfers/CancelJob", "audit": "/llmesh.v1.Admin/ListAudit"}


def allowed(role: str, action: str) -> bool:
    return Caller("", role, "user").has_role(policy_for(ACTIONS[action]))


def _page(args: dict) -> tuple[int, int]:
    try:
        offset, limit = int(args.get("offset") or 0), int(args.get("limit") or PAGE)
    except ValueError:
        raise InvalidArgument("offset and limit must be whole numbers") from None
    if offset < 0 or not 0 < limit <= MAX_PAGE:
        raise InvalidArgument(f"offset must be 0 or more and limit 1 to {MAX_PAGE}")
    return offset, limit


def _paged(rows: list, offset: int, limit: int) -> dict:
    """A page of rows fetched with one extra, which only says whether there is a next page."""
    return {"items": rows[:limit], "offset": offset, "limit": limit, "more": len(rows) > limit}


class DashboardApi:
    def __init__(self, core: Core, security: SecurityService, mesh: MeshService, catalog: CatalogService,
                 transfers: TransferService, serving: ServingService):
        self.core, self.security, self.mesh, self.catalog = core, security, mesh, catalog
        self.transfers, self.serving = transfers, serving

    async def user(self, token_hash: str) -> dict:
        return await self.security.user_for_token(token_hash)

    async def get(self, view: str, args: dict, caller: Caller) -> dict:
        current_caller.set(caller)
        offset, limit = _page(args)
        query = (args.get("q") or "").strip()
        if view == "me":
            return {"name": caller.name, "role": caller.role,
                    "can": {action: allowed(caller.role, action) for action in ACTIONS}}
        if view == "hosts":
            hosts = [h for h in await self.mesh.list_hosts() if query.lower() in h["name"].lower()]
            return {**_paged(hosts[offset:offset + limit + 1], offset, limit), "total": len(hosts)}
        if view == "models":
            return await self._models(query, offset, limit)
        if view == "jobs":
            jobs = sorted(await self.transfers.jobs(include_finished=args.get("all") == "1"),
                          key=lambda j: -(j["created_at"] or 0))
            jobs = [j for j in jobs if not query or query in j["ref"] or query in (j["destination"] or "")]
            return {**_paged(jobs[offset:offset + limit + 1], offset, limit), "total": len(jobs)}
        if view == "deployments":
            rows = [d for d in await self.serving.deployments(include_stopped=args.get("all") == "1")
                    if not query or query in d["ref"] or query in d["host"] or query in d["served_name"]]
            return {**_paged(rows[offset:offset + limit + 1], offset, limit), "total": len(rows)}
        if view == "lineage":
            ref = args.get("ref") or ""
            if not ref:
                raise InvalidArgument("name a version: ?ref=NAME:VERSION")
            return await self.catalog.lineage(ref)
        if view == "events":
            rows = await self.core.run(self.core.registry.reports.event_page, offset, limit + 1,
                                                query, args.get("result") or "")
            return _paged(rows, offset, limit)
        if view == "audit":
            return await self._audit(args, caller, offset, limit)
        raise InvalidArgument(f"no such view {view!r}")

    async def _audit(self, args: dict, caller: Caller, offset: int, limit: int) -> dict:
        """`meshctl audit`'s rows through the same call, with its filters (actor, since) and action."""
        if not allowed(caller.role, "audit"):
            raise PermissionDenied(f"the audit log needs the {policy_for(ACTIONS['audit'])} role; "
                                   f"{caller.name} is a {caller.role}")
        since = (args.get("since") or "").strip()
        since_ts = time.time() - parse_duration(since) if since else 0.0
        rows = await self.security.audit(since_ts, (args.get("actor") or "").strip(), limit + 1,
                                         (args.get("action") or "").strip(), offset)
        return _paged(rows, offset, limit)

    async def _models(self, query: str, offset: int, limit: int) -> dict:
        versions = await self.core.run(self.core.registry.search.search,
                                                self.core.hub.connected_ids(), query,
                                                sort="", limit=limit + 1, offset=offset)
        deployed: dict[str, list] = {}
        for d in await self.serving.deployments(include_stopped=False):
            deployed.setdefault(d["ref"], []).append({"host": d["host"], "backend": d["backend"],
                                                      "served_name": d["served_name"]})
        rows = [{"ref": f"{v['name']}:{v['version']}", "name": v["name"], "version": v["version"],
                 "kind": v["kind"], "format": v["format"], "size_bytes": v["size_bytes"],
                 "state": v.get("state", ""), "aliases": v.get("aliases", []),
                 "copies": [{"host": c["host"], "state": c["state"], "host_status": c["host_status"]}
                            for c in v["copies"]],
                 "deployed": deployed.get(f"{v['name']}:{v['version']}", [])} for v in versions]
        page = _paged(rows, offset, limit)
        page["hosts"] = sorted({c["host"] for r in page["items"] for c in r["copies"]}
                               | {d["host"] for r in page["items"] for d in r["deployed"]})
        return page

    async def post(self, action: str, form: dict, caller: Caller) -> dict:
        current_caller.set(caller)
        if action not in ACTIONS or action == "audit":
            raise InvalidArgument(f"no such action {action!r}")
        if not allowed(caller.role, action):
            raise PermissionDenied(f"{action.replace('_', ' ')} needs the {policy_for(ACTIONS[action])} role; "
                                   f"{caller.name} is a {caller.role}")
        job = await self.transfers.cancel(form.get("job") or "")
        return {"job": job["id"], "state": job["state"]}
