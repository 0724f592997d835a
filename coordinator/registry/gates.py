"""Quality gates: per environment (an alias: staging, production, …), checks written in the
search language that a version must pass before the alias may point at it.

    gate production: metric.accuracy >= 0.85 AND metric.latency_ms < 200

A gate is split at its top-level ANDs so that a refusal names each failing check with the
version's value; promotions and refusals go to the audit log.
"""
from __future__ import annotations

import time

from llmesh.common.errors import InvalidArgument, NotFound
from llmesh.common.names import is_valid_alias, shown
from llmesh.coordinator.registry.database import Database
from llmesh.coordinator.registry.query_parser import Test, parse, tokenize
from llmesh.coordinator.registry.search import compile_query


class GatesRepository:
    def __init__(self, db: Database):
        self.db = db

    def set_gate(self, environment: str, expression: str, actor: str) -> dict:
        _check_environment(environment)
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
