"""Reading versions: references resolved to version ids, and versions as the dicts every
listing answers with (their copies, with each host's status, and the catalog's facts)."""
from __future__ import annotations

import json
import time
from typing import Any

from llmesh.common.errors import NotFound
from llmesh.common.names import ModelRef
from llmesh.coordinator.registry.database import Database, chunks
from llmesh.coordinator.registry.facts import param_value
from llmesh.coordinator.registry.hosts import host_status


class VersionsRepository:
    def __init__(self, db: Database):
        self.db = db

    # -- references -----------------------------------------------------------------------

    def resolve(self, ref: ModelRef) -> int:
        """The version id a reference names, or NotFound with what does exist."""
        model = self.db.one("SELECT id FROM models WHERE name = ?", [ref.name])
        if not model:
            raise NotFound(f"unknown model {ref.name!r}")
        if ref.alias:
            return self.resolve_alias(model["id"], ref.name, ref.alias)
        if ref.label:
            return self.resolve_label(model["id"], ref.name, ref.label)
        if ref.version is None:
            row = self.db.one("SELECT id FROM versions WHERE model_id = ? ORDER BY number DESC LIMIT 1",
                              [model["id"]])
        else:
            row = self.db.one("SELECT id FROM versions WHERE model_id = ? AND number = ?",
                              [model["id"], ref.version])
        if not row:
            numbers = [str(r["number"]) for r in self.db.query(
                "SELECT number FROM versions WHERE model_id = ? ORDER BY number", [model["id"]])]
            raise NotFound(f"model {ref.name!r} has no version {ref.version}"
                           + (f" (versions: {', '.join(numbers)})" if numbers else ""))
        return row["id"]

    def get_version(self, ref: ModelRef, connected: frozenset[str], with_files: bool = True) -> dict:
        version_id = self.resolve(ref)
        version = self.matching("v.id = ?", [version_id], connected)[0]
        if with_files:
            version["files"] = [dict(r) for r in self.db.query(
                "SELECT path, size, digest FROM version_files WHERE version_id = ? ORDER BY path", [version_id])]
        return version

    def version_by_id(self, version_id: int, connected: frozenset[str]) -> dict:
        return self.matching("v.id = ?", [version_id], connected)[0]

    def resolve_label(self, model_id: int, name: str, label: str) -> int:
        """The version a label names: its kept label (an afs "v2b"), else its semver ("1.2.0", "v1.2.0")."""
        row = self.db.one("SELECT id FROM versions WHERE model_id = ? AND label = ?", [model_id, label]) \
            or self.db.one("SELECT id FROM versions WHERE model_id = ? AND semver = ?",
                           [model_id, label[1:] if label.startswith("v") else label])
        if not row:
            raise NotFound(f"model {name!r} has no version labelled {label!r}")
        return row["id"]

    def resolve_alias(self, model_id: int, name: str, alias: str) -> int:
        """The version an alias of the model points to, or NotFound with the aliases there are."""
        row = self.db.one("SELECT version_id FROM aliases WHERE model_id = ? AND alias = ?", [model_id, alias])
        if not row:
            known = [r["alias"] for r in self.db.query("SELECT alias FROM aliases WHERE model_id = ? ORDER BY alias",
                                                       [model_id])]
            raise NotFound(f"model {name!r} has no alias {alias!r}"
                           + (f" (aliases: {', '.join(known)})" if known else ""))
        return row["version_id"]

    def digest_of(self, version_id: int) -> str:
        return self.db.one("SELECT digest FROM versions WHERE id = ?", [version_id])["digest"]

    def model_row(self, name: str) -> dict:
        """The model's id and name, or NotFound."""
        model = self.db.one("SELECT id, name FROM models WHERE name = ?", [name])
        if not model:
            raise NotFound(f"unknown model {name!r}")
        return model

    def version_numbers(self, name: str) -> list[int]:
        model = self.db.one("SELECT id FROM models WHERE name = ?", [name])
        if not model:
            raise NotFound(f"unknown model {name!r}")
        return [r["number"] for r in self.db.query("SELECT number FROM versions WHERE model_id = ? ORDER BY number",
                                                   [model["id"]])]

    # -- version dicts --------------------------------------------------------------------

    def matching(self, where: str, params: list, connected: frozenset[str]) -> list[dict]:
        """The versions a WHERE clause over ``versions v JOIN models m`` selects, as dicts,
        by name and number; ``connected``: the agents whose links are open (host status)."""
        rows = list(self.db.query(
            "SELECT v.*, m.name AS model_name, m.display_name, m.description FROM versions v "
            f"JOIN models m ON m.id = v.model_id WHERE {where} ORDER BY m.name, v.number", params))
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        copies = self._copies(ids, connected)
        versions = [{
            "name": r["model_name"], "version": r["number"], "digest": r["digest"], "kind": r["kind"],
            "format": r["format"], "source": r["source"], "size_bytes": r["size_bytes"],
            "file_count": r["file_count"], "metadata": json.loads(r["metadata_json"] or "{}"),
            "base_model": r["base_model"], "registered": bool(r["registered"]), "notes": r["notes"],
            "display_name": r["display_name"], "created_at": r["created_at"], "updated_at": r["updated_at"],
            "copies": copies.get(r["id"], []),
        } for r in rows]
        self._add_catalog_fields(versions, rows)  # tags, roles and the catalog's facts
        return versions

    def _copies(self, ids: list[int], connected: frozenset[str]) -> dict[int, list]:
        copies: dict[int, list] = {}
        now = time.time()
        for chunk in chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            for r in self.db.query(
                    "SELECT c.version_id, c.path, c.state, c.verified_at, h.name AS host, h.last_seen, "
                    "h.heartbeat_interval_s, h.id AS host_id FROM copies c JOIN hosts h ON h.id = c.host_id "
                    f"WHERE c.version_id IN ({marks}) ORDER BY h.name, c.path", chunk):
                copies.setdefault(r["version_id"], []).append({
                    "host": r["host"], "path": r["path"], "state": r["state"],
                    "verified_at": r["verified_at"],
                    "host_status": host_status({"id": r["host_id"], "last_seen": r["last_seen"],
                                                "heartbeat_interval_s": r["heartbeat_interval_s"]},
                                               connected, now)})
        return copies

    def _add_catalog_fields(self, versions: list[dict], rows: list[dict]) -> None:
        ids = [r["id"] for r in rows]
        found: dict[str, dict[int, Any]] = {k: {} for k in (
            "tags", "roles", "metrics", "params", "capabilities", "aliases", "parents", "datasets", "backends")}
        for chunk in chunks(ids, 200):
            marks = ",".join("?" * len(chunk))
            # one round trip for the small per-version tables (listings read this for every row)
            for kind, vid, key, value, num in self.db.conn.execute(
                    f"SELECT 'metrics', version_id, key, value, NULL FROM version_metrics "
                    f"WHERE version_id IN ({marks}) "
                    f"UNION ALL SELECT 'params', version_id, key, value, num FROM version_params "
                    f"WHERE version_id IN ({marks}) "
                    f"UNION ALL SELECT 'capabilities', version_id, key, value, NULL FROM version_capabilities "
                    f"WHERE version_id IN ({marks}) "
                    f"UNION ALL SELECT 'aliases', version_id, alias, NULL, NULL FROM aliases "
                    f"WHERE version_id IN ({marks}) "
                    f"UNION ALL SELECT 'datasets', version_id, name, digest, NULL FROM version_datasets "
                    f"WHERE version_id IN ({marks}) "
                    f"UNION ALL SELECT 'backends', version_id, backend, NULL, NULL FROM version_backends "
                    f"WHERE version_id IN ({marks}) "
                    f"UNION ALL SELECT 'tags', version_id, key, value, NULL FROM version_tags "
                    f"WHERE version_id IN ({marks}) "
                    f"UNION ALL SELECT 'roles', version_id, role, NULL, NULL FROM version_roles "
                    f"WHERE version_id IN ({marks})", chunk * 8):
                if kind == "metrics":
                    found["metrics"].setdefault(vid, {})[key] = value
                elif kind == "params":
                    found["params"].setdefault(vid, {})[key] = param_value(value, num)
                elif kind == "capabilities":
                    found["capabilities"].setdefault(vid, {})[key] = bool(value)
                elif kind == "tags":
                    found["tags"].setdefault(vid, {})[key] = value
                elif kind == "datasets":
                    found["datasets"].setdefault(vid, []).append({"name": key, "digest": value})
                else:
                    found[kind].setdefault(vid, []).append(key)
            for r in self.db.query(
                    "SELECT l.child_id, l.relation, m.name, v.number FROM lineage l "
                    "JOIN versions v ON v.id = l.parent_id JOIN models m ON m.id = v.model_id "
                    f"WHERE l.child_id IN ({marks}) ORDER BY m.name, v.number", chunk):
                found["parents"].setdefault(r["child_id"], []).append(
                    {"name": r["name"], "version": r["number"], "relation": r["relation"]})
        for kind in ("tags", "metrics", "params", "capabilities"):  # key order, as before
            for vid, values in found[kind].items():
                found[kind][vid] = dict(sorted(values.items()))
        for vid, values in found["datasets"].items():
            values.sort(key=lambda d: d["name"])
        for kind in ("roles", "aliases", "backends"):
            for values in found[kind].values():
                values.sort()
        for version, row in zip(versions, rows):
            vid = row["id"]
            version.update({
                "semver": row["semver"] or "", "label": row.get("label") or "",
                "status": row["status"], "state": row["state"],
                "locked": bool(row["locked"]), "last_verified": row["last_verified"] or 0.0,
                "framework": row["framework"], "hardware": row["hardware"], "duration_s": row["duration_s"],
                "cost_usd": row["cost_usd"], "code_commit": row["code_commit"],
                "extra": json.loads(row["extra_json"] or "{}"), "created_by": row["created_by"],
                "description": row.get("description") or "",
                "tags": found["tags"].get(vid, {}), "roles": found["roles"].get(vid, []),
                "metrics": found["metrics"].get(vid, {}), "params": found["params"].get(vid, {}),
                "capabilities": found["capabilities"].get(vid, {}), "aliases": found["aliases"].get(vid, []),
                "parents": found["parents"].get(vid, []), "datasets": found["datasets"].get(vid, []),
                "backends": found["backends"].get(vid, []),
            })
