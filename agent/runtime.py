"""The agent process: one link to the coordinator, heartbeats, background scans,
commands, and the Peer service other agents dial.

AgentRuntime builds the agent's parts and hands each the narrow things it uses (the store, the
holdings, a path check, a directory, a report callback), never itself."""
from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import logging
import os
import random
import uuid

import grpc
import psutil

from llmesh import __version__
from llmesh.agent import hardware
from llmesh.agent.convert.jobs import ConversionJobs
from llmesh.agent.credentials import AgentCredentials, renewal_due
from llmesh.agent.hubs.jobs import HubJobs, default_ollama_models_dir
from llmesh.agent.identity import load_or_create_identity
from llmesh.agent.inventory.hash_cache import HashCache
from llmesh.agent.inventory.holdings import Holdings
from llmesh.agent.inventory.scanner import Scanner, ScanResult
from llmesh.agent.inventory.scrub import Scrubber
from llmesh.agent.serving.deployments import Deployments
from llmesh.agent.serving.ollama import OllamaClient
from llmesh.agent.store.blobs import BlobStore
from llmesh.agent.testing import PeerFaults, ReceiveFaults, TicketLog
from llmesh.agent.transfer.blob_server import BlobServer
from llmesh.agent.transfer.peer import PeerServicer
from llmesh.agent.transfer.peer_reads import PeerReadLog
from llmesh.agent.transfer.pull import JobRunner
from llmesh.agent.transfer.revocations import Revocations
from llmesh.common import channels, wire
from llmesh.common.config import AgentConfig
from llmesh.common.errors import DeadlineExceeded, Internal, MeshError, Unavailable, error_for_code, from_rpc_error
from llmesh.common.files import atomic_write
from llmesh.common.health import Health
from llmesh.common.pieces import PIECE_SIZE, PIECE_SIZES
from llmesh.common.protocol import PROTOCOL_TEXT
from llmesh.common.ratelimit import Schedule, TokenBucket
from llmesh.v1 import agent_link_pb2 as link_pb
from llmesh.v1 import agent_link_pb2_grpc as link_grpc
from llmesh.v1 import common_pb2, peer_pb2, peer_pb2_grpc

log = logging.getLogger("llmesh.agent")

INVENTORY_BATCH = 100
PEER_READS_EVERY_S = 1.0  # how often what the Peer service served goes to the coordinator's audit log
PEER_READS_BATCH = 500
TICKET_REQUEST_TIMEOUT_S = 30.0
OLLAMA_PS_TIMEOUT_S = 2.0  # a heartbeat never waits long for a slow or absent Ollama
# The coordinator refused us for a reason retrying will not fix.
FATAL_CODES = {grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.INVALID_ARGUMENT,
               grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED}


class AgentRefused(MeshError):
    code = "FAILED_PRECONDITION"


class AgentRuntime:
    def __init__(self, config: AgentConfig, reconnect_max_s: float = 30.0,
                 faults: PeerFaults | None = None, receive_faults: ReceiveFaults | None = None,
                 ticket_log: TicketLog | None = None, protocol: str = PROTOCOL_TEXT):
        self.config = config
        self.reconnect_max_s = reconnect_max_s
        self.faults = faults  # the test harness's (llmesh.agent.testing); None in production
        self.ticket_log = ticket_log  # likewise
        self.protocol = protocol  # the wire protocol announced; only the test harness claims another
        self.started_at = psutil.Process().create_time()  # `meshctl hosts` shows the uptime
        config.home.mkdir(parents=True, exist_ok=True)
        self.agent_record = load_or_create_identity(config.home)  # the stable id
        self.facts = hardware.host_facts()
        self.gpu_probe = hardware.GpuProbe(self.facts)
        self.cache = HashCache(str(config.home / "hash-cache.db"))
        self.store = BlobStore(config.home / "store")
        # What transfers materialise in the store is scanned like any root.
        roots = list(config.roots) + [str(self.store.models_dir)]
        # Scans index files at the coordinator's piece size (its welcome says it; kept for restarts).
        self.piece_size_file = config.home / "piece-size"
        self.scanner = Scanner(roots, self.cache, hash_workers=config.hash_workers,
                               piece_size=_read_piece_size(self.piece_size_file))
        self.holdings = Holdings(self.store, roots, self.cache)
        # Bandwidth limits: one bucket for everything served to peers, one for everything pulled.
        self.upload_limit = TokenBucket(Schedule(config.max_upload_rate, config.quiet_hours).rate)
        self.download_limit = TokenBucket(Schedule(config.max_download_rate, config.quiet_hours).rate)
        self.jobs = JobRunner(self.store, self.holdings, lambda: self.identity, self._report_job,
                              renew_ticket=self._request_ticket, faults=receive_faults,
                              download_limit=self.download_limit)
        self.revocations = Revocations()  # from the coordinator's welcome, then each host removal
        self.peer_reads = PeerReadLog()
        self._ticket_requests: dict[str, asyncio.Future] = {}
        self._ticket_request_ids = itertools.count(1)
        self.conversions = ConversionJobs(self.holdings.check_under_roots, self.store.models_dir / "converted",
                                          self._report_job)
        self.hub_jobs = HubJobs(self.store, default_ollama_models_dir(os.environ), self._report_job,
                                self.holdings.locate, config.home)
        self.deployments = Deployments(self.holdings.check_under_roots, config.home / "serving",
                                       ollama_url=config.ollama_url,
                                       llama_server_binary=config.llama_server_binary)
        self.inventory: ScanResult | None = None
        self.scrubber = Scrubber(self.scanner.inspect, lambda: self.inventory and self.inventory.models,
                                 self._report_scrub, config.home, config.scrub_interval_s,
                                 config.scrub_rate_bytes_s, config.scrub_share)
        self.scanning = False
        self.peer_address = ""
        self.credentials = AgentCredentials(config.home)
        self.identity = self.credentials.load()
        self._renewal_key: bytes | None = None
        self.connected = asyncio.Event()
        self._scan_requested = asyncio.Event()
        self._stopping = asyncio.Event()
        self._outbox: asyncio.Queue | None = None
        self._call = None
        self._peer_server = None
        self._blob_server: BlobServer | None = None
        self._peer_health: Health | None = None

    @property
    def agent_id(self) -> str:
        return self.agent_record["id"]

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until stop(); raises AgentRefused if the coordinator will never accept us."""
        await self._ensure_identity()
        await self._start_peer_server()
        scans = asyncio.create_task(self._scan_loop())
        scrubs = asyncio.create_task(self.scrubber.schedule())
        try:
            await self._link_loop()
        finally:
            scrubs.cancel()
            await self.scrubber.stop()
            if self._peer_health is not None:
                await self._peer_health.shut_down()  # NOT_SERVING before anything stops
            self._stopping.set()
            self.scanner.cancel()
            scans.cancel()
            await self.jobs.stop()
            self.conversions.cancel_all()
            await self.deployments.shutdown()  # no orphan servers
            await asyncio.gather(scans, return_exceptions=True)
            if self._peer_server is not None:
                await self._peer_server.stop(1.0)
            if self._blob_server is not None:
                await asyncio.to_thread(self._blob_server.stop)
            self.gpu_probe.close()
            self.cache.close()

    def stop(self) -> None:
        self._stopping.set()
        self.scrubber.stopping.set()
        self.scanner.cancel()
        if self._call is not None:
            self._call.cancel()

    async def _ensure_identity(self) -> None:
        if self.identity is not None:
            return
        if not self.config.join_token:
            raise AgentRefused("this agent has not joined a mesh yet: pass --token with a join token "
                               "from `meshctl token create --role agent`")
        self.identity = await asyncio.to_thread(self.credentials.join, self.config.coordinator,
                                                self.config.join_token, self.agent_id, self.config.name)
        log.info("joined the mesh at %s", self.config.coordinator)

    async def _start_peer_server(self) -> None:
        server = channels.aio_server()
        if self.faults is not None:
            log.warning("test fault hooks are active: %s", self.faults.describe())
        peer = PeerServicer(
            agent_id=self.agent_id, name=self.config.name, platform=self.facts.platform,
            ca_pem=lambda: self.identity.ca_pem, index_dir=self.config.home / "piece-indexes",
            open_held=self.faults.open_held(self.holdings.open_held) if self.faults else self.holdings.open_held,
            revocations=self.revocations, reads=self.peer_reads,
            faults=self.faults, upload_limit=self.upload_limit, cached_index=self.cache.get_index,
            receiving=self.store.receiving)
        peer_pb2_grpc.add_PeerServicer_to_server(peer, server)
        # Health on the Peer port (mutual TLS: a checker presents a mesh certificate).
        self._peer_health = Health(server, [peer_pb2.DESCRIPTOR.services_by_name["Peer"].full_name])
        bound = channels.bind_renewable(server, self.config.listen, lambda: self.identity)
        await server.start()
        await self._peer_health.serving()
        self._peer_server = server
        self.peer_address = self.config.advertise or bound
        # Blob bodies: a mutual-TLS socket on the same host, same certificates, same checks.
        if not (self.faults and self.faults.no_blob_socket):
            self._blob_server = BlobServer(peer, lambda: self.identity)
            try:
                peer.blob_port = await asyncio.to_thread(
                    self._blob_server.start, bound.rpartition(":")[0].strip("[]"), self.config.blob_port)
            except BaseException:  # e.g. a fixed --blob-port taken: stop the Peer port too, then say why
                self._blob_server = None
                await server.stop(None)
                self._peer_server = None
                raise
        log.info("agent %s serving peers on %s (blob socket port %d)", self.config.name, bound, peer.blob_port)

    def _use_piece_size(self, piece_size: int) -> None:
        """Index files at the coordinator's piece size from now on (the next scan re-hashes a file
        whose index is at another size, once)."""
        if piece_size and piece_size != self.scanner.piece_size:
            self.scanner.piece_size = piece_size
            try:
                atomic_write(self.piece_size_file, str(piece_size))
            except OSError as exc:
                log.warning("could not save the piece size: %s", exc)

    # -- the link -------------------------------------------------------------------------

    async def _link_loop(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            try:
                if await self._run_link():
                    attempt = 0
            except grpc.aio.AioRpcError as exc:
                if exc.code() in FATAL_CODES:
                    raise AgentRefused(f"coordinator refused this agent: {exc.details()}") from None
                if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                    # Another protocol major: retried slowly, so upgrading the coordinator (or this
                    # agent, which restarts it) is all it takes.
                    log.error("coordinator %s refused this agent: %s", self.config.coordinator, exc.details())
                    attempt = max(attempt, 64)
                elif exc.code() != grpc.StatusCode.CANCELLED or not self._stopping.is_set():
                    log.warning("link to coordinator %s lost: %s", self.config.coordinator,
                                from_rpc_error(exc))
            if self._stopping.is_set():
                return
            delay = self._backoff(attempt)
            attempt += 1
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
            except asyncio.TimeoutError:
                pass

    def _backoff(self, attempt: int) -> float:
        """Exponential with full jitter, so a restarted coordinator is not hit by every agent at once."""
        ceiling = min(self.reconnect_max_s, 0.25 * 2 ** min(attempt, 32))  # 2**1024 overflows a float
        return random.uniform(ceiling / 2, ceiling)

    async def _run_link(self) -> bool:
        """One link's life. Returns True if it was established (to reset the backoff)."""
        outbox: asyncio.Queue = asyncio.Queue()
        outbox.put_nowait(link_pb.AgentMessage(hello=self._hello()))

        async def outgoing():
            while True:
                message = await outbox.get()
                if message is None:
                    return
                yield message

        established = False
        link_address = self.credentials.link_address()
        async with channels.aio_client_channel(link_address, self.identity.ca_pem, identity=self.identity,
                                               protocol=self.protocol) as channel:
            call = link_grpc.AgentLinkStub(channel).Link(outgoing())
            self._call = call
            beats = reads = None
            try:
                first = await call.read()
                if first is grpc.aio.EOF or first.WhichOneof("body") != "welcome":
                    return False
                established = True
                revoked = first.welcome.revoked
                self._use_piece_size(first.welcome.piece_size)
                self.revocations.replace(revoked.serials, revoked.agent_ids)
                self._outbox = outbox
                self.connected.set()
                log.info("linked to coordinator %s as %s", link_address, self.config.name)
                beats = asyncio.create_task(self._heartbeats(outbox))
                reads = asyncio.create_task(self._report_peer_reads(outbox))
                if self.inventory is not None:
                    self._queue_inventory(self.inventory)
                for report in self.jobs.reports():  # what the coordinator may have missed
                    outbox.put_nowait(link_pb.AgentMessage(job=report))
                self.scrubber.report_again()
                self._scan_requested.set()  # the coordinator may have missed changes while we were apart
                while (message := await call.read()) is not grpc.aio.EOF:
                    kind = message.WhichOneof("body")
                    if kind == "command":
                        asyncio.create_task(self._handle(message.command, outbox))
                    elif kind == "certificate":
                        self._renewed(message.certificate)
                    elif kind == "ticket":
                        self._ticket_granted(message.ticket)
            finally:
                self.connected.clear()
                self._outbox = None
                self._call = None
                for task in (beats, reads):
                    if task is not None:
                        task.cancel()
                for future in self._ticket_requests.values():
                    if not future.done():
                        future.set_exception(Unavailable("the link to the coordinator was lost"))
                outbox.put_nowait(None)
        return established

    def _hello(self) -> link_pb.Hello:
        return wire.to_message(link_pb.Hello, {
            "agent_id": self.agent_id, "name": self.config.name,
            "facts": dataclasses.asdict(self.facts), "roots": list(self.config.roots),
            "peer_address": self.peer_address, "agent_version": __version__,
            "heartbeat_interval_s": self.config.heartbeat_interval_s,
            "labels": dict(self.config.labels), "protocol": self.protocol, "started_at": self.started_at,
        })

    async def _heartbeats(self, outbox: asyncio.Queue) -> None:
        while True:
            self._renew_if_due(outbox)
            snapshot = await self._snapshot()
            outbox.put_nowait(link_pb.AgentMessage(heartbeat=link_pb.Heartbeat(
                hardware=snapshot, scanning=self.scanning)))
            await asyncio.sleep(self.config.heartbeat_interval_s)

    async def _snapshot(self) -> common_pb2.HardwareSnapshot:
        snap = await asyncio.to_thread(hardware.snapshot, list(self.config.roots), self.gpu_probe)
        message = wire.to_message(common_pb2.HardwareSnapshot, dataclasses.asdict(snap))
        loaded = await asyncio.to_thread(self._ollama_loaded)
        if loaded is not None:
            message.ollama_reachable = True
            message.ollama_loaded.extend(wire.to_message(common_pb2.OllamaLoaded, m) for m in loaded)
        return message

    def _ollama_loaded(self) -> list[dict] | None:
        """What this host's Ollama has loaded (None when there is no Ollama to ask)."""
        if not self.config.ollama_url:
            return None
        try:
            return OllamaClient(self.config.ollama_url, timeout_s=OLLAMA_PS_TIMEOUT_S).loaded()
        except (MeshError, ValueError):
            return None

    def _report_scrub(self, report: dict) -> None:
        if self._outbox is not None:  # a report missed while apart is superseded by the next one
            self._outbox.put_nowait(link_pb.AgentMessage(scrub=wire.to_message(link_pb.ScrubReport, report)))

    def _report_job(self, progress: link_pb.JobProgress) -> None:
        if self._outbox is not None:
            self._outbox.put_nowait(link_pb.AgentMessage(job=progress))

    async def _report_peer_reads(self, outbox: asyncio.Queue) -> None:
        """While linked: what the Peer service served and refused, for the audit log."""
        while True:
            await asyncio.sleep(PEER_READS_EVERY_S)
            reads = self.peer_reads.take_due()
            for i in range(0, len(reads), PEER_READS_BATCH):
                outbox.put_nowait(link_pb.AgentMessage(peer_reads=link_pb.PeerReads(
                    reads=reads[i:i + PEER_READS_BATCH])))

    # -- transfer tickets -----------------------------------------------------------------

    async def _request_ticket(self, job_id: str) -> str:
        """A fresh ticket for a pull in progress, asked of the coordinator over the link."""
        outbox = self._outbox
        if outbox is None:
            raise Unavailable("not linked to the coordinator")
        request_id = f"t{next(self._ticket_request_ids)}"
        future = asyncio.get_running_loop().create_future()
        self._ticket_requests[request_id] = future
        outbox.put_nowait(link_pb.AgentMessage(ticket_request=link_pb.TicketRequest(
            request_id=request_id, job_id=job_id)))
        try:
            grant = await asyncio.wait_for(future, TICKET_REQUEST_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise DeadlineExceeded("the coordinator did not answer a ticket request in time") from None
        finally:
            self._ticket_requests.pop(request_id, None)
        if grant.error_code:
            raise error_for_code(grant.error_code, grant.error_message)
        self._ticket_received(job_id, grant.ticket)
        return grant.ticket

    def _ticket_granted(self, grant: link_pb.TicketGrant) -> None:
        future = self._ticket_requests.get(grant.request_id)
        if future is not None and not future.done():
            future.set_result(grant)

    def _ticket_received(self, job_id: str, ticket: str) -> None:
        if self.ticket_log is not None:
            self.ticket_log.received(job_id, ticket)

    # -- certificate renewal --------------------------------------------------------------

    def _renew_if_due(self, outbox: asyncio.Queue) -> None:
        if self._renewal_key is None and renewal_due(self.identity):
            self._renewal_key, csr = self.credentials.new_request(self.agent_id)
            outbox.put_nowait(link_pb.AgentMessage(renew=link_pb.RenewCertificate(csr_pem=csr)))
            log.info("certificate renewal requested")

    def _renewed(self, certificate: link_pb.Certificate) -> None:
        key, self._renewal_key = self._renewal_key, None
        if key is None or certificate.error:
            log.warning("certificate renewal failed: %s", certificate.error or "unexpected certificate")
            return
        self.identity = self.credentials.save(key, certificate.cert_pem)
        log.info("certificate renewed; valid until %s", self.identity.cert().not_valid_after_utc)

    # -- commands -------------------------------------------------------------------------

    async def _handle(self, command: link_pb.Command, outbox: asyncio.Queue) -> None:
        reply = link_pb.CommandReply(request_id=command.request_id)
        kind = command.WhichOneof("body")
        try:
            if kind == "inspect":
                found = await asyncio.to_thread(self.scanner.inspect, command.inspect.path)
                reply.model.CopyFrom(wire.to_message(common_pb2.FoundModel, found.to_dict()))
            elif kind == "query_hardware":
                reply.hardware.CopyFrom(await self._snapshot())
            elif kind == "rescan":
                self._scan_requested.set()
            elif kind == "transfer":
                self._ticket_received(command.transfer.job_id, command.transfer.ticket)
                self.jobs.start(command.transfer)
            elif kind == "cancel_job":
                self.hub_jobs.cancel(command.cancel_job.job_id)
                await self.jobs.cancel(command.cancel_job.job_id, list(command.cancel_job.digests))
            elif kind == "check_pull":
                await asyncio.to_thread(self.jobs.check_pull, command.check_pull)
            elif kind == "convert":
                self.conversions.start(command.convert)
            elif kind == "hub_pull":
                self.hub_jobs.start(command.hub_pull)
            elif kind == "hub_login":  # `meshctl hub login --host`: kept here, 0600, as a local login does
                reply.json = json.dumps(await asyncio.to_thread(self.hub_jobs.login, command.hub_login))
            elif kind == "hub_push":
                reply.json = json.dumps(await asyncio.to_thread(self.hub_jobs.push, command.hub_push))
            elif kind == "start_serving":
                reply.json = json.dumps(await asyncio.to_thread(self.deployments.start, command.start_serving))
            elif kind == "stop_serving":
                reply.json = json.dumps(await asyncio.to_thread(self.deployments.stop, command.stop_serving))
            elif kind == "chat_test":
                reply.json = json.dumps(await asyncio.to_thread(self.deployments.chat, command.chat_test))
            elif kind == "remove_copy":
                await asyncio.to_thread(self.holdings.remove_copy, command.remove_copy.path,
                                        command.remove_copy.digest, self.scanner.inspect)
                self._scan_requested.set()
            elif kind == "revoke":  # a host was removed: refuse it from now on, streams in flight too
                self.revocations.replace(command.revoke.serials, command.revoke.agent_ids)
                log.info("revocation list updated: %d agents, %d certificates",
                         len(command.revoke.agent_ids), len(command.revoke.serials))
            elif kind == "scrub":  # `meshctl scrub`: every copy, every byte, throttled
                reply.json = json.dumps({"scrub_id": self.scrubber.start(command.scrub.scrub_id)})
            elif kind == "verify":  # `meshctl models verify`: every byte again, no hash cache
                found = await asyncio.to_thread(self.scanner.inspect, command.verify.path, False)
                reply.model.CopyFrom(wire.to_message(common_pb2.FoundModel, found.to_dict()))
            else:
                raise Internal(f"this agent does not know the command {kind!r}")
        except MeshError as exc:
            reply.error_code, reply.error_message = exc.code, str(exc)
        except Exception as exc:  # an agent bug must not take the link down
            log.exception("command %s failed", kind)
            reply.error_code, reply.error_message = "INTERNAL", f"agent error: {exc}"
        outbox.put_nowait(link_pb.AgentMessage(reply=reply))

    # -- scanning -------------------------------------------------------------------------

    async def _scan_loop(self) -> None:
        while not self._stopping.is_set():
            self._scan_requested.clear()
            self.scanning = True
            try:
                result = await asyncio.to_thread(self.scanner.scan)
            except Exception as exc:
                if self._stopping.is_set():
                    return
                log.exception("scan failed: %s", exc)
                result = None
            finally:
                self.scanning = False
            if result is not None:
                self.inventory = result
                self.holdings.update(result)
                log.info("scan: %d models, %d files hashed, %d cached, %d problems in %.2fs",
                         len(result.models), result.files_hashed, result.files_cached,
                         len(result.problems), result.seconds)
                for problem in result.problems:
                    log.warning("scan problem: %s", problem)
                self._queue_inventory(result)
            try:
                await asyncio.wait_for(self._scan_requested.wait(), self.config.rescan_interval_s)
            except asyncio.TimeoutError:
                pass

    def _queue_inventory(self, result: ScanResult) -> None:
        outbox = self._outbox
        if outbox is None:
            return  # sent on the next link
        scan_id = uuid.uuid4().hex
        models = [wire.to_message(common_pb2.FoundModel, m.to_dict()) for m in result.models]
        batches = [models[i:i + INVENTORY_BATCH] for i in range(0, len(models), INVENTORY_BATCH)] or [[]]
        stats = link_pb.ScanStats(files_hashed=result.files_hashed, bytes_hashed=result.bytes_hashed,
                                  files_cached=result.files_cached, seconds=result.seconds)
        for i, batch in enumerate(batches):
            last = i == len(batches) - 1
            outbox.put_nowait(link_pb.AgentMessage(inventory=link_pb.InventoryBatch(
                scan_id=scan_id, models=batch, complete=last,
                problems=result.problems if last else [], stats=stats if last else None)))


def _read_piece_size(path) -> int:
    try:
        size = int(path.read_text().strip())
    except (OSError, ValueError):
        return PIECE_SIZE
    return size if size in PIECE_SIZES else PIECE_SIZE
