"""Deployments: which version serves where, through which backend, and what served before."""
from __future__ import annotations

import time

from llmesh.common.errors import NotFound
from llmesh.coordinator.registry.database import Database


class DeploymentsRepository:
    def __init__(self, db: Database):
        self.db = db

    def add_deployment(self, deployment_id: str, version_id: int, host_id: str, backend: str, served_name: str,
                       endpoint: str, port: int, adapter_version_id: int | None, actor: str,
                       source_version_id: int | None = None, alias: str = "", quant: str = "") -> str:
        with self.db.atomic():
            self.db["deployments"].insert({
                "source_version_id": source_version_id if source_version_id is not None else version_id,
                "alias": alias, "quant": quant,
                "id": deployment_id, "version_id": version_id, "host_id": host_id, "backend": backend,
                "served_name": served_name, "endpoint": endpoint, "port": port, "state": "running",
                "adapter_version_id": adapter_version_id, "created_by": actor, "created_at": time.time(),
                "stopped_at": 0.0, "error": "", "restarts": 0})
            self.db.record_event(actor, "model.deploy", self.db.version_ref(version_id),
                                 {"backend": backend, "endpoint": endpoint, "deployment": deployment_id})
        return deployment_id

    def stop_deployment(self, deployment_id: str, actor: str, state: str = "stopped", error: str = "") -> None:
        with self.db.atomic():
            self.db["deployments"].update(deployment_id, {"state": state, "stopped_at": time.time(),
                                                          "error": error})
            row = self.db["deployments"].get(deployment_id)
            self.db.record_event(actor, "model.undeploy", self.db.version_ref(row["version_id"]),
                                 {"deployment": deployment_id})

    def set_error(self, deployment_id: str, error: str) -> None:
        """Why a running deployment is not what was asked (it keeps serving)."""
        self.db["deployments"].update(deployment_id, {"error": error})

    def deployment(self, deployment_id: str) -> dict:
        rows = self._deployments("d.id = ?", [deployment_id])
        if not rows:
            raise NotFound(f"unknown deployment {deployment_id!r}")
        return rows[0]

    def deployments(self, include_stopped: bool = False) -> list[dict]:
        return self._deployments("1 = 1" if include_stopped else "d.state = 'running'", [])

    def running_deployments(self, version_id: int | None = None, host_id: str | None = None,
                            served_name: str | None = None) -> list[dict]:
        where, params = ["d.state = 'running'"], []
        if version_id is not None:
            where.append("d.version_id = ?")
            params.append(version_id)
        if host_id is not None:
            where.append("d.host_id = ?")
            params.append(host_id)
        if served_name is not None:
            where.append("d.served_name = ?")
            params.append(served_name)
        return self._deployments(" AND ".join(where), params)

    def running_deployments_of(self, version_ids: list[int], host_id: str | None = None) -> list[dict]:
        """Running deployments of these versions (as model or adapter), of what was converted from them,
        or deployed from them."""
        marks = ", ".join("?" * len(version_ids))
        converted = (f"(SELECT child_id FROM lineage WHERE parent_id IN ({marks}) "
                     "AND relation IN ('quantized', 'convert'))")
        where = (f"d.state = 'running' AND (d.version_id IN ({marks}) OR d.source_version_id IN ({marks}) "
                 f"OR d.version_id IN {converted} OR d.adapter_version_id IN ({marks}) "
                 f"OR d.adapter_version_id IN {converted})")
        params = list(version_ids) * 5
        if host_id is not None:
            where += " AND d.host_id = ?"
            params.append(host_id)
        return self._deployments(where, params)

    def model_version_ids(self, name: str) -> list[int]:
        """Every version of a model (none when there is no such model)."""
        return [r["id"] for r in self.db.query(
            "SELECT v.id FROM versions v JOIN models m ON m.id = v.model_id WHERE m.name = ?", [name])]

    def alias_bound(self, model_id: int, alias: str) -> list[dict]:
        """Running deployments that follow this alias of this model."""
        return self._deployments("d.state = 'running' AND d.alias = ? AND sv.model_id = ?", [alias, model_id])

    def previous_deployment(self, served_name: str, host_id: str, before: float) -> dict | None:
        """The last deployment under this served name on this host made before ``before``."""
        rows = self._deployments("d.served_name = ? AND d.host_id = ? AND d.state = 'stopped' AND d.created_at < ? "
                                 "ORDER BY d.created_at DESC LIMIT 1", [served_name, host_id, before])
        return rows[0] if rows else None

    def ports_in_use(self, host_id: str) -> set[int]:
        return {r["port"] for r in self.db.query(
            "SELECT port FROM deployments WHERE host_id = ? AND state = 'running'", [host_id])}

    def _deployments(self, where: str, params: list) -> list[dict]:
        order = "" if "ORDER BY" in where else " ORDER BY d.created_at"
        rows = self.db.query(
            "SELECT d.*, m.name AS model_name, v.number, h.name AS host, am.name AS adapter_name, "
            "sm.name AS source_name, sv.number AS source_number, "
            "av.number AS adapter_number FROM deployments d JOIN versions v ON v.id = d.version_id "
            "JOIN models m ON m.id = v.model_id JOIN hosts h ON h.id = d.host_id "
            "LEFT JOIN versions av ON av.id = d.adapter_version_id LEFT JOIN models am ON am.id = av.model_id "
            "LEFT JOIN versions sv ON sv.id = d.source_version_id LEFT JOIN models sm ON sm.id = sv.model_id "
            f"WHERE {where}{order}", params)
        return [{
            "id": r["id"], "ref": f"{r['model_name']}:{r['number']}", "host": r["host"], "host_id": r["host_id"],
            "backend": r["backend"], "served_name": r["served_name"], "endpoint": r["endpoint"], "port": r["port"],
            "state": r["state"], "adapter": f"{r['adapter_name']}:{r['adapter_number']}" if r["adapter_name"] else "",
            "created_at": r["created_at"], "stopped_at": r["stopped_at"], "error": r["error"],
            "restarts": r["restarts"], "version_id": r["version_id"], "model_name": r["model_name"],
            "source": f"{r['source_name']}:{r['source_number']}" if r["source_name"] else "",
            "source_version_id": r["source_version_id"], "alias": r["alias"] or "", "quant": r["quant"] or "",
        } for r in rows]

    # -- adapters and their bases ---------------------------------------------------------

    def base_of(self, adapter_id: int, base_text: str) -> int | None:
        """The version an adapter was trained on: its `adapter` lineage edge, else the model its
        base id names (the model's name, its HF repo id, or the id's last part), preferring a
        version with a verified copy, then the newest."""
        row = self.db.one("SELECT parent_id FROM lineage WHERE child_id = ? AND relation = 'adapter' LIMIT 1",
                          [adapter_id])
        if row:
            return row["parent_id"]
        if not base_text:
            return None
        short = base_text.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
        row = self.db.one(
            "SELECT v.id FROM versions v JOIN models m ON m.id = v.model_id WHERE v.kind = 'model' AND "
            "(m.name = ? OR json_extract(v.metadata_json, '$.hf.repo_id') = ? OR m.name = ?) ORDER BY "
            "(m.name = ? OR json_extract(v.metadata_json, '$.hf.repo_id') = ?) DESC, "
            "EXISTS (SELECT 1 FROM copies c WHERE c.version_id = v.id AND c.state = 'verified') DESC, "
            "v.number DESC LIMIT 1", [base_text, base_text, short, base_text, base_text])
        return row["id"] if row else None

    def derived_from(self, version_id: int, base_id: int) -> bool:
        """VERSION is BASE, or was converted/quantized from it."""
        return version_id == base_id or bool(self.db.one(
            "SELECT 1 AS x FROM lineage WHERE child_id = ? AND parent_id = ? AND relation IN ('quantized', 'convert')",
            [version_id, base_id]))

    # -- conversions ----------------------------------------------------------------------

    def converted_from(self, source_version_id: int, quant: str) -> int | None:
        """A version already made from this source with this quantization."""
        row = self.db.one(
            "SELECT l.child_id FROM lineage l JOIN version_params p ON p.version_id = l.child_id "
            "WHERE l.parent_id = ? AND l.relation IN ('quantized', 'convert') AND p.key = 'quantization' "
            "AND p.value = ? LIMIT 1", [source_version_id, quant])
        return row["child_id"] if row else None


def with_liveness(rows: list[dict], connected: frozenset[str]) -> list[dict]:
    """A running deployment on a host that is not connected is not known to run."""
    for row in rows:
        if row["state"] == "running" and row["host_id"] not in connected:
            row["state"] = "unknown (host offline)"
    return rows
