"""Pull jobs: the coordinator plans, the agents move the bytes.

A job is a row in the registry. A dispatcher sends each queued or waiting job to its
destination agent (with a fresh ticket and the sources online now) whenever the
destination and at least one source are online, so a job survives restarts of either
agent or of the coordinator and resumes from the verified pieces on the destination.
"""
from __future__ import annotations

import asyncio
import logging
import time

from llmesh.common import tickets, wire
from llmesh.common.errors import FailedPrecondition, InvalidArgument, MeshError, NotFound, Unavailable
from llmesh.common.names import parse_ref
from llmesh.common.pieces import PIECE_SIZE
from llmesh.coordinator.auth import caller
from llmesh.coordinator.core import Core
from llmesh.coordinator.link.hub import AgentConnection
from llmesh.v1 import agent_link_pb2 as link_pb

log = logging.getLogger("llmesh.coordinator.transfers")

DISPATCH_EVERY_S = 1.0
TICKET_TTL_S = 6 * 3600.0
FINISHED = ("done", "failed", "cancelled")


class TransferService:
    def __init__(self, core: Core, ca_key, piece_size: int = PIECE_SIZE):
        self.core = core
        self.registry = core.registry
        self.ca_key = ca_key
        self.piece_size = piece_size
        self._dispatcher: asyncio.Task | None = None
        self._wake = asyncio.Event()

    async def start(self) -> None:
        await self.core.run(self.registry.jobs.interrupt_running_jobs)
        self._dispatcher = asyncio.create_task(self._dispatch_forever())

    async def stop(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)

    def wake(self) -> None:
        """Something changed (an agent came back, a job was made): dispatch now."""
        self._wake.set()

    # -- requests -------------------------------------------------------------------------

    async def pull(self, ref_text: str, to: str, source: str = "", dest_dir: str = "") -> dict:
        version_id = await self.core.run(self.registry.versions.resolve, parse_ref(ref_text))
        dest = await self.core.run(self.registry.hosts.host_by_name, to)
        if source:
            await self.core.run(self.registry.hosts.host_by_name, source)
        files = await self.core.run(self.registry.jobs.version_files, version_id)
        holders = [s for s in await self.core.run(self.registry.jobs.transfer_sources, version_id)
                   if not source or s["host"] == source]
        if not holders:
            where = f" on {source}" if source else ""
            raise FailedPrecondition(f"no verified copy of {ref_text}{where} to pull from")
        connected = self.core.hub.connected_ids()
        if dest["id"] not in connected:
            raise Unavailable(f"host {to!r} is offline")
        if not any(h["host_id"] in connected for h in holders):
            raise Unavailable(f"no host holding {ref_text} is online ({', '.join(h['host'] for h in holders)} "
                              "hold verified copies)")
        total = sum({f["digest"]: f["size"] for f in files}.values())
        job_id = await self.core.run(self.registry.jobs.create_job, version_id, dest["id"], source, dest_dir, total,
                                     caller().name)
        self.wake()
        return await self.job(job_id)

    async def job(self, job_id: str) -> dict:
        return await self.core.run(self.registry.jobs.job, job_id)

    async def jobs(self, include_finished: bool) -> list[dict]:
        return await self.core.run(self.registry.jobs.list_jobs, include_finished)

    async def cancel(self, job_id: str) -> dict:
        job = await self.job(job_id)
        if job["state"] in FINISHED:
            raise FailedPrecondition(f"job {job_id} already {job['state']}")
        try:
            connection = self.core.hub.get(job["dest_host_id"], job["destination"])
            await connection.request(link_pb.Command(cancel_job=link_pb.CancelJob(job_id=job_id)), 10)
        except MeshError as exc:
            log.info("could not tell %s to cancel job %s: %s", job["destination"], job_id, exc)
        return await self.core.run(self.registry.jobs.update_job, job_id, state="cancelled",
                                   error="cancelled by " + caller().name)

    async def remove_copy(self, ref_text: str, host: str, force: bool) -> list[str]:
        version_id = await self.core.run(self.registry.versions.resolve, parse_ref(ref_text))
        target = await self.core.run(self.registry.hosts.host_by_name, host)
        copies = await self.core.run(self.registry.jobs.copies_on, version_id, target["id"])
        if not copies:
            raise NotFound(f"{ref_text} has no copy on {host}")
        others = [s for s in await self.core.run(self.registry.jobs.transfer_sources, version_id) if s["host"] != host]
        if not others and not force:
            raise FailedPrecondition(f"{host} holds the last verified copy of {ref_text} in the mesh; "
                                     "pass --force to delete it anyway")
        digest = await self.core.run(self.registry.versions.digest_of, version_id)
        connection = self.core.hub.get(target["id"], host)
        for copy in copies:  # the agent deletes only what its own inventory holds with that digest
            await connection.request(link_pb.Command(remove_copy=link_pb.RemoveCopy(path=copy["path"], digest=digest)),
                                     120)
        return await self.core.run(self.registry.jobs.remove_copies, version_id, target["id"], True)

    # -- progress from agents ---------------------------------------------------------------

    async def reported_job(self, connection: AgentConnection, job_id: str) -> dict | None:
        """The job (a pull or a conversion) an agent reports on; None when it is gone."""
        try:
            job = await self.job(job_id)
        except NotFound:
            return None
        if job["dest_host_id"] != connection.host_id:
            raise InvalidArgument(f"job {job_id} does not run on {connection.name}")
        return job

    async def on_pull_progress(self, connection: AgentConnection, job: dict, progress: link_pb.JobProgress) -> None:
        fields = {"state": progress.state, "bytes_done": progress.bytes_done,
                  "bytes_reused": progress.bytes_reused, "bytes_received": progress.bytes_received,
                  "error": progress.error}
        if progress.drifted_sources:
            await self.core.run(self.registry.jobs.mark_drifted, job["version_id"], list(progress.drifted_sources))
        if progress.state == "done":
            await self.core.run(self.registry.jobs.add_transferred_copy, job["version_id"], connection.host_id,
                                progress.copy_path)
            fields.update(copy_path=progress.copy_path, finished_at=time.time())
        elif progress.state in ("failed", "cancelled"):
            fields["finished_at"] = time.time()
        await self.core.run(self.registry.jobs.update_job, progress.job_id, **fields)
        if progress.state == "waiting":
            self.wake()

    # -- dispatching ------------------------------------------------------------------------

    async def _dispatch_forever(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), DISPATCH_EVERY_S)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:
                await self._dispatch()
            except Exception:  # the dispatcher must outlive any one bad job
                log.exception("dispatching jobs failed")

    async def _dispatch(self) -> None:
        connected = self.core.hub.connected_ids()
        for job in await self.core.run(self.registry.jobs.active_jobs):
            if job["kind"] != "pull":
                continue  # conversions report back by themselves
            if job["state"] == "running" and job["dest_host_id"] in connected:
                continue
            if job["dest_host_id"] not in connected:
                if job["state"] == "running":
                    await self.core.run(self.registry.jobs.update_job, job["id"], state="waiting",
                                        error=f"{job['destination']} is offline")
                continue
            await self._send(job, connected)

    async def _send(self, job: dict, connected: frozenset[str]) -> None:
        verified = await self.core.run(self.registry.jobs.transfer_sources, job["version_id"])
        holders = [s for s in verified
                   if s["host_id"] in connected and s["host_id"] != job["dest_host_id"] and s["peer_address"]
                   and (not job["source_host"] or s["host"] == job["source_host"])]
        dest_holds = any(s["host_id"] == job["dest_host_id"] for s in verified)
        if not holders and not dest_holds:
            if job["state"] == "queued" or job["error"] != "waiting for an online source":
                await self.core.run(self.registry.jobs.update_job, job["id"], state="waiting",
                                    error="waiting for an online source")
            return
        files = await self.core.run(self.registry.jobs.version_files, job["version_id"])
        ref = job["ref"]
        name, version = ref.rsplit(":", 1)
        ticket = tickets.issue_ticket(self.ca_key, job["id"], job["dest_host_id"], [f["digest"] for f in files],
                                      TICKET_TTL_S)
        transfer = wire.to_message(link_pb.Transfer, {
            "job_id": job["id"], "name": name, "version": int(version), "files": files,
            "sources": [{"host_id": s["host_id"], "host": s["host"], "peer_address": s["peer_address"]}
                        for s in holders],
            "ticket": ticket, "piece_size": self.piece_size, "dest_dir": job["dest_dir"]})
        try:
            connection = self.core.hub.get(job["dest_host_id"], job["destination"])
            await connection.request(link_pb.Command(transfer=transfer), 10)
        except MeshError as exc:
            log.warning("could not start job %s on %s: %s", job["id"], job["destination"], exc)
            return
        await self.core.run(self.registry.jobs.update_job, job["id"], state="running", error="",
                            started_at=job["started_at"] or time.time(),
                            detail={"sources": [s["host"] for s in holders]})

