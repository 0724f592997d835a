"""The registry: every line of SQL in llmesh lives in this package.

One SQLite database (database.py), its schema built by the ordered migrations in
migrations.py, and one repository per area over that database. Each repository is
given the database and, by its constructor, the other repositories it uses; Registry
builds them in dependency order, so who uses whom reads from ``__init__`` below:

    hosts, security, versions  <- the database alone
    search, lifecycle          <- versions
    aliases                    <- versions, lifecycle
    models                     <- hosts, versions, search, aliases
    catalog                    <- versions, models, lifecycle
    reports                    <- versions
    exchange                   <- models, catalog, aliases
    jobs                       <- models
    deployments                <- the database alone
    hooks, scrubs, gates       <- the database alone
    metrics                    <- scrubs
"""
from __future__ import annotations

from pathlib import Path

from llmesh.coordinator.registry import migrations
from llmesh.coordinator.registry.aliases import AliasesRepository
from llmesh.coordinator.registry.catalog import CatalogRepository
from llmesh.coordinator.registry.database import Database
from llmesh.coordinator.registry.deployments import DeploymentsRepository
from llmesh.coordinator.registry.exchange import ExchangeRepository
from llmesh.coordinator.registry.gates import GatesRepository
from llmesh.coordinator.registry.hooks import HooksRepository
from llmesh.coordinator.registry.hosts import HostsRepository, host_status
from llmesh.coordinator.registry.jobs import JobsRepository
from llmesh.coordinator.registry.lifecycle import LifecycleRepository
from llmesh.coordinator.registry.listing import ChunkEncoder
from llmesh.coordinator.registry.metrics import MetricsRepository
from llmesh.coordinator.registry.migrations import MIGRATIONS, SCHEMA_VERSION
from llmesh.coordinator.registry.models import ModelsRepository
from llmesh.coordinator.registry.reports import ReportsRepository
from llmesh.coordinator.registry.scrubs import ScrubsRepository
from llmesh.coordinator.registry.search import SearchRepository
from llmesh.coordinator.registry.security import SecurityRepository
from llmesh.coordinator.registry.versions import VersionsRepository


class Registry:
    """The coordinator's registry: opens the database, brings its schema up to date,
    and holds one repository per area (``registry.hosts.host_hello(...)``)."""

    def __init__(self, path: Path | str, chunk_encoder: ChunkEncoder | None = None):
        """chunk_encoder: how listings answer by wire chunks (the coordinator's; listing.py)."""
        self.db = Database(path)
        try:
            migrations.migrate(self.db.handle)
        except BaseException:
            self.db.close()
            raise
        db = self.db
        self.hosts = HostsRepository(db)
        self.security = SecurityRepository(db)
        self.versions = VersionsRepository(db, chunk_encoder)
        self.search = SearchRepository(db, self.versions)
        self.lifecycle = LifecycleRepository(db, self.versions)
        self.aliases = AliasesRepository(db, self.versions, self.lifecycle)
        self.models = ModelsRepository(db, self.hosts, self.versions, self.search, self.aliases)
        self.catalog = CatalogRepository(db, self.versions, self.models, self.lifecycle)
        self.reports = ReportsRepository(db, self.versions)
        self.exchange = ExchangeRepository(db, self.models, self.catalog, self.aliases)
        self.jobs = JobsRepository(db, self.models)
        self.deployments = DeploymentsRepository(db)
        self.scrubs = ScrubsRepository(db)
        self.metrics = MetricsRepository(db, self.scrubs)
        self.hooks = HooksRepository(db)
        self.gates = GatesRepository(db)
        # Listings read each version's row kept ready: those a new registry (or a new format) lacks, now.
        self.versions.fill_listing()

    def schema_version(self) -> int:
        return migrations.schema_version(self.db.handle)

    def close(self) -> None:
        self.db.close()


__all__ = ["MIGRATIONS", "ChunkEncoder", "Registry", "SCHEMA_VERSION", "host_status"]
