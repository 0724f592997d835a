"""Aliases (prod, staging, champion, …): one version per alias per model, every move
kept in alias_history; rollback walks that history back.

``latest`` and ``vN`` are reserved (they already mean something in NAME:VERSION).
Protected aliases (``prod`` and ``production`` always, any other set with protect)
can only be moved or removed by an admin; the caller's right is passed in.
"""
from __future__ import annotations

import re
import time

from llmesh.common.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from llmesh.common.names import ModelRef, is_valid_alias, shown
from llmesh.coordinator.registry.database import Database
from llmesh.coordinator.registry.lifecycle import LifecycleRepository
from llmesh.coordinator.registry.versions import VersionsRepository

ALWAYS_PROTECTED = frozenset({"prod", "production"})


def check_alias(alias: str) -> str:
    if not is_valid_alias(alias):
        raise InvalidArgument(f"invalid alias {shown(alias)}: start with a letter; letters, digits, '.', '_', '-' "
                              "(at most 64)")
    if alias == "latest" or re.fullmatch(r"v\d+", alias):
        raise InvalidArgument(f"alias {alias!r} is reserved (latest and vN already name versions)")
    return alias


class AliasesRepository:
    def __init__(self, db: Database, versions: VersionsRepository, lifecycle: LifecycleRepository):
        self.db = db
        self.versions = versions
        self.lifecycle = lifecycle

    def set_alias(self, ref: ModelRef, alias: str, *, reason: str = "", protect: bool = False,
                  is_admin: bool = False, actor: str = "", action: str = "set",
                  now: float | None = None) -> dict:
        now = now or time.time()
        check_alias(alias)
        if not ref.names_a_version:
            raise InvalidArgument(f"say which version {alias!r} should point to: {ref.name}:VERSION")
        with self.db.atomic():
            version_id = self.versions.resolve(ref)
            row = self.db["versions"].get(version_id)
            ref_text = self.db.version_ref(version_id)
            if row["status"] != "ready":
                raise FailedPrecondition(f"{ref_text} has no verified weights (status {row['status']})")
            if row["state"] == "archived":
                raise FailedPrecondition(f"{ref_text} is archived; restore it first")
            current = self.db.one("SELECT version_id, protected FROM aliases WHERE model_id = ? AND alias = ?",
                                  [row["model_id"], alias])
            protected = bool(protect or alias in ALWAYS_PROTECTED or (current and current["protected"]))
            if protected and not is_admin:
                raise PermissionDenied(f"alias {alias!r} of {ref.name!r} is protected: moving it needs the admin role")
            if current and current["version_id"] == version_id and bool(current["protected"]) == protected:
                raise FailedPrecondition(f"{ref.name}@{alias} already points to {self.db.version_ref(version_id)}")
            self.db.execute(
                "INSERT OR REPLACE INTO aliases (model_id, alias, version_id, protected, updated_at, updated_by) "
                "VALUES (?, ?, ?, ?, ?, ?)", [row["model_id"], alias, version_id, int(protected), now, actor])
            if action == "set" and current:
                action = "move"
            change = self.record_change(row["model_id"], alias, current["version_id"] if current else None,
                                        version_id, action, protected, actor, reason, now)
        return change

    def remove_alias(self, name: str, alias: str, *, reason: str = "", is_admin: bool = False,
                     actor: str = "", now: float | None = None) -> dict:
        now = now or time.time()
        with self.db.atomic():
            model = self.versions.model_row(name)
            current = self.db.one("SELECT version_id, protected FROM aliases WHERE model_id = ? AND alias = ?",
                                  [model["id"], alias])
            if not current:
                self.versions.resolve_alias(model["id"], name, alias)  # NotFound, with the aliases that exist
            if current["protected"] and not is_admin:
                raise PermissionDenied(f"alias {alias!r} of {name!r} is protected: removing it needs the admin role")
            self.db.execute("DELETE FROM aliases WHERE model_id = ? AND alias = ?", [model["id"], alias])
            return self.record_change(model["id"], alias, current["version_id"], None, "remove",
                                      current["protected"], actor, reason, now)

    def rollback(self, name: str, alias: str, *, reason: str = "", deprecate: bool = False,
                 is_admin: bool = False, actor: str = "", now: float | None = None) -> dict:
        """Point the alias at the version it pointed to before the move that set its
        current target; rollbacks themselves are skipped, so repeating goes further back."""
        now = now or time.time()
        with self.db.atomic():
            model = self.versions.model_row(name)
            current = self.versions.resolve_alias(model["id"], name, alias)
            protected = self.db.one("SELECT protected FROM aliases WHERE model_id = ? AND alias = ?",
                                    [model["id"], alias])["protected"]
            if (protected or alias in ALWAYS_PROTECTED) and not is_admin:
                raise PermissionDenied(f"alias {alias!r} of {name!r} is protected: "
                                       "rolling it back needs the admin role")
            number = self.db["versions"].get(current)["number"]
            previous = self.db.one(
                "SELECT from_number FROM alias_history WHERE model_id = ? AND alias = ? AND to_number = ? "
                "AND action IN ('set', 'move', 'promote') ORDER BY id DESC LIMIT 1", [model["id"], alias, number])
            if not previous or previous["from_number"] is None:
                raise FailedPrecondition(f"{name}@{alias} has no earlier version to roll back to")
            target = self.db.one("SELECT id FROM versions WHERE model_id = ? AND number = ?",
                                 [model["id"], previous["from_number"]])
            if not target:
                raise FailedPrecondition(f"{name}@{alias} pointed to v{previous['from_number']} before, "
                                         "which no longer exists")
            change = self.set_alias(ModelRef(name, previous["from_number"]), alias, reason=reason,
                                    is_admin=is_admin, actor=actor, action="rollback", now=now)
            if deprecate and self.db["versions"].get(current)["state"] == "active":
                self.lifecycle.move_state(current, "deprecated", actor, f"rolled back from ({name}@{alias})", now)
        return change

    def alias_history(self, name: str, alias: str = "") -> list[dict]:
        model = self.versions.model_row(name)
        where, params = "model_id = ?", [model["id"]]
        if alias:
            where += " AND alias = ?"
            params.append(alias)
        return [_change(r) for r in self.db.query(f"SELECT * FROM alias_history WHERE {where} ORDER BY id", params)]

    def record_change(self, model_id: int, alias: str, from_id: int | None, to_id: int | None, action: str,
                      protected, actor: str, reason: str, now: float) -> dict:
        """Keep one alias change in alias_history and the event log; returns it as callers show it."""
        number = {}
        for key, vid in (("from", from_id), ("to", to_id)):
            row = self.db.one("SELECT number FROM versions WHERE id = ?", [vid]) if vid else None
            number[key] = row["number"] if row else None
        name = self.db.one("SELECT name FROM models WHERE id = ?", [model_id])["name"]
        row = {"model_id": model_id, "model_name": name, "alias": alias, "from_number": number["from"],
               "to_number": number["to"], "action": action, "protected": int(bool(protected)), "actor": actor,
               "reason": reason, "ts": now}
        self.db["alias_history"].insert(row)
        self.db.record_event(actor, f"alias.{action}", f"{name}@{alias}",
                             {"from": number["from"], "to": number["to"], "reason": reason})
        return _change(row)


def _change(row: dict) -> dict:
    return {"name": row["model_name"], "alias": row["alias"], "from_version": row["from_number"],
            "to_version": row["to_number"], "actor": row["actor"], "reason": row["reason"], "at": row["ts"],
            "action": row["action"], "protected": bool(row["protected"])}
