"""Hub pulls: models from an OCI/Ollama registry, pulled once, spread over the mesh.

The coordinator never touches the bytes: it sends the destination agent a HubPull command; the
agent fetches from the registry, verifies every blob and reports progress as a job ("hub-pull").
When it is done the coordinator inspects the model directory on that agent and registers it as a
version tagged with its source (``hub.source`` = the canonical ref, ``hub.digest`` = the manifest
digest the agent resolved). A later pull of the same ref to another host, or the other hosts of
``--to h1,h2,h3``, gets the bytes from an agent that holds them verified (an ordinary mesh pull),
not from the hub again.
"""
from __future__ import annotations

import json
import logging
import time

from llmesh.common import wire
from llmesh.common.errors import FailedPrecondition, InvalidArgument, MeshError, Unavailable
from llmesh.common.names import check_name, parse_ref
from llmesh.common.refs import HubRef, parse_hub_ref, parse_hub_target
from llmesh.coordinator.auth import caller
from llmesh.coordinator.core import INSPECT_TIMEOUT_S
from llmesh.v1 import agent_link_pb2 as link_pb
from llmesh.v1 import common_pb2 as link_pb_common

log = logging.getLogger("llmesh.coordinator.hubs")

HUB_PIECE_SIZE = 64 * 1024 * 1024
COMMAND_S = 30.0
PUSH_TIMEOUT_S = 6 * 3600.0  # the holder uploads every blob the registry lacks before it answers


class HubPulls:
    def __init__(self, core, transfers, piece_size: int = HUB_PIECE_SIZE):
        self.core = core
        self.registry = core.registry
        self.transfers = transfers  # mesh pulls, for the hosts after the first
        self.piece_size = piece_size

    async def pull(self, ref_text: str, to: str, *, registry: str = "", insecure: bool = False,
                   ollama_layout: bool = False, include=()) -> dict:
        ref = parse_hub_ref(ref_text, insecure=insecure, include=include,
                            **({"default_registry": registry} if registry else {}))
        if include and ref.kind != "hf":
            raise InvalidArgument("--include picks files of a Hugging Face repo; a registry model is pulled whole")
        hosts = [h.strip() for h in to.split(",") if h.strip()]
        if not hosts:
            raise InvalidArgument("--to needs at least one host")
        dests = [await self.core.run(self.registry.hosts.host_by_name, h) for h in hosts]
        connected = self.core.hub.connected_ids()
        for d in dests:
            if d["id"] not in connected:
                raise Unavailable(f"host {d['name']!r} is offline")
        source = str(ref) + "".join(f" --include {g}" for g in sorted(ref.include))
        held = await self._held_version(source)
        if held:  # pulled once already: every host gets it from the mesh
            jobs = [await self.transfers.pull(held, d["name"]) for d in dests]
            return jobs[0]
        detail = {"hub_ref": source, "ref": str(ref), "include": list(ref.include), "insecure": ref.insecure,
                  "ollama_layout": ollama_layout,
                  "fan_out": [d["name"] for d in dests[1:]]}
        job_id = await self.core.run(self.registry.jobs.create_job_of_kind, "hub-pull", None, dests[0]["id"],
                                     detail, caller().name)
        await self._send(dests[0], job_id, ref, ollama_layout)
        return await self.transfers.job(job_id)

    async def _send(self, dest: dict, job_id: str, ref: HubRef, ollama_layout: bool) -> None:
        command = link_pb.HubPull(job_id=job_id, ref=str(ref), insecure=ref.insecure, piece_size=self.piece_size,
                                  ollama_layout=ollama_layout, include=list(ref.include))
        await self.core.hub.get(dest["id"], dest["name"]).request(link_pb.Command(hub_pull=command), COMMAND_S)
        await self.core.run(self.registry.jobs.update_job, job_id, state="running", started_at=time.time())

    async def push(self, ref_text: str, to: str, source: str = "", insecure: bool = False) -> dict:
        """Push a version to a registry or a Hugging Face repo from an online agent that holds it verified."""
        target = parse_hub_ref(to, insecure=insecure)
        if target.kind == "hf" and (target.file or target.include):
            raise InvalidArgument(f"{to}: push to a Hugging Face repo names the repo, not a file of it")
        version_id = await self.core.run(self.registry.versions.resolve, parse_ref(ref_text))
        version_ref = await self.core.run(self.registry.db.version_ref, version_id)
        connected = self.core.hub.connected_ids()
        holders = [h for h in await self.core.run(self.registry.jobs.transfer_sources, version_id)
                   if h["host_id"] in connected and (not source or h["host"] == source)]
        if not holders:
            where = f" on {source}" if source else ""
            raise FailedPrecondition(f"no online host{where} holds a verified copy of {version_ref} to push")
        files = await self.core.run(self.registry.jobs.version_files, version_id)
        version = await self.core.run(self.registry.versions.version_by_id, version_id, connected)
        record = {"name": version["name"], "version": version["version"], "digest": version["digest"],
                  "kind": version["kind"], "format": version["format"], "base_model": version.get("base_model", ""),
                  "metrics": version.get("metrics", {}), "tags": version.get("tags", {})}
        command = link_pb.HubPush(ref=str(target), insecure=target.insecure, record_json=json.dumps(record),
                                  files=[link_pb_common.FileEntry(**f) for f in files])
        holder = holders[0]
        reply = await self.core.hub.get(holder["host_id"], holder["host"]).request(
            link_pb.Command(hub_push=command), PUSH_TIMEOUT_S)
        await self.core.run(self.registry.db.record_event, caller().name, "version.push", version_ref,
                            {"to": str(target), "host": holder["host"]})
        return {"version": version_ref, "to": str(target), "host": holder["host"], **json.loads(reply.json)}

    async def login(self, host: str, hub: str, username: str, secret: str) -> dict:
        """Relay a hub credential to one online agent. The secret is passed on and dropped: it is
        in no log line, no audit row, no table (the audit row names who, which host, which hub)."""
        hub = parse_hub_target(hub)
        if not secret:
            raise InvalidArgument("an empty secret: give the password or token on standard input")
        dest = await self.core.run(self.registry.hosts.host_by_name, host)
        if dest["id"] not in self.core.hub.connected_ids():
            raise Unavailable(f"host {dest['name']!r} is offline: its agent must be online to take the credential")
        command = link_pb.HubLogin(hub=hub, username=username, secret=secret)
        reply = await self.core.hub.get(dest["id"], dest["name"]).request(link_pb.Command(hub_login=command),
                                                                          COMMAND_S)
        await self.core.run(self.registry.db.record_event, caller().name, "hub.login", dest["name"],
                            {"hub": hub, **({"username": username} if username else {})})
        return {"host": dest["name"], "hub": hub, "path": json.loads(reply.json or "{}").get("path", "")}

    async def host_back(self, host_id: str) -> None:
        """An agent (re)connected: a hub pull it was running may have died with it; the dispatcher
        sends it again (an agent already running that job ignores the repeat)."""
        for job in await self.core.run(self.registry.jobs.active_jobs):
            if job["kind"] == "hub-pull" and job["dest_host_id"] == host_id and job["state"] == "running":
                await self.core.run(self.registry.jobs.update_job, job["id"], state="waiting",
                                    error="resuming after the agent reconnected")

    async def dispatch(self, job: dict, connected) -> None:
        """An offline destination makes the job wait; once it is back the command goes again and
        the agent resumes from the pieces it recorded."""
        if job["dest_host_id"] not in connected:
            if job["state"] == "running":
                await self.core.run(self.registry.jobs.update_job, job["id"], state="waiting",
                                    error=f"{job['destination']} is offline")
            return
        if job["state"] == "waiting":
            detail = await self.core.run(self.registry.jobs.job_detail, job["id"])
            ref = parse_hub_ref(detail.get("ref") or detail["hub_ref"], insecure=detail.get("insecure", False),
                                include=detail.get("include") or ())
            dest = {"id": job["dest_host_id"], "name": job["destination"]}
            try:
                await self._send(dest, job["id"], ref, detail.get("ollama_layout", False))
                await self.core.run(self.registry.jobs.update_job, job["id"], error="")
            except MeshError as exc:
                log.info("hub pull %s not resent yet: %s", job["id"], exc)

    async def _held_version(self, source: str) -> str:
        """NAME:VERSION of a version from ``source`` with a verified copy on an online host, or ''."""
        connected = self.core.hub.connected_ids()
        for version_id in await self.core.run(self.registry.jobs.versions_from_hub, source):
            holders = await self.core.run(self.registry.jobs.transfer_sources, version_id)
            if any(h["host_id"] in connected for h in holders):
                return await self.core.run(self.registry.db.version_ref, version_id)
        return ""

    async def on_progress(self, connection, job: dict, progress: link_pb.JobProgress) -> None:
        fields = {"state": progress.state, "bytes_done": progress.bytes_done, "bytes_total": progress.bytes_total,
                  "bytes_received": progress.bytes_received, "error": progress.error}
        if job["state"] in ("done", "failed", "cancelled"):
            return
        detail = await self.core.run(self.registry.jobs.job_detail, job["id"])
        if progress.state == "done":
            try:
                version_ref, version_id = await self._register(connection, job, detail, progress)
            except MeshError as exc:  # the bytes are verified but could not be registered: say so
                fields.update(state="failed", error=f"registering {progress.copy_path}: {exc}",
                              finished_at=time.time())
            else:
                await self.core.run(self.registry.jobs.set_job_version, job["id"], version_id)
                fields.update(copy_path=progress.copy_path, finished_at=time.time())
                for host in detail.get("fan_out") or []:  # fetched from the hub once; the rest from the mesh
                    try:
                        await self.transfers.pull(version_ref, host)
                    except MeshError as exc:
                        log.warning("fan-out of %s to %s: %s", version_ref, host, exc)
        elif progress.state in ("failed", "cancelled"):
            fields["finished_at"] = time.time()
        await self.core.run(self.registry.jobs.update_job, job["id"], **fields)

    async def _register(self, connection, job: dict, detail: dict,
                        progress: link_pb.JobProgress) -> tuple[str, int]:
        path, digest, record_json = progress.copy_path, progress.source_digest, progress.source_record_json
        reply = await connection.request(link_pb.Command(inspect=link_pb.InspectPath(path=path)), INSPECT_TIMEOUT_S)
        found = wire.to_dict(reply.model)
        ref = parse_hub_ref(detail.get("ref") or detail["hub_ref"])
        spec = {"name": ref.suggested_name(),
                "tags": {"hub.source": detail["hub_ref"], "hub.registry": ref.registry, "hub.digest": digest},
                "notes": f"pulled from {detail['hub_ref']}"}
        record = _record(record_json)
        if record:  # pushed by llmesh: the record its config carried restores name, tags, metrics, lineage
            spec["name"] = record["name"]
            spec["tags"] = {**{k: str(v) for k, v in record.get("tags", {}).items() if not k.startswith("hub.")},
                            **spec["tags"]}
            spec["metrics"] = record.get("metrics") or {}
            if record.get("base_model"):
                spec["base_model"] = record["base_model"]
        elif progress.base_model:  # a Hugging Face card / adapter_config.json names its base
            spec["base_model"] = progress.base_model
        if not found.get("digest"):
            raise FailedPrecondition(f"nothing to register at {path}")
        version_id, _, _ = await self.core.run(self.registry.catalog.register_run, connection.host_id, found, spec,
                                               job["created_by"])
        if ref.kind == "hf":  # lineage from the Hub's metadata, either way round
            await self.core.run(self.registry.catalog.link_hub_base, version_id, spec.get("base_model", ""),
                                progress.base_relation)
        return await self.core.run(self.registry.db.version_ref, version_id), version_id


def _record(text: str) -> dict:
    """A pushed version's record, kept only when its name is a valid mesh name."""
    try:
        record = json.loads(text) if text else {}
        check_name(record.get("name", ""))
        metrics = {str(k): float(v) for k, v in (record.get("metrics") or {}).items()}
    except (ValueError, TypeError, AttributeError, MeshError):
        return {}
    return {**record, "metrics": metrics, "tags": record.get("tags") if isinstance(record.get("tags"), dict) else {}}
