"""The catalog's writes: registration of training runs and drafts, edits (semver labels,
lineage, metrics, training parameters, roles and capabilities, datasets, backends) and
scores. Reading it is versions.py and reports.py; lifecycle moves are lifecycle.py.

Registration status (``status``: pending, verifying, ready, failed) is the system's;
lifecycle state (``state``) is the user's (see lifecycle.py).

Drafts: a version registered before its weights exist (state draft or training) gets
a placeholder digest ``pending:<uuid>`` so that the unique digest index still holds;
status is ``pending`` until a later registration of that model's weights fills it in
(the oldest pending version receives them).
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, Iterable

from llmesh.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from llmesh.common.names import ModelRef, check_name, parse_ref
from llmesh.coordinator.registry.database import Database
from llmesh.coordinator.registry.facts import (
    KEY_RE,
    PENDING_PREFIX,
    check_key,
    check_relation,
    check_semver,
    metric_name,
    metric_value,
    non_negative,
    param_row,
    semver_key,
)
from llmesh.coordinator.registry.lifecycle import LifecycleRepository
from llmesh.coordinator.registry.models import ModelsRepository
from llmesh.coordinator.registry.versions import VersionsRepository


class CatalogRepository:
    def __init__(self, db: Database, versions: VersionsRepository, models: ModelsRepository,
                 lifecycle: LifecycleRepository):
        self.db = db
        self.versions = versions
        self.models = models
        self.lifecycle = lifecycle

    # -- registration ---------------------------------------------------------------------

    def create_draft(self, name: str, spec: dict, actor: str = "", now: float | None = None) -> int:
        """A version registered before its weights exist (state draft or training)."""
        now = now or time.time()
        check_name(name)
        state = spec.get("state") or "draft"
        if state not in ("draft", "training"):
            raise InvalidArgument("a version without weights must be in state draft or training; "
                                  "pass a PATH to register weights")
        with self.db.atomic():
            model_id = self.models.ensure_model(name, "registered", now)
            version_id = self.db["versions"].insert({
                "model_id": model_id, "number": self.models.next_number(model_id),
                "digest": f"{PENDING_PREFIX}{uuid.uuid4().hex}", "kind": spec.get("kind") or "model",
                "format": "", "source": "draft", "size_bytes": 0, "file_count": 0, "metadata_json": "{}",
                "base_model": spec.get("base_model") or "", "registered": 1, "notes": spec.get("notes") or "",
                "created_by": actor, "created_at": now, "updated_at": now, "status": "pending",
                "state": state, "extra_json": "{}",
            }).last_pk
            self.models.annotate(version_id, spec.get("base_model") or "", spec.get("roles") or (),
                                 spec.get("tags") or {}, "", spec.get("display_name") or "", actor, now)
            self._apply_spec(version_id, spec, now)
            self.lifecycle.record_state(version_id, "", state, actor, "registered without weights", now)
            self.db.record_event(actor, "model.draft", self.db.version_ref(version_id), {"state": state})
        return version_id

    def register_run(self, host_id: str, found: dict, spec: dict, actor: str = "",
                     now: float | None = None) -> tuple[int, bool, str]:
        """register() plus the catalog's facts, in one transaction. A pending draft of the
        same model receives the weights unless identical content is already registered."""
        now = now or time.time()
        name = check_name(spec.get("name") or found["name"])
        with self.db.atomic():
            draft = self.db.one(
                "SELECT v.id FROM versions v JOIN models m ON m.id = v.model_id WHERE m.name = ? "
                "AND v.status = 'pending' ORDER BY v.number LIMIT 1", [name])
            taken = self.db.one("SELECT id FROM versions WHERE digest = ?", [found["digest"]])
            if draft and (not taken or self.db.one(
                    "SELECT 1 AS x FROM versions WHERE id = ? AND registered = 0", [taken["id"]])):
                if taken:  # a found-only copy of these bytes: the draft takes its place
                    self.models.forget_version(taken["id"])
                    self.db.execute("DELETE FROM version_files WHERE version_id = ?", [taken["id"]])
                    self.db.execute("DELETE FROM copies WHERE version_id = ?", [taken["id"]])
                    old_model = self.db["versions"].get(taken["id"])["model_id"]
                    self.db.execute("DELETE FROM versions WHERE id = ?", [taken["id"]])
                    if not self.db.one("SELECT 1 AS x FROM versions WHERE model_id = ?", [old_model]):
                        self.db.execute("DELETE FROM models WHERE id = ?", [old_model])
                version_id = self._fill_draft(draft["id"], found, actor, now)
                self.models.register(host_id, found, name=name, base_model=spec.get("base_model") or "",
                                     roles=spec.get("roles") or (), tags=spec.get("tags") or {},
                                     notes=spec.get("notes") or "", display_name=spec.get("display_name") or "",
                                     actor=actor, now=now)
                created, message = True, f"weights registered into draft {self.db.version_ref(version_id)}"
            else:
                version_id, created, message = self.models.register(
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
                self.lifecycle.move_state(version_id, state, actor, "set at registration", now)
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
            self.lifecycle.move_state(version_id, "active", actor, "weights registered", now)
        return version_id

    def _apply_spec(self, version_id: int, spec: dict, now: float) -> None:
        """The catalog facts of a registration or an edit (only the keys present)."""
        row = self.db["versions"].get(version_id)
        updates: dict[str, Any] = {}
        if spec.get("semver"):
            label = check_semver(spec["semver"])
            holder = self.db.one("SELECT id, number FROM versions WHERE model_id = ? AND semver = ?",
                                 [row["model_id"], label])
            if holder and holder["id"] != version_id:
                raise AlreadyExists(f"semver {label} is already the label of {self.db.version_ref(holder['id'])}")
            updates["semver"], updates["semver_key"] = label, semver_key(label)
        for key in ("framework", "hardware", "code_commit"):
            if spec.get(key) is not None and spec.get(key) != "":
                updates[key] = str(spec[key])
        for key in ("duration_s", "cost_usd"):
            if spec.get(key) is not None:
                updates[key] = non_negative(key, spec[key])
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
                self.add_parent(version_id, self.versions.resolve(parse_ref(ref) if isinstance(ref, str) else ref),
                                relation, now)

    def _params_from_metadata(self, row: dict) -> dict:
        """Hyperparameters the agent read from training_args.json, as searchable params."""
        training = (json.loads(row["metadata_json"] or "{}").get("training") or {})
        return {k: v for k, v in (training.get("args") or {}).items() if KEY_RE.fullmatch(str(k))}

    def _set_metric(self, version_id: int, key: str, value: Any) -> None:
        name = metric_name(key)
        self.db.execute("INSERT OR REPLACE INTO version_metrics (version_id, key, value) VALUES (?, ?, ?)",
                        [version_id, name, metric_value(name, value)])

    def add_parent(self, child_id: int, parent_id: int, relation: str, now: float) -> None:
        """A lineage edge, refused when it would make a version its own ancestor."""
        if parent_id == child_id:
            raise FailedPrecondition(f"{self.db.version_ref(child_id)} cannot be its own parent")
        cycle = self.db.one(
            "WITH RECURSIVE up(id) AS (SELECT ? UNION SELECT l.parent_id FROM lineage l JOIN up ON l.child_id = up.id) "
            "SELECT 1 AS x FROM up WHERE id = ?", [parent_id, child_id])
        if cycle:
            raise FailedPrecondition(f"{self.db.version_ref(parent_id)} descends from "
                                     f"{self.db.version_ref(child_id)}: that parent would make a cycle")
        self.db.execute("INSERT OR REPLACE INTO lineage (child_id, parent_id, relation, created_at) "
                        "VALUES (?, ?, ?, ?)", [child_id, parent_id, relation, now])

    def link_hub_base(self, version_id: int, base: str, relation: str = "", now: float | None = None) -> str:
        """Lineage from Hugging Face metadata. A version whose card (or adapter_config.json) names
        BASE, a repo id, gets an edge to the version BASE is here (pulled from hf.co/BASE, or a
        model of that name or HF repo id; a verified copy, then the newest, preferred); and the
        versions already here that name this version's own Hub repo as their base, with no parent
        yet, get their edge to it (a base pulled after its adapters). The parent's ref, or ''."""
        now = now or time.time()
        with self.db.atomic():
            parent = self._hub_version(base, exclude=version_id) if base else None
            linked = ""
            if parent is not None and self._link_once(version_id, parent, relation, now):
                linked = self.db.version_ref(parent)
            for tag in self.db.query("SELECT value FROM version_tags WHERE version_id = ? AND key = 'hub.source'",
                                     [version_id]):
                repo = _hf_repo(tag["value"])
                if not repo:
                    continue
                for row in self.db.query(
                        "SELECT v.id FROM versions v WHERE v.base_model = ? AND v.id != ? AND NOT EXISTS "
                        "(SELECT 1 FROM lineage l WHERE l.child_id = v.id)", [repo, version_id]):
                    self._link_once(row["id"], version_id, "", now)
        return linked

    def _hub_version(self, base: str, exclude: int) -> int | None:
        rows = self.db.query(
            "SELECT v.id, m.name, json_extract(v.metadata_json, '$.hf.repo_id') AS repo_id, "
            "(SELECT group_concat(t.value, char(10)) FROM version_tags t WHERE t.version_id = v.id "
            " AND t.key = 'hub.source') AS sources, "
            "EXISTS (SELECT 1 FROM copies c WHERE c.version_id = v.id AND c.state = 'verified') AS held "
            "FROM versions v JOIN models m ON m.id = v.model_id WHERE v.id != ? AND (m.name = ? OR "
            "json_extract(v.metadata_json, '$.hf.repo_id') = ? OR v.id IN (SELECT version_id FROM version_tags "
            "WHERE key = 'hub.source' AND substr(value, 1, ?) = ?)) ORDER BY held DESC, v.id DESC",
            [exclude, base, base, len("hf.co/" + base), "hf.co/" + base])
        for r in rows:
            if base in (r["name"], r["repo_id"]) or base in {_hf_repo(s) for s in (r["sources"] or "").split("\n")}:
                return r["id"]
        return None

    def _link_once(self, child_id: int, parent_id: int, relation: str, now: float) -> bool:
        if self.db.one("SELECT 1 AS x FROM lineage WHERE child_id = ? AND parent_id = ?", [child_id, parent_id]):
            return False
        kind = self.db["versions"].get(child_id)["kind"]
        try:
            self.add_parent(child_id, parent_id, check_relation(relation or {"lora": "adapter", "gguf": "quantized"}
                                                                .get(kind, "finetune")), now)
        except (FailedPrecondition, InvalidArgument):  # a cycle, or a relation the registry does not know
            return False
        return True

    # -- edits ----------------------------------------------------------------------------

    def edit(self, ref: ModelRef, changes: dict, actor: str = "", now: float | None = None) -> int:
        now = now or time.time()
        with self.db.atomic():
            version_id = self.versions.resolve(ref)
            row = self.db["versions"].get(version_id)
            if changes.get("semver") is not None and changes["semver"] == "":
                self.db.execute("UPDATE versions SET semver = NULL, semver_key = NULL WHERE id = ?", [version_id])
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
            self.models.annotate(version_id, changes.get("base_model") or "", changes.get("roles") or (),
                                 changes.get("tags") or {}, changes.get("notes") or "",
                                 changes.get("display_name") or "", actor, now)
            if not row["registered"]:  # editing is naming: the version is now registered
                self.db.execute("UPDATE models SET origin = 'registered' WHERE id = ?", [row["model_id"]])
            self._apply_spec(version_id, changes, now)
            self.db.record_event(actor, "model.edit", self.db.version_ref(version_id),
                                 {k: v for k, v in changes.items() if v not in (None, "", [], {}, ())})
        return version_id

    def score(self, ref: ModelRef, metrics: dict[str, float], remove: Iterable[str] = (), actor: str = "",
              now: float | None = None) -> int:
        now = now or time.time()
        if not metrics and not remove:
            raise InvalidArgument("no metrics given: pass --metric KEY=VALUE")
        with self.db.atomic():
            version_id = self.versions.resolve(ref)
            for key, value in metrics.items():
                self._set_metric(version_id, key, value)
            for key in remove:
                self.db.execute("DELETE FROM version_metrics WHERE version_id = ? AND key = ?",
                                [version_id, metric_name(key)])
            self.db.execute("UPDATE versions SET updated_at = ? WHERE id = ?", [now, version_id])
            self.db.record_event(actor, "model.score", self.db.version_ref(version_id),
                                 {"metrics": {metric_name(k): v for k, v in metrics.items()}, "removed": list(remove)})
        return version_id


def _hf_repo(source: str) -> str:
    """ORG/REPO of a hub.source tag naming a Hugging Face repo (hf.co/ORG/REPO[:REV][/FILE]
    [ --include …]), else ''."""
    if not source.startswith("hf.co/"):
        return ""
    parts = source[len("hf.co/"):].split(" ", 1)[0].split("/")
    return f"{parts[0]}/{parts[1].split(':', 1)[0]}" if len(parts) >= 2 else ""
