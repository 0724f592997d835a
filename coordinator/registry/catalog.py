"""The catalog: semver labels, lifecycle, lineage, metrics, training parameters, roles
and capabilities, datasets, backends, version locks; registration of training runs
and drafts; reports (tree, lineage, compare, summary, resolve).

Registration status (``status``: pending, verifying, ready, failed) is the system's;
lifecycle state (``state``) is the user's, moved only along TRANSITIONS and recorded
in ``state_history`` and the event log.

Drafts: a version registered before its weights exist (state draft or training) gets
a placeholder digest ``pending:<uuid>`` so that the unique digest index still holds;
status is ``pending`` until a later registration of that model's weights fills it in
(the oldest pending version receives them).
"""
from __future__ import annotations

import json
import math
import re
import time
import uuid
from typing import Any, Iterable

from llmesh.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from llmesh.common.names import ModelRef, check_name, parse_ref
from llmesh.coordinator.registry.core import MIGRATIONS, RegistryCore, _chunks

STATES = ("draft", "training", "active", "deprecated", "archived")
# Which lifecycle moves a user may make. Leaving draft/training needs weights (status ready).
TRANSITIONS = {
    "draft": {"training", "active", "archived"},
    "training": {"draft", "active", "archived"},
    "active": {"deprecated", "archived"},
    "deprecated": {"active", "archived"},
    "archived": {"active"},
}
STATUSES = ("pending", "verifying", "ready", "failed")
RELATIONS = ("finetune", "adapter", "merge", "quantized", "convert")
STANDARD_METRICS = ("accuracy", "f1", "perplexity", "bleu", "rouge1", "rouge2", "rougeL",
                    "tokens_per_second", "latency_ms", "memory_mb")
METRIC_SYNONYMS = {
    "f1_score": "f1", "rouge-1": "rouge1", "rouge_1": "rouge1", "rouge-2": "rouge2",
    "rouge_2": "rouge2", "rouge-l": "rougeL", "rouge_l": "rougeL", "rougel": "rougeL",
    "inference_speed_tokens_per_sec": "tokens_per_second", "tokens_per_sec": "tokens_per_second",
    "speed": "tokens_per_second", "latency": "latency_ms", "memory": "memory_mb",
    "memory_usage_mb": "memory_mb", "bleu_score": "bleu", "ppl": "perplexity",
}
KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
SEMVER_RE = re.compile(r"^v?(\d+\.\d+(?:\.\d+)?(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)$")
PENDING_PREFIX = "pending:"


def _migration_3(db) -> None:
    for column, kind, default in (
            ("semver", "TEXT", None), ("status", "TEXT", "'ready'"), ("state", "TEXT", "'active'"),
            ("locked", "INTEGER", "0"), ("locked_digest", "TEXT", None), ("last_verified", "REAL", None),
            ("framework", "TEXT", "''"), ("hardware", "TEXT", "''"), ("duration_s", "REAL", None),
            ("cost_usd", "REAL", None), ("code_commit", "TEXT", "''"), ("extra_json", "TEXT", "'{}'")):
        suffix = f" NOT NULL DEFAULT {default}" if default is not None else ""
        db.execute(f"ALTER TABLE versions ADD COLUMN {column} {kind}{suffix}")
    db.execute("ALTER TABLE models ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE models ADD COLUMN extra_json TEXT NOT NULL DEFAULT '{}'")
    db["versions"].create_index(["model_id", "semver"], unique=True)
    for columns in (["state"], ["kind"], ["created_at"], ["base_model"], ["status"]):
        db["versions"].create_index(columns)
    # Search reads these by value (covering indexes: the version id comes with the entry)
    # and probes them by version (a WITHOUT ROWID table is one b-tree seek per probe).
    db["version_tags"].create_index(["key", "value", "version_id"])
    db["version_tags"].create_index(["version_id", "key", "value"])
    db["version_roles"].create_index(["role", "version_id"])
    db["copies"].create_index(["host_id", "version_id"])
    for table, columns, indexes in (
            ("version_metrics", "key TEXT NOT NULL, value REAL", [["key", "value"]]),
            ("version_params", "key TEXT NOT NULL, value TEXT, num REAL", [["key", "num"], ["key", "value"]]),
            ("version_capabilities", "key TEXT NOT NULL, value INTEGER", [["key", "value"]]),
            ("version_backends", "backend TEXT NOT NULL", [["backend"]]),
            ("version_datasets", "name TEXT NOT NULL, digest TEXT", [["name"]])):
        key = "backend" if table == "version_backends" else "name" if table == "version_datasets" else "key"
        db.execute(f"CREATE TABLE [{table}] (version_id INTEGER NOT NULL REFERENCES versions(id), {columns}, "
                   f"PRIMARY KEY (version_id, {key})) WITHOUT ROWID")
        for index in indexes:
            db[table].create_index(index)
    db["lineage"].create({"child_id": int, "parent_id": int, "relation": str, "created_at": float},
                         pk=("child_id", "parent_id"),
                         foreign_keys=[("child_id", "versions", "id"), ("parent_id", "versions", "id")])
    db["lineage"].create_index(["parent_id"])
    db["aliases"].create({"model_id": int, "alias": str, "version_id": int, "protected": int,
                          "updated_at": float, "updated_by": str},
                         pk=("model_id", "alias"),
                         foreign_keys=[("model_id", "models", "id"), ("version_id", "versions", "id")])
    db["aliases"].create_index(["version_id"])
    db["aliases"].create_index(["alias", "version_id"])
    db["alias_history"].create({"id": int, "model_id": int, "model_name": str, "alias": str,
                                "from_number": int, "to_number": int, "action": str, "protected": int,
                                "actor": str, "reason": str, "ts": float}, pk="id")
    db["alias_history"].create_index(["model_id", "alias", "id"])
    db["state_history"].create({"id": int, "version_id": int, "from_state": str, "to_state": str,
                                "actor": str, "reason": str, "ts": float}, pk="id")
    db["state_history"].create_index(["version_id"])


MIGRATIONS[3] = _migration_3


# -- validation (pure) ------------------------------------------------------------------------

def check_key(key: str, what: str) -> str:
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise InvalidArgument(f"invalid {what} {key!r}: use letters, digits, '_', '.', '-' (at most 128)")
    return key


def metric_name(key: str) -> str:
    """The standard name of a metric (f1_score -> f1, rouge-l -> rougeL); custom names stay."""
    check_key(key, "metric name")
    lower = key.lower()
    standard = {m.lower(): m for m in STANDARD_METRICS}
    return standard.get(lower) or METRIC_SYNONYMS.get(lower) or key


def metric_value(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgument(f"metric {key!r} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InvalidArgument(f"metric {key!r} must be a finite number, got {value!r}")
    return float(value)


def check_semver(label: str) -> str:
    match = SEMVER_RE.match(label or "")
    if not match:
        raise InvalidArgument(f"invalid semver label {label!r}: expected MAJOR.MINOR[.PATCH][-PRE], e.g. 1.2.0")
    return match.group(1)


def check_state(state: str) -> str:
    if state not in STATES:
        raise InvalidArgument(f"unknown lifecycle state {state!r} (states: {', '.join(STATES)})")
    return state


def check_relation(relation: str) -> str:
    if relation not in RELATIONS:
        raise InvalidArgument(f"unknown lineage relation {relation!r} (relations: {', '.join(RELATIONS)})")
    return relation


def param_row(key: str, value: Any) -> tuple[str, float | None]:
    """A training parameter as (text, number-or-None), so search can compare either way."""
    check_key(key, "parameter name")
    if isinstance(value, bool):
        return ("true" if value else "false"), None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return json.dumps(value), float(value)
    if isinstance(value, str):
        try:
            number = float(value)
            return value, number if math.isfinite(number) else None
        except ValueError:
            return value, None
    return json.dumps(value, sort_keys=True), None


def param_value(text: str, number: float | None) -> Any:
    if number is not None:
        try:  # the number as it was given: 4 stays an int, 2e-4 a float
            return int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            return number
    if text in ("true", "false"):
        return text == "true"
    return text


class CatalogMixin(RegistryCore):
    # -- registration ---------------------------------------------------------------------

    def create_draft(self, name: str, spec: dict, actor: str = "", now: float | None = None) -> int:
        """A version registered before its weights exist (state draft or training)."""
        now = now or time.time()
        check_name(name)
        state = spec.get("state") or "draft"
        if state not in ("draft", "training"):
            raise InvalidArgument("a version without weights must be in state draft or training; "
                                  "pass a PATH to register weights")
        with self._tx():
            model_id = self._model_id(name, "registered", now)
            version_id = self.db["versions"].insert({
                "model_id": model_id, "number": self._next_number(model_id),
                "digest": f"{PENDING_PREFIX}{uuid.uuid4().hex}", "kind": spec.get("kind") or "model",
                "format": "", "source": "draft", "size_bytes": 0, "file_count": 0, "metadata_json": "{}",
                "base_model": spec.get("base_model") or "", "registered": 1, "notes": spec.get("notes") or "",
                "created_by": actor, "created_at": now, "updated_at": now, "status": "pending",
                "state": state, "extra_json": "{}",
            }).last_pk
            self._annotate(version_id, spec.get("base_model") or "", spec.get("roles") or (),
                           spec.get("tags") or {}, "", spec.get("display_name") or "", actor, now)
            self._apply_spec(version_id, spec, now)
            self._record_state(version_id, "", state, actor, "registered without weights", now)
            self.record_event(actor, "model.draft", self._ref(version_id), {"state": state})
        return version_id

    def register_run(self, host_id: str, found: dict, spec: dict, actor: str = "",
                     now: float | None = None) -> tuple[int, bool, str]:
        """register() plus the catalog's facts, in one transaction. A pending draft of the
        same model receives the weights unless identical content is already registered."""
        now = now or time.time()
        name = check_name(spec.get("name") or found["name"])
        with self._tx():
            draft = self._one(
                "SELECT v.id FROM versions v JOIN models m ON m.id = v.model_id WHERE m.name = ? "
                "AND v.status = 'pending' ORDER BY v.number LIMIT 1", [name])
            taken = self._one("SELECT id FROM versions WHERE digest = ?", [found["digest"]])
            if draft and (not taken or self._one(
                    "SELECT 1 AS x FROM versions WHERE id = ? AND registered = 0", [taken["id"]])):
                if taken:  # a found-only copy of these bytes: the draft takes its place
                    self._forget_version(taken["id"])
                    self.db.execute("DELETE FROM version_files WHERE version_id = ?", [taken["id"]])
                    self.db.execute("DELETE FROM copies WHERE version_id = ?", [taken["id"]])
                    old_model = self.db["versions"].get(taken["id"])["model_id"]
                    self.db.execute("DELETE FROM versions WHERE id = ?", [taken["id"]])
                    if not self._one("SELECT 1 AS x FROM versions WHERE model_id = ?", [old_model]):
                        self.db.execute("DELETE FROM models WHERE id = ?", [old_model])
                version_id = self._fill_draft(draft["id"], found, actor, now)
                self.register(host_id, found, name=name, base_model=spec.get("base_model") or "",
                              roles=spec.get("roles") or (), tags=spec.get("tags") or {},
                              notes=spec.get("notes") or "", display_name=spec.get("display_name") or "",
                              actor=actor, now=now)
                created, message = True, f"weights registered into draft {self._ref(version_id)}"
            else:
                version_id, created, message = self.register(
                    host_id, found, name=name, base_model=spec.get("base_model") or "",
                    roles=spec.get("roles") or (), tags=spec.get("tags") or {}, notes=spec.get("notes") or "",
                    display_name=spec.get("display_name") or "", actor=actor, now=now)
            git = (found.get("metadata") or {}).get("git")
            if git:  # the inspect saw the checkout holding PATH; a scan does not look
                row = self.db["versions"].get(version_id)
                metadata = json.loads(row["metadata_json"] or "{}")
                if metadata.get("git") != git:
                    metadata["git"] = git
                    self.db["versions"].update(version_id, {"metadata_json": json.dumps(metadata, sort_keys=True)})
            self._apply_spec(version_id, spec, now)
            state = spec.get("state")
            if state and state != self.db["versions"].get(version_id)["state"]:
                self._move_state(version_id, state, actor, "set at registration", now)
        return version_id, created, message

    def _fill_draft(self, version_id: int, found: dict, actor: str, now: float) -> int:
        metadata = found.get("metadata") or {}
        row = self.db["versions"].get(version_id)
        self.db["versions"].update(version_id, {
            "digest": found["digest"], "kind": found["kind"], "format": found["format"],
            "source": found["source"], "size_bytes": found["size_bytes"], "file_count": len(found["files"]),
            "metadata_json": json.dumps(metadata, sort_keys=True), "status": "ready", "updated_at": now,
            "base_model": row["base_model"] or metadata.get("base_model") or ""})
        self.db["version_files"].insert_all(
            ({"version_id": version_id, "path": f["path"], "size": f["size"], "digest": f["digest"]}
             for f in found["files"]), batch_size=500)
        if row["state"] in ("draft", "training"):
            self._move_state(version_id, "active", actor, "weights registered", now)
        return version_id

    def _apply_spec(self, version_id: int, spec: dict, now: float) -> None:
        """The catalog facts of a registration or an edit (only the keys present)."""
        row = self.db["versions"].get(version_id)
        updates: dict[str, Any] = {}
        if spec.get("semver"):
            label = check_semver(spec["semver"])
            holder = self._one("SELECT id, number FROM versions WHERE model_id = ? AND semver = ?",
                               [row["model_id"], label])
            if holder and holder["id"] != version_id:
                raise AlreadyExists(f"semver {label} is already the label of {self._ref(holder['id'])}")
            updates["semver"] = label
        for key in ("framework", "hardware", "code_commit"):
            if spec.get(key) is not None and spec.get(key) != "":
                updates[key] = str(spec[key])
        for key in ("duration_s", "cost_usd"):
            if spec.get(key) is not None:
                updates[key] = metric_value(key, spec[key])
        if not row["code_commit"] and "code_commit" not in updates:
            git = (json.loads(row["metadata_json"] or "{}").get("git") or {})
            if git.get("commit"):
                updates["code_commit"] = git["commit"]
        if spec.get("extra"):
            extra = json.loads(row["extra_json"] or "{}")
            extra.update(spec["extra"])
            updates["extra_json"] = json.dumps(extra, sort_keys=True)
        if spec.get("training"):
            metadata = json.loads(row["metadata_json"] or "{}")
            metadata["training"] = {**spec["training"], **(metadata.get("training") or {})}
            updates["metadata_json"] = json.dumps(metadata, sort_keys=True)
        if updates:
            updates["updated_at"] = now
            self.db["versions"].update(version_id, updates)
        if spec.get("description") is not None and spec.get("description") != "":
            self.db.execute("UPDATE models SET description = ? WHERE id = ?", [spec["description"], row["model_id"]])
        for key, value in (spec.get("capabilities") or {}).items():
            check_key(key, "capability")
            self.db.execute("INSERT OR REPLACE INTO version_capabilities (version_id, key, value) VALUES (?, ?, ?)",
                            [version_id, key, int(bool(value))])
        params = dict(self._params_from_metadata(row))
        params.update(spec.get("params") or {})
        for key, value in params.items():
            text, number = param_row(key, value)
            self.db.execute("INSERT OR REPLACE INTO version_params (version_id, key, value, num) VALUES (?, ?, ?, ?)",
                            [version_id, key, text, number])
        for key, value in (spec.get("metrics") or {}).items():
            self._set_metric(version_id, key, value)
        for backend in spec.get("backends") or ():
            check_key(backend, "backend")
            self.db.execute("INSERT OR IGNORE INTO version_backends (version_id, backend) VALUES (?, ?)",
                            [version_id, backend])
        for dataset in spec.get("datasets") or ():
            name = check_key(dataset.get("name", ""), "dataset name") if "/" not in dataset.get("name", "") \
                else check_name(dataset["name"], "dataset name")
            self.db.execute("INSERT OR REPLACE INTO version_datasets (version_id, name, digest) VALUES (?, ?, ?)",
                            [version_id, name, dataset.get("digest") or ""])
        parents = spec.get("parents") or ()
        if parents:
            kind = self.db["versions"].get(version_id)["kind"]
            default = "merge" if len(parents) > 1 else {"lora": "adapter", "gguf": "quantized"}.get(kind, "finetune")
            relation = check_relation(spec.get("relation") or default)
            for ref in parents:
                self._add_parent(version_id, self.resolve(parse_ref(ref) if isinstance(ref, str) else ref),
                                 relation, now)

    def _params_from_metadata(self, row: dict) -> dict:
        """Hyperparameters the agent read from training_args.json, as searchable params."""
        training = (json.loads(row["metadata_json"] or "{}").get("training") or {})
        return {k: v for k, v in (training.get("args") or {}).items() if KEY_RE.match(str(k))}

    def _set_metric(self, version_id: int, key: str, value: Any) -> None:
        name = metric_name(key)
        self.db.execute("INSERT OR REPLACE INTO version_metrics (version_id, key, value) VALUES (?, ?, ?)",
                        [version_id, name, metric_value(name, value)])

    def _add_parent(self, child_id: int, parent_id: int, relation: str, now: float) -> None:
        if parent_id == child_id:
            raise FailedPrecondition(f"{self._ref(child_id)} cannot be its own parent")
        cycle = self._one(
            "WITH RECURSIVE up(id) AS (SELECT ? UNION SELECT l.parent_id FROM lineage l JOIN up ON l.child_id = up.id) "
            "SELECT 1 AS x FROM up WHERE id = ?", [parent_id, child_id])
        if cycle:
            raise FailedPrecondition(f"{self._ref(parent_id)} descends from {self._ref(child_id)}: "
                                     "that parent would make a cycle")
        self.db.execute("INSERT OR REPLACE INTO lineage (child_id, parent_id, relation, created_at) VALUES (?, ?, ?, ?)",
                        [child_id, parent_id, relation, now])

    # -- edits ----------------------------------------------------------------------------

    def edit(self, ref: ModelRef, changes: dict, actor: str = "", now: float | None = None) -> int:
        now = now or time.time()
        with self._tx():
            version_id = self.resolve(ref)
            row = self.db["versions"].get(version_id)
            if changes.get("semver") is not None and changes["semver"] == "":
                self.db.execute("UPDATE versions SET semver = NULL WHERE id = ?", [version_id])
            for role in changes.get("remove_roles") or ():
                self.db.execute("DELETE FROM version_roles WHERE version_id = ? AND role = ?", [version_id, role])
            for key in changes.get("remove_capabilities") or ():
                self.db.execute("DELETE FROM version_capabilities WHERE version_id = ? AND key = ?", [version_id, key])
            for key in changes.get("remove_tags") or ():
                self.db.execute("DELETE FROM version_tags WHERE version_id = ? AND key = ?", [version_id, key])
            for backend in changes.get("remove_backends") or ():
                self.db.execute("DELETE FROM version_backends WHERE version_id = ? AND backend = ?",
                                [version_id, backend])
            for role in changes.get("roles") or ():
                check_key(role, "role")
            for key in changes.get("tags") or {}:
                check_key(key, "tag")
            self._annotate(version_id, changes.get("base_model") or "", changes.get("roles") or (),
                           changes.get("tags") or {}, changes.get("notes") or "",
                           changes.get("display_name") or "", actor, now)
            if not row["registered"]:  # editing is naming: the version is now registered
                self.db.execute("UPDATE models SET origin = 'registered' WHERE id = ?", [row["model_id"]])
            self._apply_spec(version_id, changes, now)
            self.record_event(actor, "model.edit", self._ref(version_id),
                              {k: v for k, v in changes.items() if v not in (None, "", [], {}, ())})
        return version_id

    def score(self, ref: ModelRef, metrics: dict[str, float], remove: Iterable[str] = (), actor: str = "",
              now: float | None = None) -> int:
        now = now or time.time()
        if not metrics and not remove:
            raise InvalidArgument("no metrics given: pass --metric KEY=VALUE")
        with self._tx():
            version_id = self.resolve(ref)
            for key, value in metrics.items():
                self._set_metric(version_id, key, value)
            for key in remove:
                self.db.execute("DELETE FROM version_metrics WHERE version_id = ? AND key = ?",
                                [version_id, metric_name(key)])
            self.db.execute("UPDATE versions SET updated_at = ? WHERE id = ?", [now, version_id])
            self.record_event(actor, "model.score", self._ref(version_id),
                              {"metrics": {metric_name(k): v for k, v in metrics.items()}, "removed": list(remove)})
        return version_id

    # -- lifecycle ------------------------------------------------------------------------

    def set_state(self, ref: ModelRef, state: str, reason: str = "", actor: str = "",
                  now: float | None = None) -> int:
        now = now or time.time()
        check_state(state)
        with self._tx():
            version_id = self.resolve(ref)
            self._move_state(version_id, state, actor, reason, now)
        return version_id

    def _move_state(self, version_id: int, state: str, actor: str, reason: str, now: float) -> None:
        check_state(state)
        row = self.db["versions"].get(version_id)
        current = row["state"]
        ref = self._ref(version_id)
        if current == state:
            raise FailedPrecondition(f"{ref} is already {state}")
        if state not in TRANSITIONS[current]:
            allowed = ", ".join(sorted(TRANSITIONS[current])) or "none"
            raise FailedPrecondition(f"{ref} cannot go from {current} to {state} (from {current}: {allowed})")
        if current in ("draft", "training") and state not in ("draft", "training", "archived") \
                and row["status"] != "ready":
            raise FailedPrecondition(f"{ref} has no weights yet: register them before making it {state}")
        self.db.execute("UPDATE versions SET state = ?, updated_at = ? WHERE id = ?", [state, now, version_id])
        self._record_state(version_id, current, state, actor, reason, now)

    def _record_state(self, version_id: int, old: str, new: str, actor: str, reason: str, now: float) -> None:
        self.db["state_history"].insert({"version_id": version_id, "from_state": old, "to_state": new,
                                         "actor": actor, "reason": reason, "ts": now})
        self.record_event(actor, "model.state", self._ref(version_id), {"from": old, "to": new, "reason": reason})

    def state_history(self, version_id: int) -> list[dict]:
        return [dict(r) for r in self.db.query(
            "SELECT from_state, to_state, actor, reason, ts FROM state_history WHERE version_id = ? ORDER BY id",
            [version_id])]

    # -- reading: the catalog's fields of version dicts -----------------------------------

    def _add_catalog_fields(self, versions: list[dict], rows: list[dict]) -> None:
        ids = [r["id"] for r in rows]
        found: dict[str, dict[int, Any]] = {k: {} for k in (
            "tags", "roles", "metrics", "params", "capabilities", "aliases", "parents", "datasets", "backends")}
        for chunk in _chunks(ids, 200):
            marks = ",".join("?" * len(chunk))
            # one round trip for the small per-version tables (listings read this for every row)
            for kind, vid, key, value, num in self.db.conn.execute(
                    f"SELECT 'metrics', version_id, key, value, NULL FROM version_metrics WHERE version_id IN ({marks}) "
                    f"UNION ALL SELECT 'params', version_id, key, value, num FROM version_params "
                    f"WHERE version_id IN ({marks}) "
                    f"UNION ALL SELECT 'capabilities', version_id, key, value, NULL FROM version_capabilities "
                    f"WHERE version_id IN ({marks}) "
                    f"UNION ALL SELECT 'aliases', version_id, alias, NULL, NULL FROM aliases WHERE version_id IN ({marks}) "
                    f"UNION ALL SELECT 'datasets', version_id, name, digest, NULL FROM version_datasets "
                    f"WHERE version_id IN ({marks}) "
                    f"UNION ALL SELECT 'backends', version_id, backend, NULL, NULL FROM version_backends "
                    f"WHERE version_id IN ({marks}) "
                    f"UNION ALL SELECT 'tags', version_id, key, value, NULL FROM version_tags WHERE version_id IN ({marks}) "
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
                    "SELECT l.child_id, l.relation, m.name, v.number FROM lineage l JOIN versions v ON v.id = l.parent_id "
                    f"JOIN models m ON m.id = v.model_id WHERE l.child_id IN ({marks}) ORDER BY m.name, v.number", chunk):
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
                "semver": row["semver"] or "", "status": row["status"], "state": row["state"],
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

    def _forget_version(self, version_id: int) -> None:
        """The catalog's rows of a version that is being deleted."""
        for table in ("version_metrics", "version_params", "version_capabilities", "version_backends",
                      "version_datasets", "state_history"):
            self.db.execute(f"DELETE FROM {table} WHERE version_id = ?", [version_id])
        self.db.execute("DELETE FROM lineage WHERE child_id = ? OR parent_id = ?", [version_id, version_id])
        for alias in list(self.db.query("SELECT model_id, alias, protected FROM aliases WHERE version_id = ?",
                                        [version_id])):
            self._alias_history(alias["model_id"], alias["alias"], version_id, None, "remove",
                                alias["protected"], "system", "version deleted", time.time())
        self.db.execute("DELETE FROM aliases WHERE version_id = ?", [version_id])

    def version_numbers(self, name: str) -> list[int]:
        model = self._one("SELECT id FROM models WHERE name = ?", [name])
        if not model:
            raise NotFound(f"unknown model {name!r}")
        return [r["number"] for r in self.db.query("SELECT number FROM versions WHERE model_id = ? ORDER BY number",
                                                   [model["id"]])]
