"""What an agent's link does: hello, heartbeats, inventories, job reports, renewals (of its
certificate and of its pulls' tickets), what its Peer service served, goodbye.

Agents report on both kinds of job (pulls and conversions) over their link. The link routes
each report to the service that owns that kind, so the transfer service never needs the
serving service: serving depends on transfers, never the other way round.
"""
from __future__ import annotations

import asyncio
import logging

from llmesh.common.errors import InvalidArgument, MeshError, PermissionDenied
from llmesh.common.hashing import is_digest
from llmesh.common.names import check_host_name
from llmesh.common.protocol import check_protocol, protocol_text
from llmesh.coordinator.core import Core
from llmesh.coordinator.identity import Caller, current_caller
from llmesh.coordinator.link.hub import AgentConnection
from llmesh.coordinator.policy import LINK_METHOD
from llmesh.coordinator.security.service import SecurityService
from llmesh.coordinator.serving.service import ServingService
from llmesh.coordinator.transfer.service import TransferService
from llmesh.v1 import agent_link_pb2 as link_pb

log = logging.getLogger("llmesh.coordinator.link")

PEER_READ_RESULTS = ("ok", "denied", "failed")
MAX_PEER_READS = 1000  # entries in one report


class LinkService:
    def __init__(self, core: Core, security: SecurityService, transfers: TransferService, serving: ServingService):
        self.core = core
        self.registry = core.registry
        self.security = security
        self.transfers = transfers
        self.serving = serving
        self._reports: set[asyncio.Task] = set()  # job reports in progress (kept so they are not collected)
        self._refused: set[tuple[str, str]] = set()  # (agent, refusal) already in the audit log

    async def connect(self, caller_name: str, hello: dict) -> AgentConnection:
        """An agent says hello: record it and open its link in the hub."""
        if caller_name != f"agent:{hello.get('agent_id', '')}":
            raise PermissionDenied("an agent may only speak for the id in its own certificate")
        if not hello.get("agent_id"):
            raise InvalidArgument("agent hello without an agent id")
        try:
            protocol = check_protocol(hello.get("protocol", ""), "agent")
        except MeshError as exc:
            # Such an agent retries for as long as it runs: the audit log gets it once per coordinator run.
            if (caller_name, str(exc)) not in self._refused:
                self._refused.add((caller_name, str(exc)))
                log.warning("agent %s (%s) refused: %s", hello.get("name", ""), hello["agent_id"], exc)
                await self.security.record_refusal(current_caller.get() or Caller(caller_name, "agent", "agent"),
                                                   LINK_METHOD, str(exc))
            raise
        check_host_name(hello.get("name", ""))
        row = await self.core.run(self.registry.hosts.host_hello, dict(hello, protocol=protocol_text(protocol)))
        await self.core.run(self.registry.scrubs.interrupt, row["id"])  # the agent reports its scrub again
        connection = AgentConnection(row["id"], row["name"])
        self.core.hub.attach(connection)
        log.info("agent %s (%s) connected", row["name"], row["id"])
        await self.transfers.hubs.host_back(row["id"])
        self.transfers.wake()  # jobs waiting for this host, or for a source it holds
        return connection

    def disconnect(self, connection: AgentConnection) -> None:
        self.core.hub.detach(connection)
        log.info("agent %s disconnected", connection.name)
        self.transfers.wake()

    async def heartbeat(self, connection: AgentConnection, hardware: dict, scanning: bool) -> None:
        await self.core.run(self.registry.hosts.host_heartbeat, connection.host_id, hardware, scanning)

    async def inventory(self, connection: AgentConnection, scan_id: str, models: list[dict], problems: list[str],
                        complete: bool) -> None:
        """One batch of a scan; a complete scan also tells the registry what is gone."""
        await self.core.run(self.registry.hosts.host_seen, connection.host_id)
        if scan_id != connection.scan_id:
            connection.scan_id, connection.scan_paths = scan_id, set()
        connection.scan_paths.update(m["path"] for m in models)
        seen = set(connection.scan_paths) if complete else None
        result = await self.core.run(self.registry.models.apply_inventory, connection.host_id, models, problems, seen)
        if complete:
            connection.scan_id, connection.scan_paths = "", set()
            log.info("inventory from %s: %d models, %d new copies, %d missing, %d problems",
                     connection.name, len(seen), result["new_copies"], result["missing"], len(problems))

    def job_report(self, connection: AgentConnection, progress: link_pb.JobProgress) -> None:
        """Handled in its own task: finishing a job may ask this same agent something, and the
        answer arrives through the link's read loop, which must not wait for it."""
        task = asyncio.create_task(self._job_report(connection, progress))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def _job_report(self, connection: AgentConnection, progress: link_pb.JobProgress) -> None:
        try:
            job = await self.transfers.reported_job(connection, progress.job_id)
            if job is None:
                return
            if job["kind"] == "convert":
                await self.serving.on_convert_progress(connection, job, progress)
            elif job["kind"] == "hub-pull":
                await self.transfers.hubs.on_progress(connection, job, progress)
            else:
                await self.transfers.on_pull_progress(connection, job, progress)
        except MeshError as exc:
            log.warning("job report from %s refused: %s", connection.name, exc)
        except Exception:
            log.exception("job report from %s failed", connection.name)

    async def scrub_report(self, connection: AgentConnection, report: dict) -> None:
        """How an integrity scrub on the agent goes; its end says what each copy hashes to now."""
        if not report.get("scrub_id") or len(report["scrub_id"]) > 64:
            raise InvalidArgument(f"malformed scrub report from {connection.name}")
        await self.core.run(self.registry.scrubs.report, connection.host_id, connection.name, report)

    async def renew(self, connection: AgentConnection, csr_pem: bytes) -> bytes:
        return await self.security.renew(connection.host_id, csr_pem)

    def revocations(self) -> link_pb.Revocations:
        return self.security.revocations()

    async def renew_ticket(self, connection: AgentConnection, job_id: str) -> str:
        """A fresh ticket for a pull in progress: never for a revoked host."""
        if self.security.agent_revoked(connection.host_id):
            raise PermissionDenied(f"host {connection.name!r} was removed from the mesh")
        return await self.transfers.renew_ticket(connection, job_id)

    async def peer_reads(self, connection: AgentConnection, reads: list[dict]) -> None:
        """What the agent's Peer service served and refused goes to the audit log."""
        if len(reads) > MAX_PEER_READS:
            raise InvalidArgument(f"{len(reads)} peer reads in one report (at most {MAX_PEER_READS})")
        for r in reads:
            if r["result"] not in PEER_READ_RESULTS or r["bytes"] < 0 or r["calls"] < 0:
                raise InvalidArgument(f"malformed peer read report from {connection.name}")
            r["digest"] = r["digest"] if is_digest(r["digest"]) else f"(not a digest: {r['digest'][:80]!r})"
            r["job_id"], r["reader_agent_id"], r["error"] = r["job_id"][:64], r["reader_agent_id"][:64], r["error"][:300]
        await self.core.run(self.registry.security.record_peer_reads, connection.name, reads)
