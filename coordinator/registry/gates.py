"""Quality gates: per environment (an alias: staging, production, …), checks written in the
search language that a version must pass before the alias may point at it.

    gate production: metric.accuracy >= 0.85 AND metric.latency_ms < 200

A gate is split at its top-level ANDs so that a refusal names each failing check with the
version's value; promotions and refusals go to the audit log.
"""
from __future__ import annotations

import time

from llmesh.common.errors import AlreadyExists, InvalidArgument, NotFound
from llmesh.common.names import is_valid_alias, shown
from llmesh.coordinator.registry.database import Database
from llmesh.coordinator.registry.query_parser import Test, parse, tokenize
from llmesh.coordinator.registry.search import compile_query


class GatesRepository:
    def __init__(self, db: Database):
        self.db = db

    # -- environments ----------------------------------------------------------------------

    def environments(self) -> list[dict]:
        """Each environment in promotion order, with its gate (empty expression: none)."""
        return [dict(r) for r in self.db.query(
            "SELECT e.name AS environment, COALESCE(g.expression, '') AS expression, "
            "COALESCE(g.updated_by, e.created_by) AS updated_by, COALESCE(g.updated_at, e.created_at) AS updated_at "
            "FROM environments e LEFT JOIN gates g ON g.environment = e.name ORDER BY e.position, e.name")]

    def add_environment(self, environment: str, actor: str) -> dict:
        _check_environment(environment)
        with self.db.atomic():
            if self.db.one("SELECT 1 AS ok FROM environments WHERE name = ?", [environment]):
                raise AlreadyExists(f"environment {environment!r} already exists")
            position = self.db.one("SELECT COALESCE(MAX(position), -1) + 1 AS p FROM environments", [])["p"]
            self.db["environments"].insert({"name": environment, "position": position, "created_by": actor,
                                            "created_at": time.time()})
            self.db.record_event(actor, "environment.add", environment, {})
        return self.environment(environment)

    def remove_environment(self, environment: str, actor: str) -> dict:
        """Forget an environment and its gate (the aliases of that name stay where they are)."""
        found = self.environment(environment)
        with self.db.atomic():
            self.db.execute("DELETE FROM environments WHERE name = ?", [environment])
            self.db.execute("DELETE FROM gates WHERE environment = ?", [environment])
            self.db.record_event(actor, "environment.remove", environment, {"gate": found["expression"]})
        return found

    def environment(self, environment: str) -> dict:
        for row in self.environments():
            if row["environment"] == environment:
                return row
        known = ", ".join(r["environment"] for r in self.environments()) or "none"
        raise NotFound(f"no environment {environment!r} (environments: {known}; "
                       f"add it with: meshctl env add {environment})")

    # -- gates -----------------------------------------------------------------------------

    def set_gate(self, environment: str, expression: str, actor: str) -> dict:
        _check_environment(environment)
        self.environment(environment)
        compile_query(expression)  # a bad gate is refused now, not at the next promotion
        with self.db.atomic():
            self.db["gates"].upsert({"environment": environment, "expression": expression.strip(),
                                     "updated_by": actor, "updated_at": time.time()}, pk="environment")
            self.db.record_event(actor, "gate.set", environment, {"expression": expression.strip()})
        return self.gate(environment)

    def remove_gate(self, environment: str, actor: str) -> dict:
        gate = self.gate(environment)
        with self.db.atomic():
            self.db.execute("DELETE FROM gates WHERE environment = ?", [environment])
            self.db.record_event(actor, "gate.remove", environment, {"expression": gate["expression"]})
        return gate

    def gate(self, environment: str) -> dict:
        row = self.db.one("SELECT * FROM gates WHERE environment = ?", [environment])
        if not row:
            raise NotFound(f"no gate for environment {environment!r}")
        return dict(row)

    def gates(self) -> list[dict]:
        return [dict(r) for r in self.db.query("SELECT * FROM gates ORDER BY environment")]

    def failing(self, version_id: int, version: dict, environment: str, extra: list[str]) -> list[str]:
        """Each check of the environment's gate and of ``extra`` the version fails, with its value."""
        row = self.db.one("SELECT expression FROM gates WHERE environment = ?", [environment])
        checks = (split_checks(row["expression"]) if row else []) + [c for e in extra for c in split_checks(e)]
        failed = []
        for check in checks:
            compiled = compile_query(check)
            hit = self.db.one("SELECT 1 AS ok FROM versions v JOIN models m ON m.id = v.model_id "
                              f"WHERE v.id = ? AND ({compiled.where})", [version_id] + compiled.params)
            if not hit:
                failed.append(f"{check} (is {_value_of(check, version)})")
        return failed

    def record_refusal(self, version_id: int, environment: str, failed: list[str], actor: str) -> None:
        """A refused promotion: in the audit log and the alias history (action "refused", the
        alias unmoved), with each failing check as the reason."""
        row = self.db["versions"].get(version_id)
        ref = self.db.version_ref(version_id)
        current = self.db.one("SELECT v.number FROM aliases a JOIN versions v ON v.id = a.version_id "
                              "WHERE a.model_id = ? AND a.alias = ?", [row["model_id"], environment])
        name = self.db.one("SELECT name FROM models WHERE id = ?", [row["model_id"]])["name"]
        with self.db.atomic():
            self.db["alias_history"].insert({
                "model_id": row["model_id"], "model_name": name, "alias": environment,
                "from_number": current["number"] if current else None, "to_number": row["number"],
                "action": "refused", "protected": 0, "actor": actor, "reason": "gate failed: " + "; ".join(failed),
                "ts": time.time()})
            self.record_promotion(ref, environment, failed, actor)

    def record_promotion(self, ref: str, environment: str, failed: list[str], actor: str) -> None:
        self.db.record_event(actor, "model.promote", ref, {"to": environment, "failed": failed},
                             "refused" if failed else "ok")


def split_checks(expression: str) -> list[str]:
    """The gate's top-level AND parts, as text (one check when it is not a conjunction)."""
    expression = expression.strip()
    cuts, depth = [], 0
    for token in tokenize(expression):
        depth += token.kind == "("
        depth -= token.kind == ")"
        if token.kind == "kw" and token.text == "AND" and depth == 0:
            cuts.append(token.pos - 1)
    parts, start = [], 0
    for cut in cuts:
        parts.append(expression[start:cut].strip())
        start = cut + 3
    parts.append(expression[start:].strip())
    # "a BETWEEN …" style parts that do not parse alone: keep the gate whole.
    try:
        for part in parts:
            parse(part)
    except InvalidArgument:
        return [expression]
    return parts


def _value_of(check: str, version: dict) -> str:
    node = parse(check)
    if not isinstance(node, Test):
        return "not met"
    if node.key is not None:
        table = {"metric": "metrics", "tag": "tags", "param": "params", "capability": "capabilities"}.get(node.field)
        value = (version.get(table) or {}).get(node.key) if table else None
    else:
        value = version.get(node.field)
    if value in (None, "", [], {}):
        return "missing"
    return f"{value:g}" if isinstance(value, float) else shown(value)


def _check_environment(environment: str) -> None:
    if not is_valid_alias(environment) or environment == "latest":
        raise InvalidArgument(f"invalid environment {environment!r}: it names an alias (e.g. production)")
