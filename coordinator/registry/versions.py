"""Reading versions: references resolved to version ids, and versions as the dicts every
listing answers with (their copies, with each host's status, and the catalog's facts)."""
from __future__ import annotations

import json
import logging
import sqlite3
import time
from typing import Any

from llmesh.common.errors import Internal, NotFound
from llmesh.common.names import ModelRef
from llmesh.coordinator.registry import listing
from llmesh.coordinator.registry.database import Database, chunks
from llmesh.coordinator.registry.facts import param_value
from llmesh.coordinator.registry.hosts import host_status

log = logging.getLogger(__name__)
NOTICE_LISTING_ROWS = 10_000


class VersionsRepository:
    def __init__(self, db: Database, chunk_encoder: listing.ChunkEncoder | None = None):
        self.db = db
        self.chunk_encoder = chunk_encoder

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

    def matching(self, where: str, params: list, connected: frozenset[str], *, order: str = "m.name, v.number",
                 order_params: list | None = None, limit: int = -1, offset: int = 0,
                 as_chunks: bool = False) -> list[dict] | list[tuple[bytes, list[dict]]]:
        """The versions a WHERE clause over ``versions v JOIN models m`` selects, as dicts, by name
        and number or in ``order`` (its own parameters), at most ``limit`` of them (-1: all);
        ``connected``: the agents whose links are open (host status). as_chunks: each version as
        (its wire chunk, its copies) instead, made by the registry's chunk encoder."""
        if as_chunks:
            return self._matching_chunks(where, params, connected, order, order_params or [], limit, offset)
        rows = self.db.conn.execute(
            f"SELECT v.id, vl.body FROM versions v JOIN models m ON m.id = v.model_id "
            f"LEFT JOIN {listing.TABLE} vl ON vl.version_id = v.id "
            f"WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
            params + (order_params or []) + [limit, offset]).fetchall()
        if not rows:
            return []
        loads = _CODEC.loads
        if all(body is not None for _, body in rows):  # the usual case
            found = [(vid, loads(body)) for vid, body in rows]
        else:
            built, _ = self._build([vid for vid, body in rows if body is None])
            found = [(vid, loads(body) if body is not None else built[vid])
                     for vid, body in rows if body is not None or vid in built]
        return self._with_copies(found, connected)

    def built_afresh(self, version_ids: list[int], connected: frozenset[str]) -> list[dict]:
        """The versions' dicts read from their tables, not from their listing rows (what those must equal)."""
        rows = self.db.conn.execute(
            f"SELECT {_VERSION_COLUMNS} FROM versions v JOIN models m ON m.id = v.model_id "
            "WHERE v.id IN (SELECT value FROM json_each(?)) ORDER BY m.name, v.number",
            [json.dumps(version_ids)]).fetchall()
        return self._with_copies(list(self._versions(rows).items()), connected)

    def fill_listing(self) -> int:
        """Listing rows for every version that lacks one (a new registry, or one whose format
        changed); how many were built. A registry that cannot be written is left as it is."""
        try:
            with self.db.atomic():
                listing.ensure(self.db.conn, _LISTING_FORMAT)
            missing = listing.unlisted(self.db.conn)
            if len(missing) >= NOTICE_LISTING_ROWS:  # a start that takes a while says why
                log.info("building the listing rows of %d versions (once after an upgrade)", len(missing))
            for ids in chunks(missing, 500):
                self._build(ids)
            if self.chunk_encoder is not None:  # rows kept without a chunk, or in another layout
                for rows in chunks(listing.unchunked(self.db.conn, _LISTING_FORMAT, self.chunk_encoder.format), 500):
                    self._keep_chunks(rows)
        except sqlite3.OperationalError:
            return 0
        return len(missing)

    def _matching_chunks(self, where: str, params: list, connected: frozenset[str], order: str,
                         order_params: list, limit: int, offset: int) -> list[tuple[bytes, list[dict]]]:
        encoder = self.chunk_encoder
        if encoder is None:
            raise Internal("this registry was opened without a chunk encoder")
        rows = self.db.conn.execute(
            # The row's dict only where its chunk will be made from it (a chunk of another layout, or none).
            f"SELECT v.id, CASE WHEN vl.chunk_format = ? THEN vl.chunk END, "
            f"CASE WHEN vl.chunk_format IS NOT ? THEN vl.body END "
            f"FROM versions v JOIN models m ON m.id = v.model_id "
            f"LEFT JOIN {listing.TABLE} vl ON vl.version_id = v.id "
            f"WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
            [encoder.format, encoder.format] + params + order_params + [limit, offset]).fetchall()
        if not rows:
            return []
        found = [(vid, chunk) for vid, chunk, _ in rows]
        if any(chunk is None for _, chunk in found):  # rows kept by a process without the encoder, or none yet
            stale = [(vid, body) for vid, chunk, body in rows if chunk is None and body is not None]
            made = self._keep_chunks(stale) if stale else {}
            built, kept = self._build([vid for vid, chunk, body in rows if chunk is None and body is None])
            made.update((vid, kept.get(vid) or encoder.encode(version)) for vid, version in built.items())
            found = [(vid, chunk if chunk is not None else made[vid]) for vid, chunk in found
                     if chunk is not None or vid in made]
        copies = self._copies(json.dumps([vid for vid, _ in found]), connected)
        return [(chunk, copies.get(vid, [])) for vid, chunk in found]

    def _keep_chunks(self, rows: list[tuple[int, bytes]]) -> dict[int, bytes]:
        """Chunks made from kept rows (version id, body), and kept beside them where they can be."""
        encoder = self.chunk_encoder
        made = {vid: encoder.encode(_CODEC.loads(body)) for vid, body in rows}
        try:
            with self.db.atomic():
                listing.keep_chunks(self.db.conn, _LISTING_FORMAT, encoder.format,
                                    [(made[vid], vid, body) for vid, body in rows])
        except sqlite3.OperationalError:  # busy, or read-only: answer without keeping
            pass
        return made

    def _build(self, version_ids: list[int]) -> tuple[dict[int, dict], dict[int, bytes]]:
        """The versions' dicts (without copies) and, with an encoder, their chunks, read and kept as
        listing rows in one transaction: a write by another connection in between fails the keeping,
        never keeps a stale row (then the dicts come without chunks)."""
        ids = json.dumps(version_ids)
        sql = (f"SELECT {_VERSION_COLUMNS} FROM versions v JOIN models m ON m.id = v.model_id "
               "WHERE v.id IN (SELECT value FROM json_each(?))")
        encoder = self.chunk_encoder
        try:
            with self.db.atomic():
                versions = self._versions(self.db.conn.execute(sql, [ids]).fetchall())
                made = {vid: encoder.encode(v) for vid, v in versions.items()} if encoder is not None else {}
                listing.keep(self.db.conn, _LISTING_FORMAT,
                             [(vid, _CODEC.dumps(v), made.get(vid)) for vid, v in versions.items()],
                             encoder.format if encoder is not None else None)
        except sqlite3.OperationalError:  # busy, or read-only: answer without keeping
            return self._versions(self.db.conn.execute(sql, [ids]).fetchall()), {}
        return versions, made

    def _with_copies(self, found: list[tuple[int, dict]], connected: frozenset[str]) -> list[dict]:
        """The versions, each with its copies read now: a scan re-verifies every copy on its host
        each minute, so they change too often to keep (and their hosts' status with the moment)."""
        copies = self._copies(json.dumps([vid for vid, _ in found]), connected)
        versions = []
        for vid, version in found:
            version["copies"] = copies.get(vid, [])
            versions.append(version)
        return versions

    def _versions(self, rows: list[tuple]) -> dict[int, dict]:
        """Version id -> its dict, from rows of _VERSION_COLUMNS, without its copies (_with_copies)."""
        if not rows:
            return {}
        # One constant statement per table for any number of versions (json_each, not an IN list
        # per count): SQLite prepares each once and keeps it.
        ids = json.dumps([r[0] for r in rows])
        found = self._catalog_facts(ids)
        tags, roles, metrics, params, capabilities, aliases, parents, datasets, backends = found
        versions = {}
        for (vid, name, number, digest, kind, fmt, source, size_bytes, file_count, metadata, base_model,
             registered, notes, display_name, created_at, updated_at, semver, label, status, state, locked,
             last_verified, framework, hardware, duration_s, cost_usd, code_commit, extra, created_by,
             description) in rows:
            versions[vid] = {
                "name": name, "version": number, "digest": digest, "kind": kind, "format": fmt,
                "source": source, "size_bytes": size_bytes, "file_count": file_count,
                "metadata": _json_object(metadata), "base_model": base_model, "registered": bool(registered),
                "notes": notes, "display_name": display_name, "created_at": created_at, "updated_at": updated_at,
                "copies": [],
                "semver": semver or "", "label": label or "", "status": status, "state": state,
                "locked": bool(locked), "last_verified": last_verified or 0.0, "framework": framework,
                "hardware": hardware, "duration_s": duration_s, "cost_usd": cost_usd, "code_commit": code_commit,
                "extra": _json_object(extra), "created_by": created_by, "description": description or "",
                "tags": tags.get(vid, {}), "roles": roles.get(vid, []), "metrics": metrics.get(vid, {}),
                "params": params.get(vid, {}), "capabilities": capabilities.get(vid, {}),
                "aliases": aliases.get(vid, []), "parents": parents.get(vid, []),
                "datasets": datasets.get(vid, []), "backends": backends.get(vid, []),
            }
        return versions

    def _copies(self, ids: str, connected: frozenset[str]) -> dict[int, list]:
        # CROSS JOIN: copies first, by version (left to itself, SQLite walks every host's copies).
        copies: dict[int, list] = {}
        statuses: dict[str, str] = {}  # per host, worked out once
        now = time.time()
        for vid, path, state, verified_at, host, last_seen, interval, host_id in self.db.conn.execute(
                "SELECT c.version_id, c.path, c.state, c.verified_at, h.name, h.last_seen, "
                "h.heartbeat_interval_s, h.id FROM copies c CROSS JOIN hosts h ON h.id = c.host_id "
                "WHERE c.version_id IN (SELECT value FROM json_each(?)) ORDER BY h.name, c.path", [ids]):
            status = statuses.get(host_id)
            if status is None:
                status = statuses[host_id] = host_status(
                    {"id": host_id, "last_seen": last_seen, "heartbeat_interval_s": interval}, connected, now)
            copies.setdefault(vid, []).append({"host": host, "path": path, "state": state,
                                               "verified_at": verified_at, "host_status": status})
        return copies

    def _catalog_facts(self, ids: str) -> tuple[dict[int, Any], ...]:
        """Per version id: tags, roles, metrics, params, capabilities, aliases, parents, datasets
        and backends, each in key (or name) order."""
        tags: dict[int, dict] = {}
        metrics: dict[int, dict] = {}
        params: dict[int, dict] = {}
        capabilities: dict[int, dict] = {}
        roles: dict[int, list] = {}
        aliases: dict[int, list] = {}
        backends: dict[int, list] = {}
        datasets: dict[int, list] = {}
        parents: dict[int, list] = {}
        # One round trip for the small per-version tables (listings read this for every row).
        # Sorted by (kind, version, key: unique in each table), the dicts and lists come out in key order.
        rows = self.db.conn.execute(_CATALOG_FACTS, [ids]).fetchall()
        rows.sort()
        for kind, vid, key, value, num in rows:
            if kind == 0:
                tags.setdefault(vid, {})[key] = value
            elif kind == 1:
                roles.setdefault(vid, []).append(key)
            elif kind == 2:
                metrics.setdefault(vid, {})[key] = value
            elif kind == 3:
                params.setdefault(vid, {})[key] = param_value(value, num)
            elif kind == 4:
                capabilities.setdefault(vid, {})[key] = bool(value)
            elif kind == 5:
                aliases.setdefault(vid, []).append(key)
            elif kind == 6:
                datasets.setdefault(vid, []).append({"name": key, "digest": value})
            else:
                backends.setdefault(vid, []).append(key)
        for child, relation, name, number in self.db.conn.execute(
                "SELECT l.child_id, l.relation, m.name, v.number FROM lineage l "
                "JOIN versions v ON v.id = l.parent_id JOIN models m ON m.id = v.model_id "
                "WHERE l.child_id IN (SELECT value FROM json_each(?)) ORDER BY m.name, v.number", [ids]):
            parents.setdefault(child, []).append({"name": name, "version": number, "relation": relation})
        return tags, roles, metrics, params, capabilities, aliases, parents, datasets, backends


# The columns _versions unpacks, in its order.
_VERSION_COLUMNS = (
    "v.id, m.name, v.number, v.digest, v.kind, v.format, v.source, v.size_bytes, v.file_count, "
    "v.metadata_json, v.base_model, v.registered, v.notes, m.display_name, v.created_at, v.updated_at, "
    "v.semver, v.label, v.status, v.state, v.locked, v.last_verified, v.framework, v.hardware, v.duration_s, "
    "v.cost_usd, v.code_commit, v.extra_json, v.created_by, m.description")

# Each per-version table's rows for the versions in a JSON list, numbered by kind for _catalog_facts.
# The list drives (CROSS JOIN: one index search per id), cheaper than `IN (json_each)`, which first
# builds a temporary index of the ids for each of the eight tables.
_CATALOG_FACTS = " UNION ALL ".join(
    f"SELECT {kind}, t.version_id, {', '.join(c if c == 'NULL' else 't.' + c for c in columns)} "
    f"FROM json_each(?1) j CROSS JOIN {table} t ON t.version_id = j.value"
    for kind, (table, columns) in enumerate([
        ("version_tags", ("key", "value", "NULL")),
        ("version_roles", ("role", "NULL", "NULL")),
        ("version_metrics", ("key", "value", "NULL")),
        ("version_params", ("key", "value", "num")),
        ("version_capabilities", ("key", "value", "NULL")),
        ("aliases", ("alias", "NULL", "NULL")),
        ("version_datasets", ("name", "digest", "NULL")),
        ("version_backends", ("backend", "NULL", "NULL")),
    ]))


# The keys of a version dict, in the order _versions writes them (a listing row holds the values).
_CODEC = listing.Codec((
    "name", "version", "digest", "kind", "format", "source", "size_bytes", "file_count", "metadata", "base_model",
    "registered", "notes", "display_name", "created_at", "updated_at", "copies", "semver", "label", "status",
    "state", "locked", "last_verified", "framework", "hardware", "duration_s", "cost_usd", "code_commit", "extra",
    "created_by", "description", "tags", "roles", "metrics", "params", "capabilities", "aliases", "parents",
    "datasets", "backends"))
# Bump the string when _versions changes how a dict is made: rows of another format are rebuilt.
_LISTING_FORMAT = listing.format_of("version dict 2", _VERSION_COLUMNS, _CATALOG_FACTS, repr(_CODEC.keys))


def _json_object(text: str | None) -> Any:
    # Most versions hold no metadata or extra fields: skip the parser for those.
    return {} if not text or text == "{}" else json.loads(text)
