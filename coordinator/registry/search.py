"""The search language, compiled to parameterised SQL, and the search itself.

    tag.production = true AND metric.accuracy > 0.85 AND (role = 'asm' OR kind = 'lora')

Grammar (keywords are case-insensitive; the parser is in query_parser.py):

    query      := or ;  or := and (OR and)* ;  and := not (AND not)* ;  not := NOT not | primary
    primary    := '(' or ')' | field test
    test       := op value | [NOT] IN '(' value (',' value)* ')' | [NOT] LIKE string | IS [NOT] NULL
    op         := = | != | <> | < | <= | > | >=
    value      := 'string' | "string" | number | true | false
    field      := name | name.KEY          (KEY: letters, digits, '_', '.', '-')

Field names come from a whitelist (COLUMNS, SETS, KEYED_TABLES); every value is a ``?``
parameter; the compiler never writes a literal into SQL. Missing keys and empty
columns are NULL, never errors: ``metric.accuracy > 0.8`` is simply false for a
version without that metric, and so is its negation (SQL's three-valued logic).
``role``, ``host``, ``backend``, ``alias``, ``dataset``, ``capability`` and ``tag``
hold sets: ``role = 'asm'`` means "has the role asm", and ``role != 'asm'`` (or
``NOT role = 'asm'``) means "does not have it".

NOT is pushed down to the tests (De Morgan; a negated comparison becomes its inverse),
so a version missing a key never matches either way. Each test compiles twice: a
*filter* (a correlated EXISTS, or a column comparison) and, where an index can find
its versions, a *driver* (an uncorrelated SELECT of version ids, a superset of the
matches). The search counts each top-level term's driver up to a small cap: the most
selective term drives (``v.id IN (driver)``), the other terms on side tables are checked
on its ids before a version row is read (the most selective first), then the rest filter;
otherwise the query walks versions in result order through the name index and stops at
the limit.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from llmesh.common.errors import InvalidArgument
from llmesh.common.names import check_key, shown
from llmesh.coordinator.registry import query_parser
from llmesh.coordinator.registry.database import Database
from llmesh.coordinator.registry.facts import check_limit, metric_name, semver_key
from llmesh.coordinator.registry.query_parser import BoolOp, Not, QueryError, Test, parse
from llmesh.coordinator.registry.versions import VersionsRepository

__all__ = ["QueryError", "compile_query", "compile_terms", "compile_sort", "parse", "SearchRepository"]

# name -> (SQL column, type, indexed); text columns store '' for "not set", which counts as NULL.
COLUMNS = {
    "name": ("m.name", "text", True), "display_name": ("m.display_name", "text", False),
    "version": ("v.number", "int", False), "kind": ("v.kind", "text", True), "format": ("v.format", "text", False),
    "source": ("v.source", "text", False), "state": ("v.state", "text", True), "status": ("v.status", "text", True),
    "semver": ("v.semver", "text", False), "base_model": ("v.base_model", "text", True),
    "digest": ("v.digest", "text", True), "created_at": ("v.created_at", "time", True),
    "updated_at": ("v.updated_at", "time", False), "size": ("v.size_bytes", "number", False),
    "framework": ("v.framework", "text", False), "hardware": ("v.hardware", "text", False),
    "code_commit": ("v.code_commit", "text", False), "notes": ("v.notes", "text", False),
    "registered": ("v.registered", "bool", False), "locked": ("v.locked", "bool", False),
    "cost_usd": ("v.cost_usd", "number", False), "duration_s": ("v.duration_s", "number", False),
}
# Sets of values per version: name -> (FROM clause, its version id column, value column, fixed condition).
SETS = {
    "role": ("version_roles", "version_id", "role", ""),
    "host": ("copies c JOIN hosts h ON h.id = c.host_id", "c.version_id", "h.name", ""),
    "backend": ("version_backends", "version_id", "backend", ""),
    "alias": ("aliases", "version_id", "alias", ""),
    "dataset": ("version_datasets", "version_id", "name", ""),
    "capability": ("version_capabilities", "version_id", "key", "value = ?"),  # the true ones
    "tag": ("version_tags", "version_id", "key", ""),
}
# KEY-ed values: name -> (table, type).
KEYED_TABLES = {"tag": ("version_tags", "text"), "metric": ("version_metrics", "number"),
                "param": ("version_params", "param"), "capability": ("version_capabilities", "bool")}
assert set(COLUMNS) == set(query_parser.FIELDS) and set(SETS) == set(query_parser.MULTI)
assert set(KEYED_TABLES) == set(query_parser.KEYED)
INVERSE = {"=": "!=", "!=": "=", "<": ">=", ">=": "<", ">": "<=", "<=": ">", "IN": "NOT IN",
           "NOT IN": "IN", "LIKE": "NOT LIKE", "NOT LIKE": "LIKE", "IS NULL": "IS NOT NULL",
           "IS NOT NULL": "IS NULL"}
POSITIVE = {"!=": "=", "NOT IN": "IN", "NOT LIKE": "LIKE", "IS NULL": "IS NOT NULL"}
INDEXED_OPS = {"=", "IN", "<", "<=", ">", ">="}
ORDER_OPS = {"<", "<=", ">", ">="}
# Columns that order by a key of their own: semver labels order as versions (1.10.0 > 1.9.0).
ORDER_KEYS = {"semver": ("v.semver_key", semver_key, "a version like '1.2.0'")}
MAX_LIMIT = 10000
_OUTER_ID = re.compile(r"\bv\.id\b")  # how a by_id filter names the version it tests
DRIVER_CAP = 2000  # a term matching fewer versions than this drives the search


# -- compiling ------------------------------------------------------------------------------------

@dataclass
class Term:
    """One compiled test or combination: a filter for WHERE (v and m in scope), and
    maybe a driver: an uncorrelated SELECT of version ids that holds every match."""
    filter: str
    params: list
    driver: str | None = None
    driver_params: list | None = None
    exact: bool = False  # the driver's ids are exactly the matches: its filter may be dropped
    by_id: bool = False  # the filter reads the outer query only through v.id (EXISTS on a side table)


@dataclass
class Compiled:
    where: str
    params: list


def compile_query(text: str) -> Compiled:
    """The whole query as one WHERE clause of filters."""
    return _conjunction(compile_terms(text))


def compile_terms(text: str) -> list[Term]:
    """The query's top-level AND terms (after NOT is pushed down), each compiled."""
    node = _push_not(parse(text), False)
    parts = node.parts if isinstance(node, BoolOp) and node.op == "AND" else [node]
    return [_compile(part) for part in parts]


def _conjunction(terms: list[Term]) -> Compiled:
    params: list = []
    for term in terms:
        params.extend(term.params)
    return Compiled(" AND ".join(t.filter for t in terms) or "v.id IS NOT NULL", params)


def _push_not(node, negate: bool):
    """Negation normal form: NOT only on tests, as their inverse comparison."""
    if isinstance(node, Not):
        return _push_not(node.part, not negate)
    if isinstance(node, BoolOp):
        op = {"AND": "OR", "OR": "AND"}[node.op] if negate else node.op
        parts = [_push_not(p, negate) for p in node.parts]
        flat = []
        for part in parts:  # (a AND b) AND c -> AND(a, b, c)
            flat.extend(part.parts if isinstance(part, BoolOp) and part.op == op else [part])
        return BoolOp(op, flat)
    if not negate:
        return node
    if node.key is None and node.field in SETS:  # a set: NOT is the complement
        return Test(node.field, node.key, node.op, node.values, node.pos, not node.negated)
    return Test(node.field, node.key, INVERSE[node.op], node.values, node.pos, node.negated)


def _compile(node) -> Term:
    if isinstance(node, BoolOp):
        terms = [_compile(p) for p in node.parts]
        params = [x for t in terms for x in t.params]
        joined = "(" + f" {node.op} ".join(t.filter for t in terms) + ")"
        by_id = all(t.by_id for t in terms)
        if node.op == "AND":  # any one part's driver holds every match
            driving = next((t for t in terms if t.driver), None)
            return Term(joined, params, driving.driver if driving else None,
                        driving.driver_params if driving else None, by_id=by_id)
        if all(t.driver for t in terms):  # OR: the union of the parts' drivers
            return Term(joined, params, " UNION ALL ".join(t.driver for t in terms),
                        [x for t in terms for x in t.driver_params], all(t.exact for t in terms), by_id)
        return Term(joined, params, by_id=by_id)
    if node.key is None and node.field not in SETS:
        return _column(node)
    term = _keyed(node) if node.key is not None else _set(node)
    term.by_id = True  # EXISTS (… WHERE version_id = v.id …)
    return term


def _column(test: Test) -> Term:
    column, kind, indexed = COLUMNS[test.field]
    op = test.op
    params: list = []
    if op in ("IS NULL", "IS NOT NULL"):
        if kind != "text":
            return Term(f"+{column} {op}", [])
        return Term(f"(+{column} IS NULL OR +{column} = ?)" if op == "IS NULL" else
                    f"(+{column} IS NOT NULL AND +{column} != ?)", [""])
    values = [_coerce(test, kind, v) for v in test.values]
    if test.field in ORDER_KEYS and op in ORDER_OPS:
        column, to_key, example = ORDER_KEYS[test.field]
        keys = [to_key(v) for v in values]
        if None in keys:
            raise QueryError(test.pos, f"{test.field} {op} needs {example}, not {values[keys.index(None)]!r}")
        return Term(_comparison(f"+{column}", op, keys, params), params)
    # The unary + keeps SQLite from walking a column's index when the walk in name order is cheaper.
    sql = _comparison(f"+{column}", op, values, params)
    exact = True
    if kind == "text" and op in ("!=", "NOT IN", "NOT LIKE", "<", "<="):
        params.append("")
        sql, exact = f"({sql} AND +{column} != ?)", False
    if not indexed or op not in INDEXED_OPS:
        return Term(sql, params)
    driver_params: list = []
    condition = _comparison(column, op, values, driver_params)
    driver = (f"SELECT v.id FROM versions v JOIN models m ON m.id = v.model_id WHERE {condition}"
              if column.startswith("m.") else f"SELECT v.id FROM versions v WHERE {condition}")
    return Term(sql, params, driver, driver_params, exact)


def _set(test: Test) -> Term:
    table, id_column, column, fixed = SETS[test.field]
    head = [1] if fixed else []
    correlated = f"SELECT {id_column} FROM {table} WHERE {id_column} = v.id"
    if fixed:
        correlated += f" AND {fixed}"
    op, present = test.op, not test.negated
    if op in ("IS NULL", "IS NOT NULL"):
        present = present == (op == "IS NOT NULL")
        if not present:
            return Term(f"NOT EXISTS ({correlated})", list(head))
        driver = f"SELECT {id_column} FROM {table}" + (f" WHERE {fixed}" if fixed else "")
        return Term(f"EXISTS ({correlated})", list(head), driver, list(head), True)
    if op in POSITIVE:  # != / NOT IN / NOT LIKE on a set: no value matches
        op, present = POSITIVE[op], not present
    values = [_coerce(test, "text", v) for v in test.values]
    params, driver_params = list(head), list(head)
    condition = _comparison(column, op, values, params)
    _comparison(column, op, values, driver_params)
    if not present:
        return Term(f"NOT EXISTS ({correlated} AND {condition})", params)
    driver = f"SELECT {id_column} FROM {table} WHERE " + (f"{fixed} AND " if fixed else "") + condition
    return Term(f"EXISTS ({correlated} AND {condition})", params, driver, driver_params, True)


def _keyed(test: Test) -> Term:
    table, kind = KEYED_TABLES[test.field]
    key = test.key
    if test.field == "metric":
        try:
            key = metric_name(key)
        except InvalidArgument:
            raise QueryError(test.pos, f"invalid metric name {key!r}") from None
    correlated = f"SELECT version_id FROM {table} WHERE version_id = v.id AND key = ?"
    if test.op == "IS NULL":
        return Term(f"NOT EXISTS ({correlated})", [key])
    if test.op == "IS NOT NULL":
        return Term(f"EXISTS ({correlated})", [key], f"SELECT version_id FROM {table} WHERE key = ?", [key], True)
    column = "value"
    if kind == "param":  # numbers compare with the number, anything else with the text
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in test.values)
        column, kind = ("num", "number") if numeric else ("value", "text")
    values = [_coerce(test, kind, v) for v in test.values]
    params, driver_params = [key], [key]
    condition = _comparison(column, test.op, values, params)
    _comparison(column, test.op, values, driver_params)
    return Term(f"EXISTS ({correlated} AND {condition})", params,
                f"SELECT version_id FROM {table} WHERE key = ? AND {condition}", driver_params, True)


def _comparison(column: str, op: str, values: list, params: list) -> str:
    params.extend(values)
    if op in ("IN", "NOT IN"):
        return f"{column} {op} ({', '.join('?' * len(values))})"
    return f"{column} {op} ?"


def _coerce(test: Test, kind: str, value):
    where = f"{test.field}{'.' + test.key if test.key else ''}"
    if test.op in ("LIKE", "NOT LIKE"):
        if kind not in ("text",):
            raise QueryError(test.pos, f"LIKE needs a text field; {where} holds {_kind_name(kind)}")
        return value
    if kind == "text":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return repr(value) if isinstance(value, float) else str(value)
        return value
    if kind in ("number", "int"):
        if kind == "int" and isinstance(value, str) and re.fullmatch(r"v?\d+", value):
            return int(value.lstrip("v"))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise QueryError(test.pos, f"{where} compares with numbers, not {value!r}")
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return int(value)
        if value in (0, 1) and not isinstance(value, float):
            return value
        raise QueryError(test.pos, f"{where} is true or false, not {value!r}")
    if kind == "time":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise QueryError(test.pos, f"{where} needs a date like '2026-01-14' or "
                                 f"'2026-01-14T10:00:00', or epoch seconds; not {value!r}") from None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.timezone.utc)
            return parsed.timestamp()
        raise QueryError(test.pos, f"{where} needs a date, not {value!r}")
    raise QueryError(test.pos, f"cannot compare {where}")  # pragma: no cover


def _kind_name(kind: str) -> str:
    return {"number": "numbers", "int": "numbers", "bool": "true/false", "time": "dates"}.get(kind, kind)


def compile_sort(sort: str) -> tuple[str, list]:
    """ORDER BY for ``--sort KEY[:asc|:desc]``; missing values sort last either way."""
    if not sort:
        return "m.name, v.number", []
    key, _, direction = sort.partition(":")
    direction = (direction or "asc").lower()
    if direction not in ("asc", "desc"):
        raise InvalidArgument(f"invalid sort {sort!r}: expected KEY, KEY:asc or KEY:desc")
    name, _, sub = key.partition(".")
    params: list = []
    if sub and name in KEYED_TABLES:
        table, kind = KEYED_TABLES[name]
        if name == "metric":
            sub = metric_name(sub)
        column = "num" if kind == "param" else "value"
        expression = f"(SELECT {column} FROM {table} WHERE version_id = v.id AND key = ?)"
        params.append(sub)
    elif not sub and name in COLUMNS:
        expression = ORDER_KEYS[name][0] if name in ORDER_KEYS else COLUMNS[name][0]
    else:
        raise InvalidArgument(f"cannot sort by {key!r}: use one of {', '.join(sorted(COLUMNS))}, "
                              "metric.KEY, param.KEY or tag.KEY")
    order = f"{expression} IS NULL, {expression} {direction.upper()}, m.name, v.number"
    return order, params + params


class SearchRepository:
    def __init__(self, db: Database, versions: VersionsRepository):
        self.db = db
        self.versions = versions

    def search(self, connected: frozenset[str], query: str = "", *, sort: str = "", limit: int = 0,
               filters: list[Term] | None = None, offset: int = 0,
               as_chunks: bool = False) -> list[dict] | list[tuple[bytes, list[dict]]]:
        """Versions matching a query (and extra compiled terms), in sort order; limit 0: all;
        ``offset``: skip that many first (the dashboard's pages); as_chunks: see versions.matching."""
        check_limit(limit, MAX_LIMIT)
        check_limit(offset)
        terms = (compile_terms(query) if query and query.strip() else []) + list(filters or [])
        where, params = self._plan(terms)
        order, order_params = compile_sort(sort)
        return self.versions.matching(where, params, connected, order=order, order_params=order_params,
                                      limit=limit or -1, offset=offset, as_chunks=as_chunks)

    def _plan(self, terms: list[Term]) -> tuple[str, list]:
        """Drive by the most selective term whose versions an index can find, if one is
        selective enough, and check the other side-table terms on its ids (the most selective
        first) before a version row is read; else filter while walking versions in result order."""
        counts: dict[int, int] = {}
        best, cap = None, DRIVER_CAP
        for term in terms:
            if term.driver:  # counted up to the best count so far: a term at it cannot win
                count = counts[id(term)] = self.db.conn.execute(f"SELECT COUNT(*) FROM ({term.driver} LIMIT ?)",
                                                                term.driver_params + [cap]).fetchone()[0]
                if count < cap:
                    best, cap = term, count
        if best is None:
            compiled = _conjunction(terms)
            return compiled.where, compiled.params
        rest = [t for t in terms if not (t is best and best.exact)]
        on_ids = sorted((t for t in rest if t.by_id), key=lambda t: counts.get(id(t), DRIVER_CAP))
        driver, params = best.driver, list(best.driver_params)
        if on_ids:
            driver = (f"WITH d(id) AS ({driver}) SELECT id FROM d WHERE "
                      + " AND ".join(_OUTER_ID.sub("d.id", t.filter) for t in on_ids))
            params += [x for t in on_ids for x in t.params]
        others = [t for t in rest if not t.by_id]
        if not others:
            return f"v.id IN ({driver})", params
        compiled = _conjunction(others)
        return f"v.id IN ({driver}) AND {compiled.where}", params + compiled.params

    def explain(self, query: str, sort: str = "") -> list[str]:
        """EXPLAIN QUERY PLAN of a search as it would run now (for the benchmark)."""
        where, params = self._plan(compile_terms(query) if query else [])
        order, order_params = compile_sort(sort)
        sql = (f"EXPLAIN QUERY PLAN SELECT v.id FROM versions v JOIN models m ON m.id = v.model_id "
               f"WHERE {where} ORDER BY {order} LIMIT ?")
        return [r["detail"] for r in self.db.query(sql, params + order_params + [50])]


def flag_terms(role: str = "", backend: str = "", tags: list[str] | None = None, kind: str = "",
               host_id: str = "", name: str = "", deployed_backend: str = "", deployed_host_id: str = "") -> list[Term]:
    """`meshctl models list` flags as terms on the same engine."""
    terms = []

    def add(table: str, condition: str, params: list) -> None:
        terms.append(Term(f"EXISTS (SELECT version_id FROM {table} WHERE version_id = v.id AND {condition})",
                          params, f"SELECT version_id FROM {table} WHERE {condition}", list(params), True, True))

    if role:
        add("version_roles", "role = ?", [role])
    if backend:
        add("version_backends", "backend = ?", [backend])
    for tag in tags or ():
        key, sep, value = tag.partition("=")
        check_key(key, f"tag {shown(tag)}: its key")
        add("version_tags", "key = ? AND value = ?" if sep else "key = ?", [key, value] if sep else [key])
    if host_id:
        add("copies", "host_id = ?", [host_id])
    for column, value in (("backend", deployed_backend), ("host_id", deployed_host_id)):
        if value:  # running there now: the served version, and the version it was deployed from
            condition = f"state = 'running' AND {column} = ?"
            terms.append(Term(
                f"EXISTS (SELECT 1 FROM deployments WHERE (version_id = v.id OR source_version_id = v.id) "
                f"AND {condition})", [value],
                f"SELECT version_id FROM deployments WHERE {condition} UNION "
                f"SELECT source_version_id FROM deployments WHERE {condition}", [value, value], True))
    if kind:
        terms.append(Term("+v.kind = ?", [kind], "SELECT id FROM versions WHERE kind = ?", [kind], True))
    if name:
        terms.append(Term("m.name = ?", [name], "SELECT v.id FROM versions v JOIN models m ON m.id = v.model_id "
                                                "WHERE m.name = ?", [name], True))
    return terms
