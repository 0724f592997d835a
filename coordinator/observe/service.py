"""What the coordinator shows about itself: gRPC health and reflection, RPC metrics, and its
HTTP address (/healthz, /metrics, the dashboard)."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry

from llmesh.common import tls
from llmesh.common.errors import MeshError
from llmesh.common.health import HEALTH_SERVICE, Health
from llmesh.coordinator.auth import USER_TOKEN_PREFIX
from llmesh.coordinator.core import Core
from llmesh.coordinator.observe.dashboard_api import DashboardApi
from llmesh.coordinator.observe.exporter import FleetCollector
from llmesh.coordinator.observe.http import ObserveHttp
from llmesh.coordinator.observe.rpc_metrics import RpcMetrics, RpcMetricsInterceptor
from llmesh.coordinator.observe.web import Dashboard
from llmesh.coordinator.security.service import SecurityService

log = logging.getLogger("llmesh.coordinator.observe")

SCRAPE_TIMEOUT_S = 20.0


class Observability:
    def __init__(self, core: Core, security: SecurityService):
        self.core = core
        self.security = security
        self.metrics = CollectorRegistry(auto_describe=False)
        self.interceptor = RpcMetricsInterceptor(RpcMetrics(self.metrics))
        self.metrics.register(FleetCollector(self._fleet))
        self.health: Health | None = None
        self.http: ObserveHttp | None = None
        self.dashboard: Dashboard | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add_to(self, server, services: list[str]) -> None:
        """Health and reflection beside llmesh's services on the gRPC server."""
        self.health = Health(server, services)
        reflection.enable_server_reflection([*services, HEALTH_SERVICE, reflection.SERVICE_NAME], server)

    def serve_dashboard(self, api: DashboardApi) -> None:
        """The dashboard on the HTTP address, reading through the coordinator's services."""
        self.dashboard = Dashboard(api, self._on_loop)

    async def start(self, http_listen: str, identity: tls.Identity, scratch_dir: Path) -> str:
        """SERVING, and the HTTP address when one is configured; returns its bound address or ''."""
        self._loop = asyncio.get_running_loop()
        if http_listen:
            self.http = ObserveHttp(http_listen, identity, scratch_dir, metrics=self.metrics,
                                    authorized=self._authorized, healthy=self._healthy,
                                    dashboard=self.dashboard)
            self.http.start()
        await self.health.serving()
        return self.http.address if self.http else ""

    async def shut_down(self) -> None:
        """First step of a graceful stop: gRPC health and /healthz say NOT_SERVING / 503."""
        if self.health is not None:
            await self.health.shut_down()

    def close(self) -> None:
        if self.http is not None:
            self.http.stop()

    def _healthy(self) -> bool:
        return self.health is not None and not self.health.shutting_down

    # -- called on the HTTP server's threads ------------------------------------------------

    def _on_loop(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(SCRAPE_TIMEOUT_S)

    def _fleet(self) -> dict:
        async def read():
            return await self.core.run(self.core.registry.metrics.fleet, self.core.hub.connected_ids())
        return self._on_loop(read())

    def _authorized(self, token: str) -> bool:
        """Any API token, whatever its role, may scrape."""
        try:
            _, secret = tls.parse_token(token, USER_TOKEN_PREFIX)
            self._on_loop(self.security.user_for_token(tls.secret_hash(secret)))
            return True
        except MeshError:
            return False
