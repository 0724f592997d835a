"""Models, versions, files, copies: what agents found and people registered."""
from __future__ import annotations

import json
import time
from typing import Any, Iterable

from llmesh.common.errors import NotFound
from llmesh.common.names import ModelRef, check_name
from llmesh.coordinator.registry.aliases import AliasesRepository
from llmesh.coordinator.registry.database import Database
from llmesh.coordinator.registry.facts import check_limit
from llmesh.coordinator.registry.hosts import HostsRepository
from llmesh.coordinator.registry.search import MAX_LIMIT, SearchRepository, flag_terms
from llmesh.coordinator.registry.versions import VersionsRepository

SERVING_BACKENDS = ("llamacpp", "ollama", "halext")


class ModelsRepository:
    def __init__(self, db: Database, hosts: HostsRepository, versions: VersionsRepository,
                 search: SearchRepository, aliases: AliasesRepository):
        self.db = db
        self.hosts = hosts
        self.versions = versions
        self.search = search
        self.aliases = aliases

    # -- inventory ------------------------------------------------------------------------

    def apply_inventory(self, host_id: str, models: Iterable[dict], problems: list[str] | None = None,
                        complete_paths: set[str] | None = None, now: float | None = None) -> dict:
        """Upsert what an agent reported. With complete_paths (the end of a full scan),
        copies on that host whose path was not reported are marked missing."""
        now = now or time.time()
        added = missing = 0
        with self.db.atomic():
            for found in models:
                if self._upsert_found(host_id, found, now):
                    added += 1
            if complete_paths is not None:
                for row in list(self.db.query(
                        "SELECT id, path FROM copies WHERE host_id = ? AND state != 'missing'", [host_id])):
                    if row["path"] not in complete_paths:
                        self.db.execute("UPDATE copies SET state = 'missing', updated_at = ? WHERE id = ?",
                                        [now, row["id"]])
                        missing += 1
                self.db.execute("UPDATE hosts SET problems_json = ? WHERE id = ?",
                                [json.dumps(problems or []), host_id])
        return {"new_copies": added, "missing": missing}

    def _bind_piece_indexes(self, host_id: str, found: dict, now: float) -> None:
        """The first index reported for a digest and piece size stays: an honest agent's is the same
        (an index is a function of the bytes), and a pull whose sources disagree with it checks the
        whole file instead."""
        rows = [(f["digest"], int(f["piece_size"]), f["piece_index_id"], host_id, now)
                for f in found.get("files") or [] if f.get("piece_index_id") and f.get("piece_size")]
        if rows:
            self.db.conn.executemany("INSERT OR IGNORE INTO piece_indexes (digest, piece_size, index_id, host_id, at) "
                                     "VALUES (?, ?, ?, ?, ?)", rows)

    def _upsert_found(self, host_id: str, found: dict, now: float) -> bool:
        """Returns True when the host gained a copy it did not have before."""
        if self._locked_copy_changed(host_id, found, now):
            return False
        if self.db.one("SELECT 1 AS x FROM tombstones WHERE digest = ?", [found["digest"]]):
            self.db.execute("DELETE FROM copies WHERE host_id = ? AND path = ?", [host_id, found["path"]])
            return False
        self._bind_piece_indexes(host_id, found, now)
        version = self.db.one("SELECT id FROM versions WHERE digest = ?", [found["digest"]])
        version_id = version["id"] if version else self._insert_version(found, found["name"], now, "discovered")
        return self.upsert_copy(version_id, host_id, found["path"], now)

    def _locked_copy_changed(self, host_id: str, found: dict, now: float) -> bool:
        """Other content at the path of a locked version's copy: that copy has drifted. It stays
        the locked version's copy (marked drifted) and the content becomes no version of its own."""
        copy = self.db.one(
            "SELECT c.id, c.version_id, c.state, c.found_digest FROM copies c "
            "JOIN versions v ON v.id = c.version_id "
            "WHERE c.host_id = ? AND c.path = ? AND v.locked = 1 AND v.digest != ?",
            [host_id, found["path"], found["digest"]])
        if copy is None:
            return False
        if copy["state"] != "drifted" or copy["found_digest"] != found["digest"]:
            self.db.execute("UPDATE copies SET state = 'drifted', found_digest = ?, updated_at = ? WHERE id = ?",
                            [found["digest"], now, copy["id"]])
            host = self.db.one("SELECT name FROM hosts WHERE id = ?", [host_id])
            self.db.record_event("", "model.drift", self.db.version_ref(copy["version_id"]),
                                 {"copies": [f"{host['name'] if host else host_id}:{found['path']}"],
                                  "found": found["digest"]}, result="drifted")
        return True

    def upsert_copy(self, version_id: int, host_id: str, path: str, now: float) -> bool:
        """Record a verified copy of a version at a host's path; True when it is new to that path."""
        copy = self.db.one("SELECT id, version_id, state, found_digest FROM copies WHERE host_id = ? AND path = ?",
                           [host_id, path])
        if copy:
            if copy["state"] == "drifted" and copy["version_id"] == version_id and not copy["found_digest"]:
                # drift that a full re-hash found: a scan may trust a stale hash cache, so only
                # `verify` clears it. Drift a scan found is cleared by a scan that hashed the file anew.
                return False
            self.db.execute(
                "UPDATE copies SET version_id = ?, state = 'verified', found_digest = NULL, verified_at = ?, "
                "updated_at = ? WHERE id = ?", [version_id, now, now, copy["id"]])
            return copy["version_id"] != version_id or copy["state"] != "verified"
        self.db["copies"].insert({"version_id": version_id, "host_id": host_id, "path": path,
                                  "state": "verified", "verified_at": now, "updated_at": now})
        return True

    def ensure_model(self, name: str, origin: str, now: float) -> int:
        """The id of the model NAME, created when missing; registering makes a discovered model registered."""
        model = self.db.one("SELECT id, origin FROM models WHERE name = ?", [name])
        if model:
            if origin == "registered" and model["origin"] != "registered":
                self.db.execute("UPDATE models SET origin = 'registered' WHERE id = ?", [model["id"]])
            return model["id"]
        return self.db["models"].insert({
            "name": name, "origin": origin, "display_name": "", "description": "",
            "created_at": now, "updated_at": now}).last_pk

    def _insert_version(self, found: dict, name: str, now: float, origin: str) -> int:
        model_id = self.ensure_model(name, origin, now)
        metadata = found.get("metadata") or {}
        version_id = self.db["versions"].insert({
            "model_id": model_id, "number": self.next_number(model_id), "digest": found["digest"],
            "kind": found["kind"], "format": found["format"], "source": found["source"],
            "size_bytes": found["size_bytes"], "file_count": len(found["files"]),
            "metadata_json": json.dumps(metadata, sort_keys=True),
            "base_model": metadata.get("base_model") or "", "registered": 0, "notes": "",
            "created_by": "", "created_at": now, "updated_at": now,
        }).last_pk
        self.db["version_files"].insert_all(
            ({"version_id": version_id, "path": f["path"], "size": f["size"], "digest": f["digest"]}
             for f in found["files"]), batch_size=500)
        self.db.execute("UPDATE models SET updated_at = ? WHERE id = ?", [now, model_id])
        return version_id

    def next_number(self, model_id: int) -> int:
        """The number the model's next version gets."""
        row = self.db.one("SELECT MAX(number) AS n FROM versions WHERE model_id = ?", [model_id])
        return (row["n"] or 0) + 1

    # -- registration ---------------------------------------------------------------------

    def register(self, host_id: str, found: dict, *, name: str = "", base_model: str = "",
                 roles: Iterable[str] = (), tags: dict[str, str] | None = None, notes: str = "",
                 display_name: str = "", actor: str = "", now: float | None = None) -> tuple[int, bool, str]:
        """Name and annotate the model found at a path. Returns (version id, created, message).

        Identical content returns the existing version. A version that was only ever
        discovered moves to the name the user gives it."""
        now = now or time.time()
        name = check_name(name or found["name"])
        with self.db.atomic():
            self.db.execute("DELETE FROM tombstones WHERE digest = ?", [found["digest"]])
            existing = self.db.one(
                "SELECT v.id, v.registered, m.name, m.origin, v.model_id, v.number FROM versions v "
                "JOIN models m ON m.id = v.model_id WHERE v.digest = ?", [found["digest"]])
            if existing is None:
                version_id, created = self._insert_version(found, name, now, "registered"), True
                message = "registered"
            elif existing["name"] != name and (existing["registered"] or existing["origin"] == "registered"):
                version_id, created = existing["id"], False
                message = f"identical content is already registered as {existing['name']}:{existing['number']}"
            else:
                version_id, created = existing["id"], not existing["registered"]
                if existing["name"] != name:
                    self._move_version(existing, name, now)
                message = "registered" if created else "already registered"
            self.annotate(version_id, base_model, roles, tags or {}, notes, display_name, actor, now)
            self.upsert_copy(version_id, host_id, found["path"], now)
            ref = self.db.version_ref(version_id)
            self.db.record_event(actor, "model.register", ref, {"host": host_id, "path": found["path"],
                                                                "created": created})
        return version_id, created, message

    def _move_version(self, existing: dict, name: str, now: float) -> None:
        target = self.ensure_model(name, "registered", now)
        self.db.execute("UPDATE versions SET model_id = ?, number = ? WHERE id = ?",
                        [target, self.next_number(target), existing["id"]])
        if not self.db.one("SELECT 1 AS x FROM versions WHERE model_id = ?", [existing["model_id"]]):
            self.db.execute("DELETE FROM models WHERE id = ?", [existing["model_id"]])

    def annotate(self, version_id: int, base_model: str, roles: Iterable[str], tags: dict[str, str],
                 notes: str, display_name: str, actor: str, now: float) -> None:
        """Mark a version registered and add what the user said about it (roles and tags add up)."""
        updates: dict[str, Any] = {"registered": 1, "updated_at": now}
        if base_model:
            updates["base_model"] = base_model
        if notes:
            updates["notes"] = notes
        row = self.db["versions"].get(version_id)
        if not row["created_by"]:
            updates["created_by"] = actor
        self.db["versions"].update(version_id, updates)
        if display_name:
            self.db.execute("UPDATE models SET display_name = ? WHERE id = ?", [display_name, row["model_id"]])
        for role in roles:
            self.db.execute("INSERT OR IGNORE INTO version_roles (version_id, role) VALUES (?, ?)",
                            [version_id, role])
        for key, value in tags.items():
            self.db.execute("INSERT OR REPLACE INTO version_tags (version_id, key, value) VALUES (?, ?, ?)",
                            [version_id, key, value])

    # -- listing --------------------------------------------------------------------------

    def list_versions(self, connected: frozenset[str], *, host: str = "", kind: str = "",
                      name: str = "", role: str = "", backend: str = "", tags: list[str] | None = None,
                      query: str = "", sort: str = "", limit: int = 0, offset: int = 0,
                      deployed_on: str = "", as_chunks: bool = False) -> list[dict] | list[tuple[bytes, list[dict]]]:
        """The simple flags and the search language run on one engine (registry.search).
        deployed_on: a backend, or a host, where the version runs now; limit/offset: one page;
        as_chunks: see versions.matching."""
        host_id = self.hosts.host_by_name(host)["id"] if host else ""
        on_backend = deployed_on if deployed_on in SERVING_BACKENDS else ""
        on_host = self.hosts.host_by_name(deployed_on)["id"] if deployed_on and not on_backend else ""
        terms = flag_terms(role=role, backend=backend, tags=tags, kind=kind, host_id=host_id, name=name,
                           deployed_backend=on_backend, deployed_host_id=on_host)
        if not (terms or query or sort):
            check_limit(limit, MAX_LIMIT)
            check_limit(offset)
            return self.versions.matching("1 = 1", [], connected, limit=limit or -1, offset=offset,
                                          as_chunks=as_chunks)
        return self.search.search(connected, query, sort=sort, limit=limit, filters=terms, offset=offset,
                                  as_chunks=as_chunks)

    # -- deletion -------------------------------------------------------------------------

    def delete(self, ref: ModelRef, actor: str = "", now: float | None = None) -> list[str]:
        """Remove registry entries (never files). The digests are remembered so that
        agents do not list the content again until someone registers it."""
        now = now or time.time()
        model = self.db.one("SELECT id FROM models WHERE name = ?", [ref.name])
        if not model:
            raise NotFound(f"unknown model {ref.name!r}")
        if not ref.names_a_version:
            ids = [r["id"] for r in self.db.query("SELECT id FROM versions WHERE model_id = ?", [model["id"]])]
        else:
            ids = [self.versions.resolve(ref)]
        deleted = []
        with self.db.atomic():
            for version_id in ids:
                row = self.db["versions"].get(version_id)
                deleted.append(self.db.version_ref(version_id))
                self.db["tombstones"].upsert({"digest": row["digest"], "deleted_at": now, "deleted_by": actor},
                                             pk="digest")
                self.forget_version(version_id)
                for table in ("copies", "version_files", "version_tags", "version_roles"):
                    self.db.execute(f"DELETE FROM {table} WHERE version_id = ?", [version_id])
                self.db.execute("DELETE FROM versions WHERE id = ?", [version_id])
            if not self.db.one("SELECT 1 AS x FROM versions WHERE model_id = ?", [model["id"]]):
                self.db.execute("DELETE FROM models WHERE id = ?", [model["id"]])
            self.db.record_event(actor, "model.delete", str(ref), {"versions": deleted})
        return deleted

    def forget_version(self, version_id: int) -> None:
        """The catalog's rows of a version that is being deleted."""
        for table in ("version_metrics", "version_params", "version_capabilities", "version_backends",
                      "version_datasets", "state_history"):
            self.db.execute(f"DELETE FROM {table} WHERE version_id = ?", [version_id])
        self.db.execute("DELETE FROM lineage WHERE child_id = ? OR parent_id = ?", [version_id, version_id])
        for alias in list(self.db.query("SELECT model_id, alias, protected FROM aliases WHERE version_id = ?",
                                        [version_id])):
            self.aliases.record_change(alias["model_id"], alias["alias"], version_id, None, "remove",
                                       alias["protected"], "system", "version deleted", time.time())
        self.db.execute("DELETE FROM aliases WHERE version_id = ?", [version_id])
