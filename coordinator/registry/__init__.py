"""The registry (all SQL of llmesh lives in this package): see core.py."""
from .core import MIGRATIONS, schema_version
from .hosts import HostsMixin, host_status
from .models import ModelsMixin
from .aliases import AliasesMixin
from .catalog import CatalogMixin
from .reports import ReportsMixin
from .search import SearchMixin
from .exchange import ExchangeMixin
from .security import SecurityMixin
from .jobs import JobsMixin
from .deployments import DeploymentsMixin

SCHEMA_VERSION = schema_version()


class Registry(HostsMixin, ModelsMixin, SecurityMixin,
               CatalogMixin, AliasesMixin, SearchMixin, ReportsMixin, ExchangeMixin, JobsMixin,
               DeploymentsMixin):
    """The coordinator's registry: one SQLite database, one class, one mixin per area."""


__all__ = ["MIGRATIONS", "Registry", "SCHEMA_VERSION", "host_status"]
