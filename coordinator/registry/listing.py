"""Each version's listing row, kept ready: the dict every listing answers with.

Building a version's dict reads ten tables; a listing of a hundred versions spent most of its
time there. ``version_listing`` holds each version's dict but its copies (read at listing time:
every scan re-verifies them, and their hosts' status is of the moment), so a listing reads one
row per version and the copies.

A row is the dict's values in marshal's format (Codec): plain values only (no code is ever
loaded from it), read back in about a third of JSON's time. Python's version is part of the
format number (``format_of``): rows another Python wrote are rebuilt.

Kept correct by triggers, not by the code that writes: any change to a table the dict is built
from deletes the rows it touches (whoever writes, however), and the next read builds them
again. ``ensure`` recreates a trigger that a table rebuild dropped (and then forgets every row),
and forgets rows of another FORMAT (a change to how a dict is built).

Beside the dict, a row may keep the version's wire chunk: the bytes the coordinator answers a
listing with (its columns, llmesh.common.columns), made by the encoder it gives the registry
(ChunkEncoder). ``chunk_format`` names the encoder's layout: a chunk of another layout, or
none (a row kept by a process without the encoder), is made again from the row's dict.
"""
from __future__ import annotations

import marshal
import sqlite3
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from llmesh.common.errors import Internal
from llmesh.common.wire import dict_maker

TABLE = "version_listing"

# Per-version tables: (table, its version id column).
_PER_VERSION = [("version_tags", "version_id"), ("version_roles", "version_id"),
                ("version_metrics", "version_id"), ("version_params", "version_id"),
                ("version_capabilities", "version_id"), ("aliases", "version_id"),
                ("version_datasets", "version_id"), ("version_backends", "version_id"),
                ("lineage", "child_id")]
_FORGET = f"DELETE FROM {TABLE} WHERE version_id"
# A version's dict names its parents (model name, number): their children's rows change with them.
_CHILDREN_OF_MODEL = ("SELECT l.child_id FROM lineage l JOIN versions v ON v.id = l.parent_id "
                      "WHERE v.model_id = {}.id")


def _triggers() -> dict[str, str]:
    triggers = {}
    for table, column in _PER_VERSION:
        triggers[f"listing_{table}_insert"] = (
            f"AFTER INSERT ON {table} BEGIN {_FORGET} = NEW.{column}; END")
        triggers[f"listing_{table}_update"] = (
            f"AFTER UPDATE ON {table} BEGIN {_FORGET} IN (OLD.{column}, NEW.{column}); END")
        triggers[f"listing_{table}_delete"] = (
            f"AFTER DELETE ON {table} BEGIN {_FORGET} = OLD.{column}; END")
    triggers.update({
        "listing_versions_update": f"AFTER UPDATE ON versions BEGIN {_FORGET} IN (OLD.id, NEW.id); END",
        "listing_versions_delete": f"AFTER DELETE ON versions BEGIN {_FORGET} = OLD.id; END",
        "listing_versions_renamed": (
            "AFTER UPDATE OF model_id, number ON versions "
            "WHEN OLD.model_id IS NOT NEW.model_id OR OLD.number IS NOT NEW.number "
            f"BEGIN {_FORGET} IN (SELECT child_id FROM lineage WHERE parent_id = NEW.id); END"),
        "listing_models_update": (
            "AFTER UPDATE ON models WHEN OLD.id IS NOT NEW.id OR OLD.name IS NOT NEW.name "
            "OR OLD.display_name IS NOT NEW.display_name OR OLD.description IS NOT NEW.description BEGIN "
            f"{_FORGET} IN (SELECT id FROM versions WHERE model_id IN (OLD.id, NEW.id)); "
            f"{_FORGET} IN ({_CHILDREN_OF_MODEL.format('OLD')}); "
            f"{_FORGET} IN ({_CHILDREN_OF_MODEL.format('NEW')}); END"),
    })
    return triggers


TRIGGERS = _triggers()


def create_table(conn: sqlite3.Connection) -> None:
    """Migration 35: the table (its triggers: ``ensure``, on every open)."""
    conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (version_id INTEGER PRIMARY KEY, "
                 "format INTEGER NOT NULL, body BLOB NOT NULL)")


def add_chunks(conn: sqlite3.Connection) -> None:
    """Migration 36: room for each row's wire chunk, and the layout it was made in."""
    conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN chunk BLOB")
    conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN chunk_format INTEGER")


@dataclass(frozen=True)
class ChunkEncoder:
    """What the coordinator gives the registry to keep listing chunks: ``encode(version dict
    without copies) -> bytes``, and a number that changes whenever those bytes would."""

    encode: Callable[[dict], bytes]
    format: int


def ensure(conn: sqlite3.Connection, fmt: int) -> None:
    """Every trigger in place, as written here, and no row of another format (none at all after
    a trigger was missing or different: rows kept meanwhile may be stale)."""
    present = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                "AND name LIKE 'listing\\_%' ESCAPE '\\'").fetchall())
    wanted = {name: f"CREATE TRIGGER {name} {body}" for name, body in TRIGGERS.items()}
    if present == wanted:
        conn.execute(f"DELETE FROM {TABLE} WHERE format != ?", [fmt])
        return
    for name in present:
        conn.execute(f"DROP TRIGGER {name}")
    for sql in wanted.values():
        conn.execute(sql)
    conn.execute(f"DELETE FROM {TABLE}")


def unlisted(conn: sqlite3.Connection) -> list[int]:
    """The versions that have no listing row now."""
    return [r[0] for r in conn.execute(
        f"SELECT v.id FROM versions v WHERE NOT EXISTS (SELECT 1 FROM {TABLE} l WHERE l.version_id = v.id)")]


def unchunked(conn: sqlite3.Connection, fmt: int, chunk_format: int) -> list[tuple[int, bytes]]:
    """(version id, body) of the rows of this format without a chunk of this layout."""
    return conn.execute(f"SELECT version_id, body FROM {TABLE} WHERE format = ? AND chunk_format IS NOT ?",
                        [fmt, chunk_format]).fetchall()


def keep(conn: sqlite3.Connection, fmt: int, rows: list[tuple[int, bytes, bytes | None]],
         chunk_format: int | None) -> None:
    """Rows of (version id, body, chunk or None)."""
    conn.executemany(f"INSERT OR REPLACE INTO {TABLE} (version_id, format, body, chunk, chunk_format) "
                     f"VALUES (?, {int(fmt)}, ?, ?, {'NULL' if chunk_format is None else int(chunk_format)})", rows)


def keep_chunks(conn: sqlite3.Connection, fmt: int, chunk_format: int,
                chunks: list[tuple[bytes, int, bytes]]) -> None:
    """(chunk, version id, the body it was made from): kept only where that body is still the row's."""
    conn.executemany(f"UPDATE {TABLE} SET chunk = ?, chunk_format = {int(chunk_format)} "
                     f"WHERE version_id = ? AND format = {int(fmt)} AND body = ?", chunks)


def format_of(*sources: str) -> int:
    """A number that changes with the SQL (and so the shape) a listing row is built from, and
    with the Python (and so the marshal format) that writes it."""
    return zlib.crc32("\n".join([*sources, f"{sys.version_info[:2]} marshal {marshal.version}"]).encode())


class Codec:
    """A version dict as the tuple of its values (keys in a fixed order): marshal reads a tuple
    quicker than a dict, and a dict display of constant keys is the quickest way back."""

    def __init__(self, keys: tuple[str, ...]):
        self.keys = keys
        self.make = dict_maker(keys)

    def dumps(self, version: dict) -> bytes:
        if tuple(version) != self.keys:
            raise Internal(f"a version dict's keys changed: {tuple(version)} is not {self.keys}")
        return marshal.dumps(tuple(version.values()))

    def loads(self, body: bytes) -> dict:
        return self.make(*marshal.loads(body))
