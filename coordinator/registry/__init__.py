"""The registry (all SQL of llmesh lives in this package): see core.py."""
from llmesh.coordinator.registry.aliases import AliasesMixin
from llmesh.coordinator.registry.catalog import CatalogMixin
from llmesh.coordinator.registry.core import MIGRATIONS, schema_version
from llmesh.coordinator.registry.deployments import DeploymentsMixin
from llmesh.coordinator.registry.exchange import ExchangeMixin
from llmesh.coordinator.registry.hosts import HostsMixin, host_status
from llmesh.coordinator.registry.jobs import JobsMixin
from llmesh.coordinator.registry.models import ModelsMixin
from llmesh.coordinator.registry.reports import ReportsMixin
from llmesh.coordinator.registry.search import SearchMixin
from llmesh.coordinator.registry.security import SecurityMixin

SCHEMA_VERSION = schema_version()


class Registry(HostsMixin, ModelsMixin, SecurityMixin,
               CatalogMixin, AliasesMixin, SearchMixin, ReportsMixin, ExchangeMixin, JobsMixin,
               DeploymentsMixin):
    """The coordinator's registry: one SQLite database, one class, one mixin per area."""


__all__ = ["MIGRATIONS", "Registry", "SCHEMA_VERSION", "host_status"]
