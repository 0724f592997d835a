"""The numbers /metrics exports, read in one pass at scrape time."""
from __future__ import annotations

import json
import time

from llmesh.coordinator.registry.database import Database
from llmesh.coordinator.registry.hosts import host_status
from llmesh.coordinator.registry.scrubs import ScrubsRepository

# What `models test` records (as version metrics) that /metrics exports per version.
SERVING_METRICS = ("ttft_ms", "tokens_per_second")


class MetricsRepository:
    def __init__(self, db: Database, scrubs: ScrubsRepository):
        self.db = db
        self.scrubs = scrubs

    def fleet(self, connected: frozenset[str], now: float | None = None) -> dict:
        now = now or time.time()
        hosts = [{"name": r["name"], "up": host_status(r, connected, now) == "online",
                  "last_seen_age_s": max(0.0, now - (r["last_seen"] or 0.0)),
                  "hardware": json.loads(r["hardware_json"] or "{}")}
                 for r in self.db.query("SELECT * FROM hosts ORDER BY name")]
        return {
            "hosts": hosts,
            "versions": self._counts("SELECT state, COUNT(*) AS n FROM versions GROUP BY state"),
            "copies": self._counts("SELECT state, COUNT(*) AS n FROM copies GROUP BY state"),
            "deployments": self._counts("SELECT state, COUNT(*) AS n FROM deployments GROUP BY state"),
            "jobs": [(r["kind"], r["state"], r["n"]) for r in self.db.query(
                "SELECT kind, state, COUNT(*) AS n FROM jobs GROUP BY kind, state ORDER BY kind, state")],
            "transfer": self._transfer(now),
            "serving": [(r["name"], str(r["number"]), r["key"], r["value"]) for r in self.db.query(
                "SELECT m.name, v.number, vm.key, vm.value FROM version_metrics vm "
                "JOIN versions v ON v.id = vm.version_id JOIN models m ON m.id = v.model_id "
                f"WHERE vm.key IN ({','.join('?' * len(SERVING_METRICS))}) AND vm.value IS NOT NULL "
                "ORDER BY m.name, v.number", list(SERVING_METRICS))],
            "scrubs": self.scrubs.totals(),
        }

    def _counts(self, sql: str) -> dict[str, int]:
        return {r["state"] or "": r["n"] for r in self.db.query(sql)}

    def _transfer(self, now: float) -> dict:
        """Bytes that crossed the wire for pulls, those of them sent more than once (a piece that
        failed verification, a resume), and seconds spent moving (running jobs up to now)."""
        row = self.db.one(
            "SELECT COALESCE(SUM(bytes_received), 0) AS received, "
            "COALESCE(SUM(MAX(0, bytes_received - MAX(0, bytes_done - bytes_reused))), 0) AS resent, "
            "COALESCE(SUM(CASE WHEN started_at > 0 THEN "
            "  MAX(0, (CASE WHEN finished_at > 0 THEN finished_at ELSE ? END) - started_at) ELSE 0 END), 0) AS seconds "
            "FROM jobs WHERE kind = 'pull'", [now])
        return {"bytes": int(row["received"]), "resent_bytes": int(row["resent"]), "seconds": float(row["seconds"])}
