"""Reading the catalog: version trees, lineage, adapters of a base, comparisons,
role resolution, summaries, events; and version locks with drift (verify)."""
from __future__ import annotations

import json
import re
import time

from llmesh.common.errors import FailedPrecondition, NotFound
from llmesh.common.names import ModelRef, parse_ref
from llmesh.coordinator.registry.database import Database, decode_json_columns
from llmesh.coordinator.registry.facts import check_limit
from llmesh.coordinator.registry.versions import VersionsRepository

# For "best" in summaries: these are better when lower.
LOWER_IS_BETTER = {"perplexity", "latency_ms", "memory_mb", "loss", "final_loss", "eval_loss"}
COMPARED_FIELDS = ("state", "status", "semver", "kind", "format", "size_bytes", "base_model", "framework",
                   "hardware", "duration_s", "cost_usd", "code_commit")
TRAINING_FACTS = ("final_loss", "best_loss", "final_eval_loss", "epochs", "global_step", "max_steps")


class ReportsRepository:
    def __init__(self, db: Database, versions: VersionsRepository):
        self.db = db
        self.versions = versions

    # -- lineage --------------------------------------------------------------------------

    def tree(self, name: str) -> dict:
        """The version tree of one model: edges inside the model nest, others are noted."""
        model = self.versions.model_row(name)
        rows = list(self.db.query(
            "SELECT id, number, semver, label, state, status, kind FROM versions WHERE model_id = ? ORDER BY number",
            [model["id"]]))
        ids = {r["id"] for r in rows}
        nodes = {r["id"]: {"version": r["number"], "semver": r["semver"] or "", "label": r["label"] or "",
                           "state": r["state"],
                           "status": r["status"], "kind": r["kind"], "aliases": [], "relation": "",
                           "external_parents": [], "derived": [], "children": []} for r in rows}
        for r in self.db.query("SELECT a.version_id, a.alias FROM aliases a WHERE a.model_id = ? ORDER BY alias",
                               [model["id"]]):
            nodes[r["version_id"]]["aliases"].append(r["alias"])
        marks = ",".join("?" * len(ids)) or "NULL"
        edges = list(self.db.query(
            "SELECT l.child_id, l.parent_id, l.relation, m.name, v.number FROM lineage l "
            "JOIN versions v ON v.id = CASE WHEN l.child_id IN ({0}) THEN l.parent_id ELSE l.child_id END "
            "JOIN models m ON m.id = v.model_id "
            "WHERE l.child_id IN ({0}) OR l.parent_id IN ({0}) ORDER BY m.name, v.number".format(marks),
            [*ids, *ids, *ids]))
        has_parent = set()
        for e in edges:
            child_in, parent_in = e["child_id"] in ids, e["parent_id"] in ids
            if child_in and parent_in:
                if e["child_id"] not in has_parent:  # the first parent inside the model nests it
                    has_parent.add(e["child_id"])
                    nodes[e["child_id"]]["relation"] = e["relation"]
                    nodes[e["parent_id"]]["children"].append(nodes[e["child_id"]])
            elif child_in:
                nodes[e["child_id"]]["external_parents"].append(
                    {"name": e["name"], "version": e["number"], "relation": e["relation"]})
            else:
                nodes[e["parent_id"]]["derived"].append(
                    {"name": e["name"], "version": e["number"], "relation": e["relation"]})
        return {"name": name, "roots": [nodes[r["id"]] for r in rows if r["id"] not in has_parent]}

    def lineage(self, ref: ModelRef) -> dict:
        version_id = self.versions.resolve(ref)
        chain = list(self.db.query(
            "WITH RECURSIVE up(id, depth, relation, child) AS ("
            " SELECT ?, 0, '', NULL UNION ALL"
            " SELECT l.parent_id, up.depth + 1, l.relation, up.id FROM lineage l JOIN up ON l.child_id = up.id"
            " WHERE up.depth < 100) "
            "SELECT up.id, MIN(up.depth) AS depth, up.relation, up.child, m.name, v.number, v.base_model, "
            "v.code_commit, v.kind, v.state FROM up JOIN versions v ON v.id = up.id "
            "JOIN models m ON m.id = v.model_id GROUP BY up.id, up.child ORDER BY depth, m.name, v.number",
            [version_id]))
        refs = {r["id"]: f"{r['name']}:{r['number']}" for r in chain}
        datasets: dict[int, list] = {}
        for r in self.db.query(
                f"SELECT version_id, name, digest FROM version_datasets WHERE version_id IN "
                f"({','.join('?' * len(refs))}) ORDER BY name", list(refs)):
            datasets.setdefault(r["version_id"], []).append({"name": r["name"], "digest": r["digest"]})
        ancestors, seen = [], set()
        for r in chain:
            if r["depth"] == 0 or (r["id"], r["child"]) in seen:
                continue
            seen.add((r["id"], r["child"]))
            ancestors.append({"name": r["name"], "version": r["number"], "relation": r["relation"],
                              "depth": r["depth"], "child": refs.get(r["child"], ""), "kind": r["kind"],
                              "state": r["state"], "base_model": r["base_model"], "code_commit": r["code_commit"],
                              "datasets": datasets.get(r["id"], [])})
        children = [{"name": r["name"], "version": r["number"], "relation": r["relation"]} for r in self.db.query(
            "SELECT m.name, v.number, l.relation FROM lineage l JOIN versions v ON v.id = l.child_id "
            "JOIN models m ON m.id = v.model_id WHERE l.parent_id = ? ORDER BY m.name, v.number", [version_id])]
        me = chain[0]
        data = {refs[vid]: datasets.get(vid, []) for vid in dict.fromkeys(r["id"] for r in chain)}
        return {"ref": refs[version_id], "base_model": me["base_model"], "code_commit": me["code_commit"],
                "datasets": datasets.get(version_id, []), "ancestors": ancestors, "children": children,
                "data_lineage": data,
                "all_datasets": sorted({d["name"] for sources in data.values() for d in sources})}

    def adapters(self, base: str) -> list[int]:
        """LoRA versions for a base: by base_model string, or by an adapter edge to one of
        its versions when BASE names a model in the registry (NAME or NAME:VERSION)."""
        names, parent_ids = {base}, []
        try:
            ref = parse_ref(base)
        except Exception:  # an HF id with characters our names refuse: match the string only
            ref = None
        if ref is not None and self.db.one("SELECT 1 AS x FROM models WHERE name = ?", [ref.name]):
            if not ref.names_a_version:
                rows = list(self.db.query("SELECT v.id, v.metadata_json FROM versions v JOIN models m "
                                          "ON m.id = v.model_id WHERE m.name = ?", [ref.name]))
            else:
                rows = [self.db["versions"].get(self.versions.resolve(ref))]
            parent_ids = [r["id"] for r in rows]
            names.add(ref.name)
            for r in rows:
                repo = (json.loads(r["metadata_json"] or "{}").get("hf") or {}).get("repo_id")
                if repo:
                    names.add(repo)
        marks, pmarks = ",".join("?" * len(names)), ",".join("?" * len(parent_ids)) or "NULL"
        return [r["id"] for r in self.db.query(
            f"SELECT v.id FROM versions v JOIN models m ON m.id = v.model_id WHERE v.kind = 'lora' AND "
            f"(v.base_model IN ({marks}) OR v.id IN (SELECT child_id FROM lineage WHERE relation = 'adapter' "
            f"AND parent_id IN ({pmarks}))) ORDER BY m.name, v.number", [*names, *parent_ids])]

    # -- compare, resolve, summary ---------------------------------------------------------

    def compare(self, name: str, a: str, b: str) -> dict:
        versions = []
        for text in (a, b):
            if not any(ch in text for ch in ":@"):  # "2", "v2", "latest", or an alias such as prod
                text = f"{name}:{text}" if re.fullmatch(r"v?\d+|latest", text) else f"{name}@{text}"
            versions.append(self.versions.version_by_id(self.versions.resolve(parse_ref(text)), frozenset()))
        va, vb = versions
        rows = []

        def add(section, key, x, y):
            delta = None
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (x, y)):
                delta = round(y - x, 12)  # 0.87 - 0.85 is 0.02, not 0.020000000000000018
            rows.append({"section": section, "key": key, "a": x, "b": y, "delta": delta,
                         "same": x == y})

        for key in COMPARED_FIELDS:
            add("version", key, va.get(key), vb.get(key))
        add("version", "datasets", [d["name"] for d in va["datasets"]], [d["name"] for d in vb["datasets"]])
        for key in sorted(set(va["metrics"]) | set(vb["metrics"])):
            add("metrics", key, va["metrics"].get(key), vb["metrics"].get(key))
        for key in sorted(set(va["params"]) | set(vb["params"])):
            add("training config", key, va["params"].get(key), vb["params"].get(key))
        ta, tb = (v["metadata"].get("training") or {} for v in versions)
        for key in TRAINING_FACTS:
            if key in ta or key in tb:
                add("training", key, ta.get(key), tb.get(key))
        return {"name": name, "a": f"{va['name']}:{va['version']}", "b": f"{vb['name']}:{vb['version']}",
                "rows": rows}

    def resolve_role(self, role: str, capabilities: list[str], prefer: str = "") -> tuple[int, str]:
        """003's order: the preferred model if it qualifies, then the first active version
        (by model name, newest first) with the role and every capability, else an error."""
        where = ["v.state = 'active'", "v.status != 'failed'",
                 "v.id IN (SELECT version_id FROM version_roles WHERE role = ?)"]
        params: list = [role]
        for capability in capabilities:
            where.append("v.id IN (SELECT version_id FROM version_capabilities WHERE key = ? AND value = 1)")
            params.append(capability)
        sql = ("SELECT v.id, m.name FROM versions v JOIN models m ON m.id = v.model_id WHERE "
               + " AND ".join(where) + " {extra} ORDER BY m.name, v.number DESC LIMIT 1")
        needs = f"role {role!r}" + (f" and capabilities {', '.join(capabilities)}" if capabilities else "")
        note = ""
        if prefer:
            row = self.db.one(sql.format(extra="AND m.name = ?"), params + [prefer])
            if row:
                return row["id"], f"preferred model {prefer} has {needs}"
            known = self.db.one("SELECT 1 AS x FROM models WHERE name = ?", [prefer])
            note = (f"preferred model {prefer} has no active version with {needs}" if known
                    else f"preferred model {prefer} is not in the registry")
        row = self.db.one(sql.format(extra=""), params)
        if not row:
            raise NotFound(f"no active version has {needs}" + (f" ({note})" if note else ""))
        return row["id"], (note + "; " if note else "") + f"first active version with {needs}"

    def summary(self, name: str = "") -> dict:
        if name:
            return self._model_summary(self.versions.model_row(name))
        count = lambda sql: self.db.one(sql, [])["n"]  # noqa: E731
        group = lambda sql: {r["k"]: r["n"] for r in self.db.query(sql)}  # noqa: E731
        return {
            "models": count("SELECT COUNT(*) AS n FROM models"),
            "versions": count("SELECT COUNT(*) AS n FROM versions"),
            "registered": count("SELECT COUNT(*) AS n FROM versions WHERE registered = 1"),
            "by_kind": group("SELECT kind AS k, COUNT(*) AS n FROM versions GROUP BY kind"),
            "by_state": group("SELECT state AS k, COUNT(*) AS n FROM versions GROUP BY state"),
            "by_status": group("SELECT status AS k, COUNT(*) AS n FROM versions GROUP BY status"),
            "hosts": count("SELECT COUNT(*) AS n FROM hosts"),
            "copies": group("SELECT state AS k, COUNT(*) AS n FROM copies GROUP BY state"),
            "locked": count("SELECT COUNT(*) AS n FROM versions WHERE locked = 1"),
            "aliases": count("SELECT COUNT(*) AS n FROM aliases"),
            "total_bytes": count("SELECT COALESCE(SUM(size_bytes), 0) AS n FROM versions"),
            "models_list": [{"name": r["name"], "versions": r["n"], "latest": r["latest"]} for r in self.db.query(
                "SELECT m.name, COUNT(v.id) AS n, MAX(v.number) AS latest FROM models m "
                "LEFT JOIN versions v ON v.model_id = m.id GROUP BY m.id ORDER BY m.name LIMIT 1000")],
        }

    def _model_summary(self, model: dict) -> dict:
        versions = self.versions.matching("v.model_id = ?", [model["id"]], frozenset())
        best: dict[str, dict] = {}
        for v in versions:
            for key, value in v["metrics"].items():
                lower = key in LOWER_IS_BETTER
                if key not in best or (value < best[key]["value"] if lower else value > best[key]["value"]):
                    best[key] = {"value": value, "version": v["version"]}
        by_state: dict[str, int] = {}
        for v in versions:
            by_state[v["state"]] = by_state.get(v["state"], 0) + 1
        aliases = {a: v["version"] for v in versions for a in v["aliases"]}
        return {"name": model["name"], "versions": len(versions), "by_state": by_state, "aliases": aliases,
                "latest": versions[-1]["version"] if versions else None, "best": best,
                "list": [{"version": v["version"], "semver": v["semver"], "state": v["state"],
                          "status": v["status"], "aliases": v["aliases"], "metrics": v["metrics"],
                          "kind": v["kind"], "created_at": v["created_at"]} for v in versions]}

    # -- events ---------------------------------------------------------------------------

    def events_after(self, after_id: int = 0, limit: int = 100, resource: str = "") -> list[dict]:
        """Events after an id, oldest first; with after_id 0, the newest ``limit`` of them."""
        check_limit(limit)
        where, params = ["id > ?"], [after_id]
        if resource:
            where.append("(resource = ? OR substr(resource, 1, ?) = ?)")  # NAME also matches NAME:VER
            params += [resource, len(resource) + 1, resource + ":"]
        order = "ASC" if after_id else "DESC"
        rows = [decode_json_columns(r) for r in self.db.query(
            f"SELECT * FROM events WHERE {' AND '.join(where)} ORDER BY id {order} LIMIT ?", params + [limit])]
        return rows if after_id else rows[::-1]

    def event_page(self, offset: int = 0, limit: int = 50, text: str = "", result: str = "") -> list[dict]:
        """Events newest first, a page at a time; ``text`` matches action, resource or actor."""
        check_limit(limit)
        check_limit(offset)
        where, params = ["1 = 1"], []
        if text:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append("(action LIKE ? ESCAPE '\\' OR resource LIKE ? ESCAPE '\\' OR actor LIKE ? ESCAPE '\\')")
            params += [pattern] * 3
        if result:
            where.append("COALESCE(NULLIF(result, ''), 'ok') = ?")
            params.append(result)
        return [decode_json_columns(r) for r in self.db.query(
            f"SELECT * FROM events WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ? OFFSET ?",
            params + [limit, offset])]

    # -- locks and drift ------------------------------------------------------------------

    def verification_plan(self, ref: ModelRef) -> dict:
        version_id = self.versions.resolve(ref)
        row = self.db["versions"].get(version_id)
        if row["status"] == "pending":
            raise FailedPrecondition(f"{self.db.version_ref(version_id)} has no weights to verify yet")
        copies = [dict(r) for r in self.db.query(
            "SELECT c.id, c.host_id, h.name AS host, c.path, c.state FROM copies c JOIN hosts h ON h.id = c.host_id "
            "WHERE c.version_id = ? ORDER BY h.name, c.path", [version_id])]
        if not copies:
            raise FailedPrecondition(f"{self.db.version_ref(version_id)} has no copies on any host to verify")
        self.db.execute("UPDATE versions SET status = 'verifying' WHERE id = ?", [version_id])
        return {"version_id": version_id, "ref": self.db.version_ref(version_id), "digest": row["digest"],
                "locked": bool(row["locked"]), "copies": copies, "status": row["status"]}

    def apply_verification(self, plan: dict, results: list[dict], lock: bool = False, unlock: bool = False,
                           actor: str = "", now: float | None = None) -> dict:
        """results: one {copy_id, outcome: ok|drifted|missing|offline|error, digest, error} per copy."""
        now = now or time.time()
        version_id = plan["version_id"]
        ok = [r for r in results if r["outcome"] == "ok"]
        bad = [r for r in results if r["outcome"] in ("drifted", "missing")]
        with self.db.atomic():
            for r in results:
                if r["outcome"] == "ok":
                    self.db.execute("UPDATE copies SET state = 'verified', found_digest = NULL, verified_at = ?, "
                                    "updated_at = ? WHERE id = ?", [now, now, r["copy_id"]])
                elif r["outcome"] in ("drifted", "missing"):
                    # a drifted copy stays listed but is never a transfer source (state != verified).
                    # Drift a scan has not seen (the agent's hash cache may be stale) is cleared only
                    # by another verify: found_digest is kept only when the scan saw this content.
                    self.db.execute("UPDATE copies SET state = ?, updated_at = ?, found_digest = CASE "
                                    "WHEN found_digest = ? THEN found_digest END WHERE id = ?",
                                    [r["outcome"], now, r.get("digest") or "", r["copy_id"]])
            status = "ready" if ok else "failed" if bad else plan["status"]  # no answer: as it was
            updates = {"status": status}
            if ok:
                updates["last_verified"] = now
            if lock:
                if not ok:
                    self.db.execute("UPDATE versions SET status = ? WHERE id = ?", [status, version_id])
                    raise FailedPrecondition(f"cannot lock {plan['ref']}: no copy matches its digest")
                updates.update(locked=1, locked_digest=plan["digest"])
            if unlock:
                updates.update(locked=0, locked_digest=None)
            self.db["versions"].update(version_id, updates)
            locked = bool(self.db["versions"].get(version_id)["locked"])
            report = {"ref": plan["ref"], "digest": plan["digest"], "locked": locked, "status": status,
                      "copies": results, "drifted": [r for r in results if r["outcome"] == "drifted"]}
            self.db.record_event(actor, "model.verify", plan["ref"], {
                "ok": len(ok), "drifted": len(report["drifted"]), "locked": locked,
                "outcomes": {f"{r['host']}:{r['path']}": r["outcome"] for r in results}})
            if report["drifted"] and locked:
                self.db.record_event(actor, "model.drift", plan["ref"],
                                     {"copies": [f"{r['host']}:{r['path']}" for r in report["drifted"]]})
        return report
