"""The search language, compiled to parameterised SQL, and the search itself.

    tag.production = true AND metric.accuracy > 0.85 AND (role = 'asm' OR kind = 'lora')

Grammar (keywords are case-insensitive):

    query      := or ;  or := and (OR and)* ;  and := not (AND not)* ;  not := NOT not | primary
    primary    := '(' or ')' | field test
    test       := op value | [NOT] IN '(' value (',' value)* ')' | [NOT] LIKE string | IS [NOT] NULL
    op         := = | != | <> | < | <= | > | >=
    value      := 'string' | "string" | number | true | false
    field      := name | name.KEY          (KEY: letters, digits, '_', '.', '-')

Field names come from a whitelist (FIELDS, KEYED, MULTI); every value is a ``?``
parameter; the compiler never writes a literal into SQL. Missing keys and empty
columns are NULL, never errors: ``metric.accuracy > 0.8`` is simply false for a
version without that metric, and so is its negation (SQL's three-valued logic).
``role``, ``host``, ``backend``, ``alias``, ``dataset``, ``capability`` and ``tag``
hold sets: ``role = 'asm'`` means "has the role asm", and ``role != 'asm'`` (or
``NOT role = 'asm'``) means "does not have it".

NOT is pushed down to the tests (De Morgan; a negated comparison becomes its inverse),
so every test compiles to an index-friendly ``v.id IN (SELECT version_id …)`` or a
plain column comparison, and a version missing a key never matches either way.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

from meshcore.errors import InvalidArgument

from .core import RegistryCore

# name -> (SQL column, type); text columns store '' for "not set", which counts as NULL.
FIELDS = {
    "name": ("m.name", "text"), "display_name": ("m.display_name", "text"), "version": ("v.number", "int"),
    "kind": ("v.kind", "text"), "format": ("v.format", "text"), "source": ("v.source", "text"),
    "state": ("v.state", "text"), "status": ("v.status", "text"), "semver": ("v.semver", "text"),
    "base_model": ("v.base_model", "text"), "digest": ("v.digest", "text"),
    "created_at": ("v.created_at", "time"), "updated_at": ("v.updated_at", "time"),
    "size": ("v.size_bytes", "number"), "framework": ("v.framework", "text"),
    "hardware": ("v.hardware", "text"), "code_commit": ("v.code_commit", "text"),
    "notes": ("v.notes", "text"), "registered": ("v.registered", "bool"), "locked": ("v.locked", "bool"),
    "cost_usd": ("v.cost_usd", "number"), "duration_s": ("v.duration_s", "number"),
}
# Sets of values per version: name -> (SELECT of version ids, value column, fixed condition).
MULTI = {
    "role": ("SELECT version_id FROM version_roles", "role", ""),
    "host": ("SELECT c.version_id FROM copies c JOIN hosts h ON h.id = c.host_id", "h.name", ""),
    "backend": ("SELECT version_id FROM version_backends", "backend", ""),
    "alias": ("SELECT version_id FROM aliases", "alias", ""),
    "dataset": ("SELECT version_id FROM version_datasets", "name", ""),
    "capability": ("SELECT version_id FROM version_capabilities", "key", "value = ?"),  # the true ones
    "tag": ("SELECT version_id FROM version_tags", "key", ""),
}
# KEY-ed values: name -> (table, type).
KEYED = {"tag": ("version_tags", "text"), "metric": ("version_metrics", "number"),
         "param": ("version_params", "param"), "capability": ("version_capabilities", "bool")}
INVERSE = {"=": "!=", "!=": "=", "<": ">=", ">=": "<", ">": "<=", "<=": ">", "IN": "NOT IN",
           "NOT IN": "IN", "LIKE": "NOT LIKE", "NOT LIKE": "LIKE", "IS NULL": "IS NOT NULL",
           "IS NOT NULL": "IS NULL"}
POSITIVE = {"!=": "=", "NOT IN": "IN", "NOT LIKE": "LIKE", "IS NULL": "IS NOT NULL"}
KEYWORDS = {"AND", "OR", "NOT", "IN", "LIKE", "IS", "NULL", "TRUE", "FALSE"}
MAX_QUERY = 4000
MAX_LIMIT = 10000


class QueryError(InvalidArgument):
    def __init__(self, position: int, what: str):
        super().__init__(f"query error at position {position}: {what}")
        self.position = position


@dataclass
class Token:
    kind: str    # ident | string | number | op | ( | ) | , | kw | end
    text: str
    pos: int     # 1-based
    value: Any = None


_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+) | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?) |
    (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_][A-Za-z0-9_.\-]*)?) |
    (?P<op><=|>=|!=|<>|=|<|>) | (?P<punct>[(),])
""", re.VERBOSE)


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_QUERY:
        raise QueryError(MAX_QUERY, f"query longer than {MAX_QUERY} characters")
    tokens, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch in "'\"":
            j, out = i + 1, []
            while True:
                if j >= len(text):
                    raise QueryError(i + 1, f"unterminated string starting with {ch}")
                if text[j] == ch:
                    if j + 1 < len(text) and text[j + 1] == ch:  # '' inside '...' is one quote
                        out.append(ch)
                        j += 2
                        continue
                    break
                out.append(text[j])
                j += 1
            tokens.append(Token("string", text[i:j + 1], i + 1, "".join(out)))
            i = j + 1
            continue
        match = _TOKEN_RE.match(text, i)
        if not match:
            raise QueryError(i + 1, f"unexpected character {ch!r}")
        kind = match.lastgroup
        word = match.group()
        if kind == "number":
            try:
                number = float(word)
            except ValueError:
                raise QueryError(i + 1, f"bad number {word!r}") from None
            if not math.isfinite(number):
                raise QueryError(i + 1, f"number {word!r} is out of range")
            tokens.append(Token("number", word, i + 1, int(number) if re.fullmatch(r"-?\d+", word) else number))
        elif kind == "ident" and word.upper() in KEYWORDS:
            tokens.append(Token("kw", word.upper(), i + 1))
        elif kind == "op":
            tokens.append(Token("op", "!=" if word == "<>" else word, i + 1))
        elif kind == "punct":
            tokens.append(Token(word, word, i + 1))
        elif kind == "ident":
            tokens.append(Token("ident", word, i + 1))
        i = match.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


# -- the tree -------------------------------------------------------------------------------------

@dataclass
class Test:
    field: str
    key: str | None
    op: str
    values: list = field(default_factory=list)
    pos: int = 0


@dataclass
class BoolOp:
    op: str            # AND | OR
    parts: list


@dataclass
class Not:
    part: Any


class _Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def is_kw(self, word: str) -> bool:
        token = self.peek()
        return token.kind == "kw" and token.text == word

    def parse(self):
        if self.peek().kind == "end":
            raise QueryError(1, "empty query")
        node = self.parse_or()
        token = self.peek()
        if token.kind != "end":
            raise QueryError(token.pos, f"expected AND, OR or the end of the query, found {_show(token)}")
        return node

    def parse_or(self):
        parts = [self.parse_and()]
        while self.is_kw("OR"):
            self.take()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else BoolOp("OR", parts)

    def parse_and(self):
        parts = [self.parse_not()]
        while self.is_kw("AND"):
            self.take()
            parts.append(self.parse_not())
        return parts[0] if len(parts) == 1 else BoolOp("AND", parts)

    def parse_not(self):
        if self.is_kw("NOT"):
            self.take()
            return Not(self.parse_not())
        return self.parse_primary()

    def parse_primary(self):
        token = self.take()
        if token.kind == "(":
            node = self.parse_or()
            close = self.take()
            if close.kind != ")":
                raise QueryError(close.pos, f"expected ')' to close the '(' at position {token.pos}, "
                                            f"found {_show(close)}")
            return node
        if token.kind != "ident":
            raise QueryError(token.pos, f"expected a field name, found {_show(token)}")
        name, _, key = token.text.partition(".")
        name = name.lower()
        if key:
            if name not in KEYED:
                raise QueryError(token.pos, f"unknown field {token.text!r} (KEY-ed fields: "
                                            f"{', '.join(k + '.KEY' for k in KEYED)})")
        elif name not in FIELDS and name not in MULTI:
            raise QueryError(token.pos, f"unknown field {token.text!r} (fields: {', '.join(sorted(FIELDS))}, "
                                        f"{', '.join(sorted(MULTI))}, {', '.join(k + '.KEY' for k in KEYED)})")
        return self.parse_test(name, key or None, token)

    def parse_test(self, name: str, key: str | None, field_token: Token) -> Test:
        token = self.take()
        if token.kind == "op":
            return Test(name, key, token.text, [self.value(token)], field_token.pos)
        negated = False
        if token.kind == "kw" and token.text == "NOT":
            negated, token = True, self.take()
            if not (token.kind == "kw" and token.text in ("IN", "LIKE")):
                raise QueryError(token.pos, f"expected IN or LIKE after NOT, found {_show(token)}")
        if token.kind == "kw" and token.text == "IN":
            open_ = self.take()
            if open_.kind != "(":
                raise QueryError(open_.pos, f"expected '(' after IN, found {_show(open_)}")
            values = [self.value(open_)]
            while self.peek().kind == ",":
                values.append(self.value(self.take()))
            close = self.take()
            if close.kind != ")":
                raise QueryError(close.pos, f"expected ',' or ')' in the IN list, found {_show(close)}")
            return Test(name, key, "NOT IN" if negated else "IN", values, field_token.pos)
        if token.kind == "kw" and token.text == "LIKE":
            pattern = self.value(token)
            if not isinstance(pattern, str):
                raise QueryError(self.tokens[self.i - 1].pos, "LIKE needs a 'string' pattern")
            return Test(name, key, "NOT LIKE" if negated else "LIKE", [pattern], field_token.pos)
        if token.kind == "kw" and token.text == "IS":
            op = "IS NULL"
            if self.is_kw("NOT"):
                self.take()
                op = "IS NOT NULL"
            null = self.take()
            if not (null.kind == "kw" and null.text == "NULL"):
                raise QueryError(null.pos, f"expected NULL after IS{' NOT' if op != 'IS NULL' else ''}, "
                                           f"found {_show(null)}")
            return Test(name, key, op, [], field_token.pos)
        raise QueryError(token.pos, f"expected a comparison (=, !=, <, <=, >, >=, IN, LIKE, IS) after "
                                    f"{field_token.text!r}, found {_show(token)}")

    def value(self, after: Token):
        token = self.take()
        if token.kind in ("string", "number"):
            return token.value
        if token.kind == "kw" and token.text in ("TRUE", "FALSE"):
            return token.text == "TRUE"
        if token.kind == "kw" and token.text == "NULL":
            raise QueryError(token.pos, "compare with NULL using IS NULL or IS NOT NULL")
        raise QueryError(token.pos, f"expected a value after {after.text!r}, found {_show(token)}")


def _show(token: Token) -> str:
    return "the end of the query" if token.kind == "end" else repr(token.text)


def parse(text: str):
    return _Parser(text or "").parse()


# -- compiling --------------------------------------------------------------------------------------

@dataclass
class Compiled:
    where: str
    params: list


def compile_query(text: str) -> Compiled:
    params: list = []
    return Compiled(_compile(parse(text), False, params), params)


def _compile(node, negate: bool, params: list) -> str:
    if isinstance(node, Not):
        return _compile(node.part, not negate, params)
    if isinstance(node, BoolOp):
        op = {"AND": "OR", "OR": "AND"}[node.op] if negate else node.op
        return "(" + f" {op} ".join(_compile(p, negate, params) for p in node.parts) + ")"
    return _compile_test(node, negate, params)


def _compile_test(test: Test, negate: bool, params: list) -> str:
    if test.key is not None:
        return _keyed(test, INVERSE[test.op] if negate else test.op, params)
    if test.field in MULTI:
        return _multi(test, negate, params)
    return _scalar(test, INVERSE[test.op] if negate else test.op, params)


def _scalar(test: Test, op: str, params: list) -> str:
    column, kind = FIELDS[test.field]
    empty_is_null = kind == "text"
    if op in ("IS NULL", "IS NOT NULL"):
        if empty_is_null:
            params.append("")
            return f"({column} IS NULL OR {column} = ?)" if op == "IS NULL" else \
                f"({column} IS NOT NULL AND {column} != ?)"
        return f"{column} {op}"
    values = [_coerce(test, kind, v) for v in test.values]
    sql = _comparison(column, op, values, params)
    if empty_is_null and op in ("!=", "NOT IN", "NOT LIKE", "<", "<="):
        params.append("")
        sql = f"({sql} AND {column} != ?)"
    return sql


def _multi(test: Test, negate: bool, params: list) -> str:
    select, column, condition = MULTI[test.field]
    if condition:
        params.append(1)
    op = test.op
    if op in ("IS NULL", "IS NOT NULL"):
        present = (op == "IS NOT NULL") != negate
        return f"v.id {'IN' if present else 'NOT IN'} ({select}{' WHERE ' + condition if condition else ''})"
    positive = op not in POSITIVE
    op = op if positive else POSITIVE[op]
    if negate:
        positive = not positive
    values = [_coerce(test, "text", v) for v in test.values]
    inner = _comparison(column, op, values, params)
    return (f"v.id {'IN' if positive else 'NOT IN'} "
            f"({select} WHERE {condition + ' AND ' if condition else ''}{inner})")


def _keyed(test: Test, op: str, params: list) -> str:
    table, kind = KEYED[test.field]
    key = test.key
    if test.field == "metric":
        from .catalog import metric_name
        try:
            key = metric_name(key)
        except InvalidArgument:
            raise QueryError(test.pos, f"invalid metric name {key!r}") from None
    params.append(key)
    if op in ("IS NULL", "IS NOT NULL"):
        return f"v.id {'NOT IN' if op == 'IS NULL' else 'IN'} (SELECT version_id FROM {table} WHERE key = ?)"
    column = "value"
    if kind == "param":  # numbers compare with the number, anything else with the text
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in test.values)
        column, kind = ("num", "number") if numeric else ("value", "text")
    values = [_coerce(test, kind, v) for v in test.values]
    return f"v.id IN (SELECT version_id FROM {table} WHERE key = ? AND {_comparison(column, op, values, params)})"


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
    if sub and name in KEYED:
        table, kind = KEYED[name]
        if name == "metric":
            from .catalog import metric_name
            sub = metric_name(sub)
        column = "num" if kind == "param" else "value"
        expression = f"(SELECT {column} FROM {table} WHERE version_id = v.id AND key = ?)"
        params.append(sub)
    elif not sub and name in FIELDS:
        expression = FIELDS[name][0]
    else:
        raise InvalidArgument(f"cannot sort by {key!r}: use one of {', '.join(sorted(FIELDS))}, "
                              "metric.KEY, param.KEY or tag.KEY")
    order = f"{expression} IS NULL, {expression} {direction.upper()}, m.name, v.number"
    return order, params + params


class SearchMixin(RegistryCore):
    def search(self, connected: frozenset[str], query: str = "", *, sort: str = "", limit: int = 0,
               filters: tuple[str, list] | None = None) -> list[dict]:
        """Versions matching a query (and extra compiled filters), in sort order."""
        clauses, params = [], []
        if query and query.strip():
            compiled = compile_query(query)
            clauses.append(compiled.where)
            params.extend(compiled.params)
        if filters and filters[0]:
            clauses.append(filters[0])
            params.extend(filters[1])
        order, order_params = compile_sort(sort)
        if limit < 0 or limit > MAX_LIMIT:
            raise InvalidArgument(f"limit must be between 0 and {MAX_LIMIT}")
        sql = ("SELECT v.id, m.name, v.number FROM versions v JOIN models m ON m.id = v.model_id "
               f"WHERE {' AND '.join(clauses) or 'v.id IS NOT NULL'} ORDER BY {order} LIMIT ?")
        rows = list(self.db.query(sql, params + order_params + [limit or MAX_LIMIT]))
        if not rows:
            return []
        position = {(r["name"], r["number"]): i for i, r in enumerate(rows)}
        ids = [r["id"] for r in rows]
        found = self._versions(f"v.id IN ({','.join('?' * len(ids))})", ids, connected)
        return sorted(found, key=lambda v: position[(v["name"], v["version"])])

    def explain(self, query: str, sort: str = "") -> list[str]:
        """EXPLAIN QUERY PLAN of a search (for the benchmark and for tuning indexes)."""
        compiled = compile_query(query) if query else Compiled("v.id IS NOT NULL", [])
        order, order_params = compile_sort(sort)
        sql = (f"EXPLAIN QUERY PLAN SELECT v.id FROM versions v JOIN models m ON m.id = v.model_id "
               f"WHERE {compiled.where} ORDER BY {order} LIMIT ?")
        return [r["detail"] for r in self.db.query(sql, compiled.params + order_params + [50])]


def flag_filters(role: str = "", backend: str = "", tags: list[str] | None = None, kind: str = "",
                 host_id: str = "", name: str = "") -> tuple[str, list]:
    """`meshctl models list` flags as a compiled filter on the same engine."""
    clauses, params = [], []
    if role:
        clauses.append("v.id IN (SELECT version_id FROM version_roles WHERE role = ?)")
        params.append(role)
    if backend:
        clauses.append("v.id IN (SELECT version_id FROM version_backends WHERE backend = ?)")
        params.append(backend)
    for tag in tags or ():
        key, sep, value = tag.partition("=")
        if sep:
            clauses.append("v.id IN (SELECT version_id FROM version_tags WHERE key = ? AND value = ?)")
            params.extend([key, value])
        else:
            clauses.append("v.id IN (SELECT version_id FROM version_tags WHERE key = ?)")
            params.append(key)
    if kind:
        clauses.append("v.kind = ?")
        params.append(kind)
    if host_id:
        clauses.append("v.id IN (SELECT version_id FROM copies WHERE host_id = ?)")
        params.append(host_id)
    if name:
        clauses.append("m.name = ?")
        params.append(name)
    return " AND ".join(clauses), params
