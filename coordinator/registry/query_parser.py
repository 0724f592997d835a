"""The search language's tokenizer and parser (no SQL here: see search.py, which also
documents the language). ``parse(text)`` gives a tree of Test, BoolOp and Not, or a
QueryError that says at which character and why."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from llmesh.common.errors import InvalidArgument

MAX_QUERY = 4000
KEYWORDS = {"AND", "OR", "NOT", "IN", "LIKE", "IS", "NULL", "TRUE", "FALSE"}
# The whitelist of field names (search.py maps each to SQL).
FIELDS = ("name", "display_name", "version", "kind", "format", "source", "state", "status", "semver", "base_model",
          "digest", "created_at", "updated_at", "size", "framework", "hardware", "code_commit", "notes",
          "registered", "locked", "cost_usd", "duration_s")
MULTI = ("role", "host", "backend", "alias", "dataset", "capability", "tag")  # sets of values per version
KEYED = ("tag", "metric", "param", "capability")                             # NAME.KEY


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
    negated: bool = False  # for sets: "has no value that …" (NOT pushed down onto a set test)


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
