"""Pull jobs: the coordinator plans, the agents move the bytes.

A job is a row in the registry. A dispatcher sends each queued or waiting job to its
destination agent (with a fresh ticket and the sources online now) whenever the
destination and at least one source are online, so a job survives restarts of either
agent or of the coordinator and resumes from the verified pieces on the destination.

A source whose pieces keep failing verification is reported by the destination; its copy
is re-hashed (marked drifted if its bytes changed) and the source is dropped from the job.
A job with no good source left anywhere fails, naming the copies that went bad. A job that
ends cancelled or failed here has its destination delete its partial blobs, now or as soon
as it is back online.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator

from llmesh.common import tickets, wire
from llmesh.common.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    MeshError,
    NotFound,
    Unavailable,
)
from llmesh.common.names import parse_ref
from llmesh.common.pieces import PIECE_SIZE
from llmesh.common.refs import looks_like_hub_ref
from llmesh.coordinator.auth import caller
from llmesh.coordinator.core import INSPECT_TIMEOUT_S, Core
from llmesh.coordinator.link.hub import AgentConnection
from llmesh.coordinator.transfer.hubs import HubPulls
from llmesh.coordinator.transfer.watch import JobWatches
from llmesh.v1 import agent_link_pb2 as link_pb

log = logging.getLogger("llmesh.coordinator.transfers")

DISPATCH_EVERY_S = 1.0
FINISHED = ("done", "failed", "cancelled")
AGENT_ANSWER_S = 10.0
# A dropped source without a reason yet: its copy is being re-verified.
REVERIFYING = ""


class TransferService:
    def __init__(self, core: Core, ca_key, piece_size: int = PIECE_SIZE, ticket_ttl_s: float = tickets.TICKET_TTL_S):
        self.core = core
        self.registry = core.registry
        self.ca_key = ca_key
        self.piece_size = piece_size
        self.ticket_ttl_s = ticket_ttl_s  # short: destinations renew for long pulls (renew_ticket)
        self._dispatcher: asyncio.Task | None = None
        self._wake = asyncio.Event()
        # (job id, source host) -> its re-verification (None while it is being started)
        self._verifying: dict[tuple[str, str], asyncio.Task | None] = {}
        self._dropping: dict[str, asyncio.Task] = {}
        self.watches = JobWatches()
        self.registry.jobs.on_change = self.watches.changed
        self.hubs = HubPulls(core, self, piece_size)  # hub pulls: pieces of the same size  # job id -> telling its destination to drop partials

    async def start(self) -> None:
        self.watches.bind(asyncio.get_running_loop())
        await self.core.run(self.registry.jobs.interrupt_running_jobs)
        self._dispatcher = asyncio.create_task(self._dispatch_forever())

    async def stop(self) -> None:
        self.watches.close()
        tasks = [t for t in [self._dispatcher, *self._verifying.values(), *self._dropping.values()] if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def wake(self) -> None:
        """Something changed (an agent came back, a job was made): dispatch now."""
        self._wake.set()

    # -- requests -------------------------------------------------------------------------

    async def pull(self, ref_text: str, to: str, source: str = "", dest_dir: str = "", rate_limit: int = 0, *,
                   registry: str = "", insecure: bool = False, ollama_layout: bool = False, include=()) -> dict:
        """A job moving a version to ``to``; or, for h1,h2,h3 or label=KEY[=VALUE], a fan-out: one
        job per destination, all of one swarm (the first job is returned; the others share its swarm).
        A hub ref (or any ref with ``registry``) is pulled from the hub by the hosts' agents."""
        if looks_like_hub_ref(ref_text) or registry:
            if source or dest_dir:
                raise InvalidArgument("--from and --dest are for mesh pulls; a hub pull comes from the hub")
            return await self.hubs.pull(ref_text, to, registry=registry, insecure=insecure,
                                        ollama_layout=ollama_layout, include=include)
        if rate_limit < 0:
            raise InvalidArgument(f"rate limit {rate_limit}: must not be negative")
        targets = await self._destinations(to)
        checked = [await self._checked_pull(ref_text, host, source, dest_dir) for host in targets]
        swarm = "" if len(targets) == 1 and not to.startswith("label=") else uuid.uuid4().hex[:12]
        # All jobs of a fan-out exist before the dispatcher sees any: each learns of the others.
        job_ids = await self.core.run(self.registry.jobs.create_jobs, [
            (version_id, dest_id, source, dest_dir, total, caller().name, rate_limit, swarm)
            for version_id, dest_id, total in checked])
        self.wake()
        return await self.job(job_ids[0])

    async def _destinations(self, to: str) -> list[str]:
        if not to.startswith("label="):
            names = [n.strip() for n in to.split(",") if n.strip()]
            if not names or len(set(names)) != len(names):
                raise InvalidArgument(f"--to {to!r}: expected a host, or distinct hosts separated by commas")
            return names
        key, _, value = to[len("label="):].partition("=")
        hosts = await self.core.run(self.registry.hosts.list_hosts, self.core.hub.connected_ids())
        names = sorted(h["name"] for h in hosts if key in h["labels"] and (not value or h["labels"][key] == value))
        if not names:
            raise FailedPrecondition(f"no host has the label {to[len('label='):]!r}")
        return names

    async def _checked_pull(self, ref_text: str, to: str, source: str, dest_dir: str) -> tuple[int, str, int]:
        """(version id, destination host id, bytes) of a pull that may go ahead; else why not."""
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
        await self._check_destination(dest, version_id, files, dest_dir)
        total = sum({f["digest"]: f["size"] for f in files}.values())
        return version_id, dest["id"], total

    async def job(self, job_id: str) -> dict:
        return await self.core.run(self.registry.jobs.job, job_id)

    def watch(self, job_ids: list[str]) -> AsyncIterator[dict]:
        """Each job now, then whenever it changes, until every one has finished (see watch.py)."""
        return self.watches.follow(job_ids, self.job)

    async def jobs(self, include_finished: bool) -> list[dict]:
        return await self.core.run(self.registry.jobs.list_jobs, include_finished)

    async def _check_destination(self, dest: dict, version_id: int, files: list[dict], dest_dir: str) -> None:
        """The destination says now, before a job exists, whether it can take the files: room
        on its disks, a --dest under its roots and not there yet."""
        name, version = (await self.core.run(self.registry.db.version_ref, version_id)).rsplit(":", 1)
        check = wire.to_message(link_pb.CheckPull, {"name": name, "version": int(version), "files": files,
                                                    "dest_dir": dest_dir})
        connection = self.core.hub.get(dest["id"], dest["name"])
        await connection.request(link_pb.Command(check_pull=check), AGENT_ANSWER_S)

    async def cancel(self, job_id: str) -> dict:
        job = await self.job(job_id)
        if job["state"] in FINISHED:
            raise FailedPrecondition(f"job {job_id} already {job['state']}")
        job = await self.core.run(self.registry.jobs.finish_job, job_id, "cancelled",
                                  "cancelled by " + caller().name, True)
        await self._drop_partials(job)  # now if the destination answers, else when it is back
        return await self.job(job_id)

    def _drop_partials(self, job: dict) -> asyncio.Task:
        """Tell a finished job's destination to stop it and delete its partials (once at a time)."""
        task = self._dropping.get(job["id"])
        if task is None:
            task = self._dropping[job["id"]] = asyncio.create_task(self._tell_to_drop_partials(job))
            task.add_done_callback(lambda _: self._dropping.pop(job["id"], None))
        return task

    async def _tell_to_drop_partials(self, job: dict) -> None:
        digests = await self.core.run(self.registry.jobs.digests_to_drop, job["id"])
        try:
            connection = self.core.hub.get(job["dest_host_id"], job["destination"])
            await connection.request(link_pb.Command(cancel_job=link_pb.CancelJob(
                job_id=job["id"], digests=digests)), AGENT_ANSWER_S)
        except (Unavailable, DeadlineExceeded) as exc:
            log.info("%s will drop the partials of job %s when it answers: %s", job["destination"], job["id"], exc)
            return
        except MeshError as exc:  # it answered: asking again would get the same answer
            log.warning("%s could not drop the partials of job %s: %s", job["destination"], job["id"], exc)
        await self.core.run(self.registry.jobs.partials_dropped, job["id"])

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
                  "error": progress.error,
                  "source_rates": [{"host": s.host, "bytes_verified": s.bytes_verified,
                                    "bytes_per_s": 0.0 if progress.state != "running" else s.bytes_per_s}
                                   for s in progress.sources]}
        dropped = job["dropped_sources"]
        for host in progress.drifted_sources:  # its own piece index no longer matches the digest
            if host not in dropped:
                await self._drop_drifted_source(job, host)
        for host in progress.suspect_sources:  # its pieces kept failing: re-hash its copy
            if host not in dropped:
                await self._reverify_source(job, host)
        if progress.state == "done":
            await self.core.run(self.registry.jobs.add_transferred_copy, job["version_id"], connection.host_id,
                                progress.copy_path)
            fields.update(copy_path=progress.copy_path, finished_at=time.time())
        elif progress.state in ("failed", "cancelled"):
            fields["finished_at"] = time.time()
        await self.core.run(self.registry.jobs.update_job, progress.job_id, **fields)
        if progress.state == "waiting":
            self.wake()

    async def renew_ticket(self, connection: AgentConnection, job_id: str) -> str:
        """A fresh ticket for a pull the asking agent is running; none once the job has ended."""
        job = await self.reported_job(connection, job_id)
        if job is None:
            raise NotFound(f"unknown job {job_id}")
        if job["kind"] != "pull":
            raise InvalidArgument(f"job {job_id} is not a pull")
        if job["state"] in FINISHED:
            raise FailedPrecondition(f"job {job_id} is {job['state']}: no new ticket")
        return await self._ticket(job)

    async def _ticket(self, job: dict) -> str:
        files = await self.core.run(self.registry.jobs.version_files, job["version_id"], self.piece_size)
        return tickets.issue_ticket(self.ca_key, job["id"], job["dest_host_id"], [f["digest"] for f in files],
                                    self.ticket_ttl_s, piece_size=self.piece_size,
                                    piece_indexes={f["digest"]: f["piece_index_id"] for f in files
                                                   if f["piece_index_id"]})

    # -- sources that went bad ----------------------------------------------------------------

    async def _drop_drifted_source(self, job: dict, host: str) -> None:
        info = await self.core.run(self.registry.jobs.copies_of_source, job["version_id"], host)
        await self.core.run(self.registry.jobs.mark_drifted, job["version_id"], [host])
        reason = "; ".join(_drifted(host, c["path"], info["ref"]) for c in info["copies"]) or \
            f"{host}'s copy of {info['ref']} has drifted: its bytes no longer match"
        await self.core.run(self.registry.jobs.drop_source, job["id"], host, reason)

    async def _reverify_source(self, job: dict, host: str) -> None:
        """Drop the source from the job now; re-hash its copy (no hash cache) in the background."""
        key = (job["id"], host)
        if key in self._verifying:
            return
        self._verifying[key] = None  # claimed before the first await: one re-verification at a time
        try:
            # Recorded before the job's state: the dispatcher must not send it to this source again.
            await self.core.run(self.registry.jobs.drop_source, job["id"], host, REVERIFYING)
        except BaseException:
            self._verifying.pop(key, None)
            raise
        self._verifying[key] = asyncio.create_task(self._reverify(job["id"], job["version_id"], host))

    async def _reverify(self, job_id: str, version_id: int, host: str) -> None:
        try:
            reason = await self._reverified_reason(version_id, host)
        except Exception as exc:  # the source stays dropped, with a reason
            log.exception("re-verifying %s for job %s failed", host, job_id)
            reason = f"{host} could not be re-verified: {exc}"
        try:
            await self.core.run(self.registry.jobs.drop_source, job_id, host, reason)
        finally:
            self._verifying.pop((job_id, host), None)
            self.wake()

    async def _reverified_reason(self, version_id: int, host: str) -> str:
        info = await self.core.run(self.registry.jobs.copies_of_source, version_id, host)
        reasons = []
        for copy in info["copies"]:
            try:
                connection = self.core.hub.get(copy["host_id"], host)
                reply = await connection.request(
                    link_pb.Command(verify=link_pb.VerifyCopy(path=copy["path"])), INSPECT_TIMEOUT_S)
            except MeshError as exc:
                reasons.append(f"{host}:{copy['path']} could not be re-verified ({exc})")
                continue
            if reply.model.digest != info["digest"]:
                await self.core.run(self.registry.jobs.mark_copy_drifted, copy["id"], host, copy["path"])
                reasons.append(_drifted(host, copy["path"], info["ref"]))
            else:
                reasons.append(f"pieces from {host}:{copy['path']} kept failing verification "
                               "although that copy verifies")
        log.warning("re-verified %s for %s: %s", host, info["ref"], "; ".join(reasons) or "no verified copy")
        return "; ".join(reasons) or f"{host} holds no verified copy of {info['ref']} any more"

    # -- dispatching ------------------------------------------------------------------------

    async def _swarm(self, job: dict, connected: frozenset[str]) -> dict:
        """A fan-out's other destinations that still receive, as sources of this one (they serve
        what they have verified), and this destination's rank among all of them."""
        if not job["swarm"]:
            return {"peers": [], "rank": 0, "size": 0}
        members = [m for m in await self.core.run(self.registry.jobs.swarm_members, job["swarm"])
                   if m["id"] == job["id"] or (m["state"] in ("queued", "running", "waiting")
                                               and m["host_id"] in connected and m["peer_address"])]
        # In rank order: the destination makes the ranks of its peers from it.
        peers = [{"host_id": m["host_id"], "host": m["host"], "peer_address": m["peer_address"], "swarm": True}
                 for m in members if m["id"] != job["id"]]
        return {"peers": peers, "rank": [m["id"] for m in members].index(job["id"]), "size": len(members)}

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
        for job in await self.core.run(self.registry.jobs.jobs_with_partials_pending):
            if job["dest_host_id"] in connected:
                self._drop_partials(job)
        for job in await self.core.run(self.registry.jobs.active_jobs):
            if job["kind"] == "hub-pull":
                await self.hubs.dispatch(job, connected)
                continue
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
        dropped = job["dropped_sources"]
        checking = [host for host, reason in dropped.items() if reason == REVERIFYING]
        if checking:
            for host in checking:
                await self._reverify_source(job, host)  # none running: the coordinator restarted meanwhile
            error = f"re-verifying the copy on {', '.join(checking)}: its pieces kept failing verification"
            if job["state"] != "waiting" or job["error"] != error:
                await self.core.run(self.registry.jobs.update_job, job["id"], state="waiting", error=error)
            return
        verified = await self.core.run(self.registry.jobs.transfer_sources, job["version_id"])
        candidates = [s for s in verified if s["host_id"] != job["dest_host_id"] and s["host"] not in dropped
                      and (not job["source_host"] or s["host"] == job["source_host"])]
        holders = [s for s in candidates if s["host_id"] in connected and s["peer_address"]]
        dest_holds = any(s["host_id"] == job["dest_host_id"] for s in verified)
        if not candidates and not dest_holds:
            await self._fail_without_source(job)
            return
        if not holders and not dest_holds:
            if job["state"] == "queued" or job["error"] != "waiting for an online source":
                await self.core.run(self.registry.jobs.update_job, job["id"], state="waiting",
                                    error="waiting for an online source")
            return
        files = await self.core.run(self.registry.jobs.version_files, job["version_id"], self.piece_size)
        swarm = await self._swarm(job, connected)
        ref = job["ref"]
        name, version = ref.rsplit(":", 1)
        ticket = await self._ticket(job)
        transfer = wire.to_message(link_pb.Transfer, {
            "job_id": job["id"], "name": name, "version": int(version), "files": files,
            "sources": [{"host_id": s["host_id"], "host": s["host"], "peer_address": s["peer_address"]}
                        for s in holders] + swarm["peers"],
            "swarm_rank": swarm["rank"], "swarm_size": swarm["size"],
            "ticket": ticket, "piece_size": self.piece_size, "dest_dir": job["dest_dir"],
            "rate_limit": job["rate_limit"]})
        try:
            connection = self.core.hub.get(job["dest_host_id"], job["destination"])
            await connection.request(link_pb.Command(transfer=transfer), 10)
        except MeshError as exc:
            log.warning("could not start job %s on %s: %s", job["id"], job["destination"], exc)
            return
        await self.core.run(self.registry.jobs.update_job, job["id"], state="running", error="",
                            started_at=job["started_at"] or time.time(),
                            detail={"sources": [s["host"] for s in holders]})


    async def _fail_without_source(self, job: dict) -> None:
        """No verified copy is left anywhere, online or not, but the bad ones: waiting would be forever."""
        bad = "; ".join(reason for reason in job["dropped_sources"].values() if reason)
        where = f" on {job['source_host']}" if job["source_host"] else ""
        error = (f"no good source left for {job['ref']}: {bad}" if bad
                 else f"no verified copy of {job['ref']}{where} is left in the mesh")
        log.warning("job %s failed: %s", job["id"], error)
        await self.core.run(self.registry.jobs.finish_job, job["id"], "failed", error, True)
        self.wake()  # its destination drops the partials at the next round


def _drifted(host: str, path: str, ref: str) -> str:
    return f"{host}:{path} has drifted: its bytes no longer match {ref}"
