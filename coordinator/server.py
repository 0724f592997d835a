"""Start and stop a coordinator: CA, registry, services and servicers, its two TLS ports.

Every object is built here, by its constructor, in dependency order:

    Core (registry, writer thread, link hub)
     ├─ SecurityService ─── AuthInterceptor (who may call what: policy.py)
     ├─ MeshService
     ├─ TransferService
     ├─ ServingService(mesh, transfers)
     ├─ CatalogService
     ├─ LinkService(security, transfers, serving)
     ├─ HookService: webhooks, fed by the event log
     └─ Observability(security): health, reflection, RPC metrics, the HTTP address
      └─ DashboardApi(security, mesh, catalog, transfers, serving): the dashboard's reads and writes

Serving uses transfers (pulls, job rows); transfers never call serving: agents' reports on
conversion jobs reach serving through the link service, which routes each job by its kind.
"""
from __future__ import annotations

import asyncio
import getpass
import logging
import os
from pathlib import Path

from llmesh.common import channels
from llmesh.common.config import CoordinatorConfig, remove_endpoint, write_credentials, write_endpoint
from llmesh.common.files import make_private
from llmesh.coordinator import listing_chunks
from llmesh.coordinator.auth import Authenticator, AuthInterceptor
from llmesh.coordinator.catalog.service import CatalogService
from llmesh.coordinator.catalog.servicer import CatalogServicer
from llmesh.coordinator.core import Core
from llmesh.coordinator.hooks.service import HookService
from llmesh.coordinator.hooks.servicer import HooksServicer
from llmesh.coordinator.link.service import LinkService
from llmesh.coordinator.link.servicer import AgentLinkServicer
from llmesh.coordinator.mesh.service import MeshService
from llmesh.coordinator.mesh.servicer import MeshServicer
from llmesh.coordinator.observe.dashboard_api import DashboardApi
from llmesh.coordinator.observe.service import Observability
from llmesh.coordinator.registry import Registry
from llmesh.coordinator.security.ca import MeshCA
from llmesh.coordinator.security.service import SecurityService
from llmesh.coordinator.security.servicer import AdminServicer, BootstrapServicer
from llmesh.coordinator.serving.service import ServingService
from llmesh.coordinator.serving.servicer import ServingServicer
from llmesh.coordinator.transfer.service import TransferService
from llmesh.coordinator.transfer.servicer import TransfersServicer
from llmesh.v1 import agent_link_pb2, catalog_pb2, hooks_pb2, mesh_pb2, security_pb2, serving_pb2, transfer_pb2
from llmesh.v1 import agent_link_pb2_grpc as link_grpc
from llmesh.v1 import catalog_pb2_grpc as catalog_grpc
from llmesh.v1 import hooks_pb2_grpc as hooks_grpc
from llmesh.v1 import mesh_pb2_grpc as mesh_grpc
from llmesh.v1 import security_pb2_grpc as security_grpc
from llmesh.v1 import serving_pb2_grpc as serving_grpc
from llmesh.v1 import transfer_pb2_grpc as transfer_grpc

log = logging.getLogger("llmesh.coordinator")


class Coordinator:
    """A running coordinator. ``await Coordinator.start(config)``, then ``await stop()``."""

    def __init__(self, config: CoordinatorConfig, core: Core, security: SecurityService, transfers: TransferService,
                 server, address: str, link_address: str, observe: Observability, http_address: str,
                 hooks: HookService):
        self.config = config
        self.core = core
        self.security = security
        self.transfers = transfers
        self.server = server
        self.address = address
        self.link_address = link_address
        self.observe = observe
        self.http_address = http_address
        self.hooks = hooks

    @property
    def ca(self) -> MeshCA:
        return self.security.ca

    @classmethod
    async def start(cls, config: CoordinatorConfig) -> "Coordinator":
        _make_private_tree(config.data_dir)
        ca = MeshCA(config.data_dir / "ca")
        core = Core(Registry(config.data_dir / "registry.db", listing_chunks.ENCODER))
        security = SecurityService(core, ca, config.agent_cert_ttl_s)
        observe = Observability(core, security)
        try:
            await security.load()
            server = channels.aio_server([observe.interceptor, AuthInterceptor(Authenticator(
                security.user_for_token, security.revoked_serials, security.record_refusal, ca.pin))])
            # Bound before the servicers are added: Join answers with the link port's address.
            link_listen = config.link_listen or _next_port(config.listen)
            identity = ca.server_identity(list(config.advertise), [
                a.rpartition(":")[0].strip("[]") for a in (config.listen, link_listen, config.http_listen) if a])
            address = channels.bind(server, config.listen, identity, require_client_cert=False)
            link_address = channels.bind(server, link_listen, identity, require_client_cert=True)

            mesh = MeshService(core)
            transfers = TransferService(core, ca.key, config.piece_size, config.ticket_ttl_s)
            serving = ServingService(core, mesh, transfers)
            links = LinkService(core, security, transfers, serving)
            catalog = CatalogService(core, serving.follower.moved)
            hooks = HookService(core, config.hooks)

            security_grpc.add_BootstrapServicer_to_server(
                BootstrapServicer(security, _advertised(link_address, config.advertise)), server)
            security_grpc.add_AdminServicer_to_server(AdminServicer(security), server)
            link_grpc.add_AgentLinkServicer_to_server(AgentLinkServicer(links), server)
            mesh_grpc.add_MeshServicer_to_server(MeshServicer(mesh), server)
            catalog_grpc.add_CatalogServicer_to_server(CatalogServicer(catalog), server)
            transfer_grpc.add_TransfersServicer_to_server(TransfersServicer(transfers), server)
            serving_grpc.add_ServingServicer_to_server(ServingServicer(serving), server)
            hooks_grpc.add_HooksServicer_to_server(HooksServicer(hooks), server)
            observe.add_to(server, _service_names())
            observe.serve_dashboard(DashboardApi(core, security, mesh, catalog, transfers, serving))
            http_address = await observe.start(config.http_listen, identity, config.data_dir)
        except Exception:
            observe.close()
            core.close()
            raise
        await server.start()
        await transfers.start()
        await hooks.start()
        coordinator = cls(config, core, security, transfers, server, address, link_address, observe, http_address,
                          hooks)
        await coordinator._bootstrap_admin()
        if config.endpoint_file:
            extra = {"http_address": http_address} if http_address else {}
            write_endpoint(config.endpoint_file, address, link_address=link_address, ca_sha256=ca.pin, **extra)
        log.info("coordinator listening on %s (agents' links on %s; HTTPS %s; registry %s)", address, link_address,
                 http_address or "off", config.data_dir / "registry.db")
        return coordinator

    async def _bootstrap_admin(self) -> None:
        """The first start makes an admin and leaves its token where meshctl looks."""
        token = await self.security.bootstrap_admin(_local_user())
        if token and self.config.credentials_file:
            write_credentials(self.config.credentials_file.parent, self.address, token, self.ca.pem)
            log.info("created the first admin, %r; credentials in %s", _local_user(), self.config.credentials_file)
        elif token:
            log.warning("created the first admin %r; its token (shown once): %s", _local_user(), token)

    async def stop(self, grace: float = 2.0, hurry: asyncio.Event | None = None) -> None:
        """NOT_SERVING first; then, for ``drain_s`` or until ``hurry`` is set, keep serving; then stop."""
        await self.observe.shut_down()
        if self.config.drain_s > 0:
            try:
                await asyncio.wait_for((hurry or asyncio.Event()).wait(), self.config.drain_s)
            except asyncio.TimeoutError:
                pass
        if self.config.endpoint_file:
            remove_endpoint(self.config.endpoint_file, self.address)
        await self.transfers.stop()
        await self.hooks.stop()
        self.core.hub.close_all()
        await self.server.stop(grace)
        self.observe.close()
        self.core.close()


def _service_names() -> list[str]:
    """The llmesh.v1 services this server answers (health and reflection name them)."""
    modules = (security_pb2, agent_link_pb2, mesh_pb2, catalog_pb2, transfer_pb2, serving_pb2, hooks_pb2)
    return sorted(s.full_name for module in modules for s in module.DESCRIPTOR.services_by_name.values())


def _make_private_tree(data_dir: Path) -> None:
    """The data dir (the registry: token hashes, the audit log; the CA's keys) is the owner's
    alone: 0700 folders, 0600 files, also those an older llmesh left readable."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    make_private(data_dir, directory=True)
    for folder, dirs, files in os.walk(data_dir):
        for name in dirs:
            make_private(os.path.join(folder, name), directory=True)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):  # never change the mode of a file elsewhere
                make_private(path, create=False)


def _next_port(listen: str) -> str:
    host, _, port = listen.rpartition(":")
    return f"{host}:{int(port) + 1}" if int(port) else f"{host}:0"


def _advertised(link_address: str, advertise: tuple[str, ...]) -> str:
    if not advertise:
        return link_address
    host = advertise[0].rpartition(":")[0] if ":" in advertise[0] and not advertise[0].startswith("[") else advertise[0]
    return f"{host}:{link_address.rpartition(':')[2]}"


def _local_user() -> str:
    try:
        return getpass.getuser() or "admin"
    except (KeyError, OSError):
        return "admin"
