"""Export the whole registry as one JSON document, and import such a document (or what
coordinator/importers.py made of a predecessor's file) back.

Export format ("llmesh-registry", format_version 1): hosts, models with their versions
(every column, files, tags, roles, capabilities, metrics, params, datasets, backends,
parents, copies, state history), aliases, alias history, tombstones and events.
Models and versions are named by name and number, never by row id.

An import runs in one transaction: a version that cannot be imported is reported and
skipped, everything else goes in; an unexpected failure leaves the registry untouched.
A version whose digest already exists is merged (blank facts filled in), not duplicated.
Paths are checked first, as strictly as those agents report: a file path that leaves its
version's directory, or a copy path that is not an absolute path in its host's syntax,
refuses the whole import (one line naming the record), before anything is written.
"""
from __future__ import annotations

import json
import re
import time

from llmesh.common.errors import InvalidArgument, MeshError
from llmesh.common.names import check_name, is_version_label
from llmesh.common.paths import check_copy_path, check_file_path, native_copy_path
from llmesh.coordinator.registry.aliases import AliasesRepository
from llmesh.coordinator.registry.catalog import CatalogRepository
from llmesh.coordinator.registry.database import Database, decode_json_columns
from llmesh.coordinator.registry.facts import (
    RELATIONS,
    STATES,
    STATUSES,
    check_key,
    check_semver,
    metric_name,
    metric_value,
    param_row,
    param_value,
    semver_key,
)
from llmesh.coordinator.registry.models import ModelsRepository

FORMAT = "llmesh-registry"
VERSION_FIELDS = ("number", "digest", "kind", "format", "source", "size_bytes", "file_count", "base_model",
                  "registered", "notes", "created_by", "created_at", "updated_at", "semver", "status", "state",
                  "locked", "locked_digest", "last_verified", "framework", "hardware", "duration_s", "cost_usd",
                  "code_commit", "label")
MERGED_TEXT = ("base_model", "notes", "framework", "hardware", "code_commit")


class _DryRun(Exception):
    pass


class ExchangeRepository:
    def __init__(self, db: Database, models: ModelsRepository, catalog: CatalogRepository,
                 aliases: AliasesRepository):
        self.db = db
        self.models = models
        self.catalog = catalog
        self.aliases = aliases

    # -- export ---------------------------------------------------------------------------

    def export_all(self) -> dict:
        hosts = [decode_json_columns(r) for r in self.db.query("SELECT * FROM hosts ORDER BY name")]
        models = []
        for m in self.db.query("SELECT * FROM models ORDER BY name"):
            model = {k: m[k] for k in ("name", "origin", "display_name", "description", "owner", "created_at",
                                       "updated_at")}
            model["extra"] = json.loads(m["extra_json"] or "{}")
            model["versions"] = [self._export_version(v) for v in self.db.query(
                "SELECT * FROM versions WHERE model_id = ? ORDER BY number", [m["id"]])]
            models.append(model)
        aliases = [dict(r) for r in self.db.query(
            "SELECT m.name, a.alias, v.number AS version, a.protected, a.updated_at, a.updated_by FROM aliases a "
            "JOIN models m ON m.id = a.model_id JOIN versions v ON v.id = a.version_id ORDER BY m.name, a.alias")]
        history = [{"name": r["model_name"], "alias": r["alias"], "from_version": r["from_number"],
                    "to_version": r["to_number"], "action": r["action"], "protected": r["protected"],
                    "actor": r["actor"], "reason": r["reason"], "at": r["ts"]}
                   for r in self.db.query("SELECT * FROM alias_history ORDER BY id")]
        return {"format": FORMAT, "format_version": 1, "exported_at": time.time(), "hosts": hosts,
                "models": models, "aliases": aliases, "alias_history": history,
                "tombstones": [dict(r) for r in self.db.query("SELECT * FROM tombstones ORDER BY digest")],
                "events": [{k: v for k, v in decode_json_columns(r).items() if k != "id"}
                           for r in self.db.query("SELECT * FROM events ORDER BY id")]}

    def _export_version(self, row: dict) -> dict:
        vid = row["id"]
        out = {k: row[k] for k in VERSION_FIELDS}
        out["registered"] = bool(out["registered"])
        out["locked"] = bool(out["locked"])
        out["metadata"] = json.loads(row["metadata_json"] or "{}")
        out["extra"] = json.loads(row["extra_json"] or "{}")
        query = lambda sql: list(self.db.query(sql, [vid]))  # noqa: E731
        out["files"] = [dict(r) for r in query("SELECT path, size, digest FROM version_files WHERE version_id = ? "
                                               "ORDER BY path")]
        out["tags"] = {r["key"]: r["value"] for r in query("SELECT key, value FROM version_tags WHERE version_id = ? "
                                                           "ORDER BY key")}
        out["roles"] = [r["role"] for r in query("SELECT role FROM version_roles WHERE version_id = ? ORDER BY role")]
        out["capabilities"] = {r["key"]: bool(r["value"]) for r in query(
            "SELECT key, value FROM version_capabilities WHERE version_id = ? ORDER BY key")}
        out["metrics"] = {r["key"]: r["value"] for r in query(
            "SELECT key, value FROM version_metrics WHERE version_id = ? ORDER BY key")}
        out["params"] = {r["key"]: param_value(r["value"], r["num"]) for r in query(
            "SELECT key, value, num FROM version_params WHERE version_id = ? ORDER BY key")}
        out["datasets"] = [dict(r) for r in query(
            "SELECT name, digest FROM version_datasets WHERE version_id = ? ORDER BY name")]
        out["backends"] = [r["backend"] for r in query(
            "SELECT backend FROM version_backends WHERE version_id = ? ORDER BY backend")]
        out["parents"] = [dict(r) for r in query(
            "SELECT m.name, v.number AS version, l.relation, l.created_at FROM lineage l JOIN versions v "
            "ON v.id = l.parent_id JOIN models m ON m.id = v.model_id WHERE l.child_id = ? ORDER BY m.name, v.number")]
        out["copies"] = [dict(r) for r in query(
            "SELECT c.host_id, h.name AS host, c.path, c.state, c.verified_at, c.updated_at FROM copies c "
            "JOIN hosts h ON h.id = c.host_id WHERE c.version_id = ? ORDER BY h.name, c.path")]
        out["state_history"] = [dict(r) for r in query(
            "SELECT from_state, to_state, actor, reason, ts FROM state_history WHERE version_id = ? ORDER BY id")]
        return out

    # -- import ---------------------------------------------------------------------------

    def import_bundle(self, bundle: dict, actor: str = "", dry_run: bool = False, now: float | None = None) -> dict:
        now = now or time.time()
        report = {"format": bundle.get("source_format", "llmesh"), "models": 0, "versions": 0, "merged": 0,
                  "skipped": 0, "problems": list(bundle.get("problems") or []), "dry_run": dry_run}
        exact = bool(bundle.get("exact"))
        self._check_paths(bundle, exact)
        try:
            with self.db.atomic():
                if exact:
                    self._import_hosts(bundle.get("hosts") or [], report)
                edges, aliases = [], []
                for model in bundle.get("models") or []:
                    self._import_model(model, exact, report, edges, aliases, now)
                for child_id, parent, where in edges:
                    self._import_edge(child_id, parent, where, report, now)
                self._import_aliases(bundle.get("aliases") or [] if exact else aliases, report, now)
                if exact:
                    self._import_history(bundle, report)
                self.db.record_event(actor, "registry.import", report["format"],
                                     {k: report[k] for k in ("models", "versions", "merged", "skipped")})
                if dry_run:
                    raise _DryRun()
        except _DryRun:
            pass
        return report

    def _check_paths(self, bundle: dict, exact: bool) -> None:
        """Every file path and copy path in the bundle, or InvalidArgument naming the record."""
        platforms = {h["id"]: h["platform"] for h in self.db.query("SELECT id, platform FROM hosts")}
        platforms.update({h["id"]: h.get("platform") or "" for h in bundle.get("hosts") or []
                          if isinstance(h, dict) and isinstance(h.get("id"), str) and h["id"] not in platforms})
        by_name = {h["name"]: h["platform"] for h in self.db.query("SELECT name, platform FROM hosts")}
        for model in bundle.get("models") or []:
            if not isinstance(model, dict):
                continue
            for v in model.get("versions") or []:
                if not isinstance(v, dict):
                    continue
                where = _where(model.get("name"), v)
                try:
                    for f in v.get("files") or []:
                        check_file_path(f.get("path") if isinstance(f, dict) else f)
                    if exact:
                        for c in v.get("copies") or []:
                            platform = (platforms.get(c.get("host_id")) or by_name.get(c.get("host"), "")
                                        if isinstance(c, dict) else "")
                            check_copy_path(c.get("path") if isinstance(c, dict) else c, platform)
                    locations = v.get("locations")
                    for host, path in (locations.items() if isinstance(locations, dict) else ()):
                        check_copy_path(path, by_name.get(host, ""))
                except InvalidArgument as exc:
                    raise InvalidArgument(f"import refused, nothing imported: {where}: {exc}") from None

    def _import_hosts(self, hosts: list, report: dict) -> None:
        columns = set(self.db["hosts"].columns_dict)
        for host in hosts:
            if not isinstance(host, dict) or not host.get("id") or not host.get("name"):
                report["problems"].append(f"host {host!r}: needs an id and a name; skipped")
                continue
            if self.db.one("SELECT 1 AS x FROM hosts WHERE id = ?", [host["id"]]):
                continue
            if self.db.one("SELECT 1 AS x FROM hosts WHERE name = ?", [host["name"]]):
                report["problems"].append(f"host {host['name']}: the name belongs to another agent here; "
                                          "its copies are kept under extra")
                continue
            row = {}
            for key, value in host.items():
                if key in columns:
                    row[key] = value
                elif key + "_json" in columns:
                    row[key + "_json"] = json.dumps(value)
            self.db["hosts"].insert(row)

    def _import_model(self, model, exact: bool, report: dict, edges: list, aliases: list, now: float) -> None:
        if not isinstance(model, dict) or not isinstance(model.get("name"), str):
            report["problems"].append(f"model {str(model)[:80]!r}: no name; skipped")
            report["skipped"] += 1
            return
        name = model["name"]
        try:
            check_name(name)
        except MeshError as exc:
            report["problems"].append(f"{exc}; skipped")
            report["skipped"] += 1
            return
        row = self.db.one("SELECT id FROM models WHERE name = ?", [name])
        if row:
            model_id = row["id"]
            for key in ("display_name", "description", "owner"):
                if isinstance(model.get(key), str) and model[key]:
                    self.db.execute(f"UPDATE models SET {key} = ? WHERE id = ? AND {key} = ''",
                                    [model[key], model_id])
        else:
            model_id = self.db["models"].insert({
                "name": name, "origin": model.get("origin") or "registered",
                "display_name": _text(model.get("display_name")), "description": _text(model.get("description")),
                "owner": _text(model.get("owner")), "created_at": _time(model.get("created_at"), now),
                "updated_at": _time(model.get("updated_at"), now),
                "extra_json": json.dumps(model.get("extra") or {}, sort_keys=True)}).last_pk
            report["models"] += 1
        versions = [v for v in model.get("versions") or []]
        # Versions with a number first: a label-only one (afs "v2b") takes the next free number
        # after them, instead of the number a later version of the file asks for.
        versions.sort(key=lambda v: not (isinstance(v, dict) and isinstance(v.get("number"), int)))
        for version in versions:
            where = _where(name, version) if isinstance(version, dict) else name
            try:
                with self.db.atomic():  # a savepoint: a bad version leaves nothing behind
                    vid = self._import_version(model_id, name, version, exact, report, now)
            except (MeshError, KeyError, TypeError, ValueError, AttributeError) as exc:
                report["problems"].append(f"{where}: {exc}; skipped")
                report["skipped"] += 1
                continue
            for parent in version.get("parents") or []:
                edges.append((vid, parent, where))
            for alias in version.get("aliases") or []:
                aliases.append({"name": name, "alias": alias, "version_id": vid, "protected": 0,
                                "updated_at": now, "updated_by": "import"})

    def _import_version(self, model_id: int, name: str, v: dict, exact: bool, report: dict, now: float) -> int:
        where = _where(name, v)
        digest = v["digest"]
        if not isinstance(digest, str) or not digest:
            raise ValueError("digest missing")
        existing = self.db.one("SELECT id, model_id FROM versions WHERE digest = ?", [digest])
        if existing:
            self._merge_version(existing["id"], v, where, report)
            report["merged"] += 1
            return existing["id"]
        number = v.get("number")
        if not isinstance(number, int) or isinstance(number, bool) or number < 1 or self.db.one(
                "SELECT 1 AS x FROM versions WHERE model_id = ? AND number = ?", [model_id, number]):
            if number is not None:
                report["problems"].append(f"{where}: version number taken or invalid; numbered automatically")
            number = self.models.next_number(model_id)
        semver = None
        if v.get("semver"):
            semver = check_semver(v["semver"])
            if self.db.one("SELECT 1 AS x FROM versions WHERE model_id = ? AND semver = ?", [model_id, semver]):
                report["problems"].append(f"{where}: semver {semver} is taken in {name}; kept under extra")
                semver = None
        label = v.get("label") or None
        if label is not None and not (is_version_label(label) and not self.db.one(
                "SELECT 1 AS x FROM versions WHERE model_id = ? AND label = ?", [model_id, label])):
            report["problems"].append(f"{where}: label {label!r} is taken in {name} or invalid; kept under extra")
            label = None
        state = v.get("state") or "active"
        if state not in STATES:
            report["problems"].append(f"{where}: unknown state {state!r}; imported as active")
            state = "active"
        status = v.get("status") or "pending"
        if status not in STATUSES:
            report["problems"].append(f"{where}: unknown status {status!r}; imported as pending")
            status = "pending"
        extra = dict(v.get("extra") or {})
        if v.get("semver") and semver is None:
            extra["semver"] = v["semver"]
        if v.get("label") and label is None:
            extra["label"] = v["label"]
        files = v.get("files") or []
        row = {"model_id": model_id, "number": number, "digest": digest, "kind": v.get("kind") or "model",
               "format": _text(v.get("format")), "source": _text(v.get("source")),
               "size_bytes": int(v.get("size_bytes") or sum(f["size"] for f in files)),
               "file_count": int(v.get("file_count") or len(files)),
               "metadata_json": json.dumps(v.get("metadata") or {}, sort_keys=True),
               "base_model": _text(v.get("base_model")), "registered": int(v.get("registered", True)),
               "notes": _text(v.get("notes")), "created_by": _text(v.get("created_by")) if exact else "import",
               "created_at": _time(v.get("created_at"), now), "updated_at": _time(v.get("updated_at"), now),
               "semver": semver, "semver_key": semver_key(semver), "label": label, "status": status,
               "state": state, "locked": int(bool(v.get("locked"))),
               "locked_digest": v.get("locked_digest"), "last_verified": v.get("last_verified"),
               "framework": _text(v.get("framework")), "hardware": _text(v.get("hardware")),
               "duration_s": _number(v.get("duration_s")), "cost_usd": _number(v.get("cost_usd")),
               "code_commit": _text(v.get("code_commit")), "extra_json": json.dumps(extra, sort_keys=True)}
        vid = self.db["versions"].insert(row).last_pk
        self.db["version_files"].insert_all(
            ({"version_id": vid, "path": f["path"], "size": f["size"], "digest": f["digest"]} for f in files),
            batch_size=500)
        self._import_facts(vid, v, where, report)
        self._import_copies(vid, v, exact, where, report)
        for h in v.get("state_history") or []:
            self.db["state_history"].insert({"version_id": vid, "from_state": h["from_state"],
                                             "to_state": h["to_state"], "actor": h["actor"],
                                             "reason": h["reason"], "ts": h["ts"]})
        report["versions"] += 1
        return vid

    def _import_facts(self, vid: int, v: dict, where: str, report: dict) -> None:
        for key, value in (v.get("tags") or {}).items():
            self.db.execute("INSERT OR IGNORE INTO version_tags (version_id, key, value) VALUES (?, ?, ?)",
                            [vid, check_key(key, "tag"), str(value)])
        for role in v.get("roles") or []:
            self.db.execute("INSERT OR IGNORE INTO version_roles (version_id, role) VALUES (?, ?)",
                            [vid, check_key(role, "role")])
        for key, value in (v.get("capabilities") or {}).items():
            self.db.execute("INSERT OR IGNORE INTO version_capabilities (version_id, key, value) VALUES (?, ?, ?)",
                            [vid, check_key(key, "capability"), int(bool(value))])
        for key, value in (v.get("metrics") or {}).items():
            try:
                name = metric_name(key)
                self.db.execute("INSERT OR IGNORE INTO version_metrics (version_id, key, value) VALUES (?, ?, ?)",
                                [vid, name, metric_value(name, value)])
            except MeshError as exc:
                report["problems"].append(f"{where}: {exc}; kept under extra.source")
        for key, value in (v.get("params") or {}).items():
            try:
                text, number = param_row(key, value)
            except MeshError as exc:
                report["problems"].append(f"{where}: {exc}; kept under extra.source")
                continue
            self.db.execute("INSERT OR IGNORE INTO version_params (version_id, key, value, num) VALUES (?, ?, ?, ?)",
                            [vid, key, text, number])
        for dataset in v.get("datasets") or []:
            self.db.execute("INSERT OR IGNORE INTO version_datasets (version_id, name, digest) VALUES (?, ?, ?)",
                            [vid, dataset["name"], dataset.get("digest") or ""])
        for backend in v.get("backends") or []:
            self.db.execute("INSERT OR IGNORE INTO version_backends (version_id, backend) VALUES (?, ?)",
                            [vid, check_key(backend, "backend")])

    def _import_copies(self, vid: int, v: dict, exact: bool, where: str, report: dict) -> None:
        if exact:
            copies = v.get("copies") or []
        else:
            copies = [{"host": h, "path": p, "state": "unverified"} for h, p in (v.get("locations") or {}).items()]
        for copy in copies:
            host = self.db.one("SELECT id, platform FROM hosts WHERE id = ?", [copy.get("host_id")]) \
                if copy.get("host_id") else self.db.one("SELECT id, platform FROM hosts WHERE name = ?",
                                                        [copy.get("host") or ""])
            if host and not exact:  # as that host's agent writes it, so that its scan finds the copy
                copy["path"] = native_copy_path(copy["path"], host["platform"])
            taken = host and self.db.one("SELECT 1 AS x FROM copies WHERE host_id = ? AND path = ?",
                                         [host["id"], copy["path"]])
            if not host or taken:
                why = "already holds another version" if taken else \
                    f"no host named {copy.get('host')!r}" if copy.get("host") else "no host given"
                report["problems"].append(f"{where}: location {copy['path']}: {why}; kept under extra")
                extra = json.loads(self.db["versions"].get(vid)["extra_json"])
                extra.setdefault("locations", []).append(copy)
                self.db.execute("UPDATE versions SET extra_json = ? WHERE id = ?",
                                [json.dumps(extra, sort_keys=True), vid])
                continue
            self.db["copies"].insert({"version_id": vid, "host_id": host["id"], "path": copy["path"],
                                      "state": copy.get("state") or "unverified",
                                      "verified_at": copy.get("verified_at"), "updated_at": copy.get("updated_at")})

    def _merge_version(self, vid: int, v: dict, where: str, report: dict) -> None:
        row = self.db["versions"].get(vid)
        updates = {k: v[k] for k in MERGED_TEXT if isinstance(v.get(k), str) and v[k] and not row[k]}
        if v.get("semver") and not row["semver"]:
            label = check_semver(v["semver"])
            if not self.db.one("SELECT 1 AS x FROM versions WHERE model_id = ? AND semver = ?",
                               [row["model_id"], label]):
                updates["semver"], updates["semver_key"] = label, semver_key(label)
        if v.get("label") and not row["label"] and is_version_label(v["label"]) and not self.db.one(
                "SELECT 1 AS x FROM versions WHERE model_id = ? AND label = ?", [row["model_id"], v["label"]]):
            updates["label"] = v["label"]
        extra = json.loads(row["extra_json"] or "{}")
        for key, value in (v.get("extra") or {}).items():
            if key == "source" and "source" in extra and extra["source"] != value:
                extra.setdefault("sources", []).append(value)  # a second file about the same version
            else:
                extra.setdefault(key, value)
        updates["extra_json"] = json.dumps(extra, sort_keys=True)
        self.db["versions"].update(vid, updates)
        self._import_facts(vid, v, where, report)

    def _import_edge(self, child_id: int, parent, where: str, report: dict, now: float) -> None:
        try:
            name = parent["name"]
            number = parent.get("version")
            if number is None:  # a predecessor's label: vN, a kept label (v2b), or a semver label
                label = str(parent.get("label") or "")
                match = re.fullmatch(r"v?(\d+)", label)
                if match:
                    row = self.db.one("SELECT v.id FROM versions v JOIN models m ON m.id = v.model_id "
                                      "WHERE m.name = ? AND v.number = ?", [name, int(match.group(1))])
                else:
                    row = self.db.one("SELECT v.id FROM versions v JOIN models m ON m.id = v.model_id "
                                      "WHERE m.name = ? AND (v.label = ? OR v.semver = ?) ORDER BY v.label = ? DESC",
                                      [name, label, label.lstrip("v"), label])
            else:
                row = self.db.one("SELECT v.id FROM versions v JOIN models m ON m.id = v.model_id WHERE m.name = ? "
                                  "AND v.number = ?", [name, number])
            if not row:
                raise ValueError(f"parent {name}:{number or parent.get('label')} is not in the registry")
            relation = parent.get("relation") or "finetune"
            if relation not in RELATIONS:
                raise ValueError(f"unknown relation {relation!r}")
            with self.db.atomic():
                self.catalog.add_parent(child_id, row["id"], relation, parent.get("created_at") or now)
        except (MeshError, KeyError, TypeError, ValueError) as exc:
            report["problems"].append(f"{where}: lineage not imported: {exc}")

    def _import_aliases(self, aliases: list, report: dict, now: float) -> None:
        for alias in aliases:
            try:
                model = self.db.one("SELECT id FROM models WHERE name = ?", [alias["name"]])
                vid = alias.get("version_id") or (self.db.one(
                    "SELECT id FROM versions WHERE model_id = ? AND number = ?", [model["id"], alias["version"]])
                    or {}).get("id")
                if not model or not vid:
                    raise ValueError("its model or version is not in the registry")
                if self.db.one("SELECT 1 AS x FROM aliases WHERE model_id = ? AND alias = ?",
                               [model["id"], alias["alias"]]):
                    raise ValueError("the alias is already set here")
                self.db["aliases"].insert({"model_id": model["id"], "alias": alias["alias"], "version_id": vid,
                                           "protected": int(bool(alias.get("protected"))),
                                           "updated_at": alias.get("updated_at") or now,
                                           "updated_by": alias.get("updated_by") or ""})
                if "version_id" in alias:  # from a predecessor file: record how it came to be
                    self.aliases.record_change(model["id"], alias["alias"], None, vid, "set", 0, "import",
                                               "imported", now)
            except (MeshError, KeyError, TypeError, ValueError) as exc:
                report["problems"].append(f"alias {alias.get('name')}@{alias.get('alias')}: {exc}; not imported")

    def _import_history(self, bundle: dict, report: dict) -> None:
        for h in bundle.get("alias_history") or []:
            model = self.db.one("SELECT id FROM models WHERE name = ?", [h.get("name")])
            if not model:
                report["problems"].append(f"alias history of {h.get('name')}: model not imported; skipped")
                continue
            self.db["alias_history"].insert({
                "model_id": model["id"], "model_name": h["name"], "alias": h["alias"],
                "from_number": h.get("from_version"), "to_number": h.get("to_version"), "action": h["action"],
                "protected": int(bool(h.get("protected"))), "actor": h.get("actor") or "",
                "reason": h.get("reason") or "", "ts": h["at"]})
        for t in bundle.get("tombstones") or []:
            self.db.execute("INSERT OR IGNORE INTO tombstones (digest, deleted_at, deleted_by) VALUES (?, ?, ?)",
                            [t["digest"], t.get("deleted_at"), t.get("deleted_by")])
        columns = set(self.db["events"].columns_dict) - {"id"}
        for e in bundle.get("events") or []:
            row = {k: v for k, v in e.items() if k in columns}  # every column the audit log has
            row["detail_json"] = json.dumps(e.get("detail") or {}, sort_keys=True)
            self.db["events"].insert(row)


def _where(name, v: dict) -> str:
    """How the report names a version of the file: NAME vN, or NAME and its label."""
    if v.get("number"):
        return f"{name} v{v['number']}"
    return f"{name} {v.get('label') or v.get('semver') or '?'}"


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _number(value):
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _time(value, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


class BulkLoader:
    """Fast inserts of many synthetic versions (bench/registry.py): one transaction,
    executemany per table, ids assigned here, statistics refreshed at the end.
    Records: {name, versions: [{number, digest, kind, format, size_bytes, created_at, state,
    base_model, files, tags, metrics, params, roles, capabilities, backends, copies: [(host_id, path)]}]}."""

    def __init__(self, db: Database):
        self.db = db
        self.next_model = (db.one("SELECT MAX(id) AS n FROM models", [])["n"] or 0) + 1
        self.next_version = (db.one("SELECT MAX(id) AS n FROM versions", [])["n"] or 0) + 1

    def load(self, models: list[dict]) -> None:
        rows: dict[str, list] = {k: [] for k in ("models", "versions", "files", "tags", "metrics", "params", "roles",
                                                 "caps", "backends", "copies")}
        for model in models:
            model_id, self.next_model = self.next_model, self.next_model + 1
            rows["models"].append((model_id, model["name"], "registered", "", "", model["created_at"],
                                   model["created_at"]))
            for v in model["versions"]:
                vid, self.next_version = self.next_version, self.next_version + 1
                rows["versions"].append((vid, model_id, v["number"], v["digest"], v["kind"], v["format"], "dir",
                                         v["size_bytes"], len(v["files"]), "{}", v.get("base_model", ""), 1, "",
                                         "bench", v["created_at"], v["created_at"], "ready", v["state"]))
                rows["files"] += [(vid, f["path"], f["size"], f["digest"]) for f in v["files"]]
                rows["tags"] += [(vid, k, val) for k, val in v.get("tags", {}).items()]
                rows["metrics"] += [(vid, k, val) for k, val in v.get("metrics", {}).items()]
                rows["params"] += [(vid, k, *param_row(k, val)) for k, val in v.get("params", {}).items()]
                rows["roles"] += [(vid, r) for r in v.get("roles", [])]
                rows["caps"] += [(vid, k, int(val)) for k, val in v.get("capabilities", {}).items()]
                rows["backends"] += [(vid, b) for b in v.get("backends", [])]
                rows["copies"] += [(vid, host, path, "verified", v["created_at"], v["created_at"])
                                   for host, path in v.get("copies", [])]
        conn = self.db.conn
        with self.db.atomic():
            conn.executemany("INSERT INTO models (id, name, origin, display_name, description, created_at, "
                             "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)", rows["models"])
            conn.executemany("INSERT INTO versions (id, model_id, number, digest, kind, format, source, size_bytes, "
                             "file_count, metadata_json, base_model, registered, notes, created_by, created_at, "
                             "updated_at, status, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             rows["versions"])
            conn.executemany("INSERT INTO version_files (version_id, path, size, digest) VALUES (?, ?, ?, ?)",
                             rows["files"])
            conn.executemany("INSERT INTO version_tags (version_id, key, value) VALUES (?, ?, ?)", rows["tags"])
            conn.executemany("INSERT INTO version_metrics (version_id, key, value) VALUES (?, ?, ?)", rows["metrics"])
            conn.executemany("INSERT INTO version_params (version_id, key, value, num) VALUES (?, ?, ?, ?)",
                             rows["params"])
            conn.executemany("INSERT INTO version_roles (version_id, role) VALUES (?, ?)", rows["roles"])
            conn.executemany("INSERT INTO version_capabilities (version_id, key, value) VALUES (?, ?, ?)", rows["caps"])
            conn.executemany("INSERT INTO version_backends (version_id, backend) VALUES (?, ?)", rows["backends"])
            conn.executemany("INSERT INTO copies (version_id, host_id, path, state, verified_at, updated_at) "
                             "VALUES (?, ?, ?, ?, ?, ?)", rows["copies"])

    def analyze(self) -> None:
        self.db.execute("ANALYZE")
