"""The rows of a listing as one message of repeated fields (mesh.proto's ModelVersionColumns).

A listing answers ~100 versions of ~45 fields: as one message per version, every field costs a
call at each end; as columns (one repeated field per field of the row type), a whole column is
one call. Layout, for each field F of the row type: a scalar or *_json field is the column F; an
optional one adds F_set; a list is flattened into F with F_counts (entries per row); a map into
F_keys and F_values with F_counts; a list of messages into F_<field> for each of their (scalar)
fields with F_counts; ``rows`` is the count.

Chunks: every column is a repeated field, and protobuf appends the values of a repeated field
that occurs again in the bytes it parses. So a row's columns serialized on their own (row_chunk)
can be kept, and the bytes of many rows' chunks, joined, parse as the columns of all those rows
(join_chunks). The coordinator keeps each version's chunk beside its listing row and answers a
listing by joining bytes, where building the columns again cost a Python call per value.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable
from itertools import islice
from typing import Any

from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from llmesh.common.errors import Internal
from llmesh.common.wire import (
    JSON,
    MAP,
    MESSAGE,
    OPTIONAL,
    REPEATED,
    SCALAR,
    decode_json,
    dict_maker,
    field_kind,
    json_text,
)

# per row field: (key in the row dict, kind, field name, the column's default, nested field names)
_ColumnPlan = list[tuple[str, int, str, Any, tuple[str, ...]]]
_COLUMN_PLANS: dict[tuple[type, str], _ColumnPlan] = {}


def _column_plan(columns_cls: type[Message], row: Descriptor) -> _ColumnPlan:
    plan = _COLUMN_PLANS.get((columns_cls, row.full_name))
    if plan is not None:
        return plan
    have = columns_cls.DESCRIPTOR.fields_by_name
    plan, needed = [], ["rows"]
    for fd in row.fields:
        kind, values_type = field_kind(fd)
        name, key, nested = fd.name, fd.name, ()
        if kind == JSON:
            key = name[:-5]
        elif kind == OPTIONAL and name.endswith("_json") or kind == MESSAGE or (
                kind == MAP and values_type is not None):
            raise TypeError(f"{row.full_name}.{name}: no column layout for this kind of field")
        if kind == REPEATED and values_type is not None:
            if any(field_kind(sub)[0] != SCALAR or sub.name.endswith("_json") for sub in values_type.fields):
                raise TypeError(f"{row.full_name}.{name}: columns hold lists of plain scalars only")
            nested = tuple(sub.name for sub in values_type.fields)
            defaults = tuple(sub.default_value for sub in values_type.fields)
            needed += [f"{name}_{sub}" for sub in nested] + [f"{name}_counts"]
            plan.append((key, kind, name, defaults, nested))
            continue
        needed += {OPTIONAL: [name, f"{name}_set"], REPEATED: [name, f"{name}_counts"],
                   MAP: [f"{name}_keys", f"{name}_values", f"{name}_counts"]}.get(kind, [name])
        default = "" if kind == JSON else fd.default_value if kind in (SCALAR, OPTIONAL) else None
        plan.append((key, kind, name, default, nested))
    missing = [n for n in needed if n not in have]
    if missing:  # a row field without its columns would be dropped from every listing
        raise TypeError(f"{columns_cls.DESCRIPTOR.full_name} lacks columns for {row.full_name}: "
                        f"{', '.join(missing)}")
    _COLUMN_PLANS[(columns_cls, row.full_name)] = plan
    return plan


def to_columns(columns_cls: type[Message], row_cls: type[Message], rows: list[dict[str, Any]],
               only: frozenset[str] | None = None) -> Message:
    """``rows`` (dicts as to_message takes them for ``row_cls``) as one message of columns;
    ``only``: just the columns of these fields of the row type (see join_chunks)."""
    kinds = (columns_cls, row_cls.DESCRIPTOR.full_name, only)
    plan = _column_plan(columns_cls, row_cls.DESCRIPTOR)
    if only is not None:
        plan = [entry for entry in plan if entry[2] in only]
    gather, width = _gatherer(kinds, plan)
    # Each row's values in one call, turned into columns by zip: no Python loop per value.
    gathered = list(zip(*map(gather, rows))) or [()] * width
    args: dict[str, Any] = {"rows": len(rows)}
    at = 0
    for key, kind, name, default, nested in plan:
        values = gathered[at]
        at += 1
        if kind == SCALAR:
            args[name] = [default if v is None else v for v in values] if None in values else values
        elif kind == JSON:  # the field's own name first, as to_message takes it
            if key != name:
                if None in values:
                    values = [short if v is None else v for v, short in zip(values, gathered[at])]
                at += 1
            args[name] = [default if v is None else json_text(v) for v in values]
        elif kind == OPTIONAL:
            args[name] = [default if v is None else v for v in values]
            args[f"{name}_set"] = [v is not None for v in values]
        elif kind == MAP:
            maps = [m or {} for m in values]
            args[f"{name}_keys"] = [k for m in maps for k in m]
            args[f"{name}_values"] = [v for m in maps for v in m.values()]
            args[f"{name}_counts"] = [len(m) for m in maps]
        else:
            lists = [list(x or ()) for x in values]
            args[f"{name}_counts"] = [len(x) for x in lists]
            flat = [v for x in lists for v in x]
            if not nested:
                args[name] = flat
            for sub, sub_default in zip(nested, default or ()):
                args[f"{name}_{sub}"] = [sub_default if v is None else v for v in [item.get(sub) for item in flat]]
    return columns_cls(**args)


_GATHERERS: dict[tuple, tuple[Callable[[dict], tuple], int]] = {}


def _gatherer(kinds: tuple, plan: _ColumnPlan) -> tuple[Callable[[dict], tuple], int]:
    """``gather(row)`` -> the row's value for each plan entry (a *_json field: under its own name,
    then under the short one), and how many values that is."""
    found = _GATHERERS.get(kinds)
    if found is None:
        keys = []
        for key, kind, name, *_ in plan:
            keys += [name, key] if kind == JSON and key != name else [key]
        namespace: dict[str, Any] = {}
        # The source holds only the descriptor's field names (repr'd strings).
        exec("def gather(row):\n    get = row.get\n    return (" + "".join(f"get({k!r}), " for k in keys)  # noqa: S102
             + ")\n", namespace)
        found = _GATHERERS[kinds] = (namespace["gather"], len(keys))
    return found


def from_columns(columns: Message, row_cls: type[Message]) -> list[dict[str, Any]]:
    """The rows of a to_columns message, each as to_dict reads a ``row_cls`` message. A column
    the sender did not have (a field newer than it) reads as that field's default in every row."""
    count = columns.rows
    if not count:
        return []
    plan = _column_plan(type(columns), row_cls.DESCRIPTOR)
    values = []
    for key, kind, name, default, nested in plan:
        if kind in (SCALAR, JSON, OPTIONAL):
            column = _column(columns, name, count, default)
            if kind == JSON:
                first = column[0]
                if first in ("", "{}", "[]") and column.count(first) == count:  # e.g. no row has any
                    column = [{} for _ in column] if first != "[]" else [[] for _ in column]
                else:
                    column = [decode_json(text) for text in column]
            elif kind == OPTIONAL:
                column = [v if present else None
                          for v, present in zip(column, _column(columns, f"{name}_set", count, False))]
            values.append(column)
            continue
        counts = _column(columns, f"{name}_counts", count, 0)
        total = sum(counts)
        if kind == MAP:
            values.append(_split(_column(columns, f"{name}_keys", total), counts,
                                 _column(columns, f"{name}_values", total)))
        elif nested:
            items = list(map(_item_maker(nested), *[_column(columns, f"{name}_{sub}", total, d)
                                                     for sub, d in zip(nested, default)]))
            values.append(_split(items, counts))
        else:
            values.append(_split(_column(columns, name, total), counts))
    return list(map(_row_maker((type(columns), row_cls.DESCRIPTOR.full_name), plan), *values))


_ROW_MAKERS: dict[tuple[type, str], Callable[..., dict[str, Any]]] = {}
_ITEM_MAKERS: dict[tuple[str, ...], Callable[..., dict[str, Any]]] = {}


def _item_maker(keys: tuple[str, ...]) -> Callable[..., dict[str, Any]]:
    make = _ITEM_MAKERS.get(keys)
    if make is None:
        make = _ITEM_MAKERS[keys] = dict_maker(keys)
    return make


def _row_maker(kinds: tuple[type, str], plan: _ColumnPlan) -> Callable[..., dict[str, Any]]:
    """dict_maker for the plan's keys, made once per message kind."""
    make = _ROW_MAKERS.get(kinds)
    if make is None:
        make = _ROW_MAKERS[kinds] = dict_maker(tuple(key for key, *_ in plan))
    return make




_REQUIRED = object()  # a flattened list's values: there when its counts say so


def _column(columns: Message, name: str, count: int, default: Any = _REQUIRED) -> list:
    values = getattr(columns, name)[:]
    if len(values) == count:
        return values
    if not values and default is not _REQUIRED:  # a sender without this column: every row at the default
        return [default] * count
    raise Internal(f"{columns.DESCRIPTOR.name}.{name} has {len(values)} entries, not {count}")


def _split(flat: list, counts: list[int], values: list | None = None) -> list:
    """``flat`` cut into consecutive lists of ``counts`` entries (or dicts of flat -> values)."""
    if len(flat) == len(counts) and (not counts or min(counts) == 1):  # one each (most versions have one role)
        return [[x] for x in flat] if values is None else [{k: v} for k, v in zip(flat, values)]
    if not flat:
        return [[] for _ in counts] if values is None else [{} for _ in counts]
    if values is not None and counts[0] <= _UNIFORM_MAP_MAX and counts.count(counts[0]) == len(counts):
        # Every row has the same number of entries (the same tags on every version): one dict
        # display per row over strided slices, three times quicker than zipping slices.
        n = counts[0]
        strided = [column[i::n] for i in range(n) for column in (flat, values)]
        return list(map(_map_maker(n), *strided))
    items = iter(flat)
    if values is None:
        return [list(islice(items, n)) for n in counts]
    mapped = iter(values)
    return [dict(zip(islice(items, n), islice(mapped, n))) for n in counts]


_UNIFORM_MAP_MAX = 8
_MAP_MAKERS: dict[int, Callable[..., dict]] = {}


def _map_maker(n: int) -> Callable[..., dict]:
    """``make(k0, v0, k1, v1, ...)`` -> {k0: v0, k1: v1, ...} for n pairs."""
    make = _MAP_MAKERS.get(n)
    if make is None:
        arguments = ", ".join(f"k{i}, v{i}" for i in range(n))
        namespace: dict[str, Any] = {}
        # The source holds only generated argument names.
        exec(f"def make({arguments}):\n    return {{{', '.join(f'k{i}: v{i}' for i in range(n))}}}\n",  # noqa: S102
             namespace)
        make = _MAP_MAKERS[n] = namespace["make"]
    return make


# -- chunks: one row's columns, kept as bytes and joined ----------------------------------

def row_chunk(columns_cls: type[Message], row_cls: type[Message], row: dict[str, Any],
              leave_out: frozenset[str]) -> bytes:
    """The serialized columns of one row, but for the fields in ``leave_out`` (those are
    joined later, from the moment) and without ``rows`` (join_chunks sets it)."""
    names = _field_names(row_cls)
    unknown = leave_out - names
    if unknown:
        raise TypeError(f"{row_cls.DESCRIPTOR.full_name} has no field {min(unknown)!r}")
    message = to_columns(columns_cls, row_cls, [row], only=names - leave_out)
    message.rows = 0  # proto3: a zero is not on the wire
    return message.SerializeToString()


def join_chunks(target: Message, row_cls: type[Message], chunks: list[bytes],
                rest: list[dict[str, Any]], leave_out: frozenset[str]) -> Message:
    """Fill ``target`` (an empty columns message) with the columns of len(chunks) rows: each
    row's chunk (row_chunk, with this ``leave_out``) and the ``leave_out`` fields of the same
    rows from ``rest``, in the same order. Merged in place: a response's field is not copied."""
    if len(rest) != len(chunks):
        raise Internal(f"{len(chunks)} chunks but {len(rest)} rows of their other fields")
    tail = to_columns(type(target), row_cls, rest, only=leave_out)  # sets rows
    target.MergeFromString(b"".join(chunks) + tail.SerializeToString())
    return target


def layout_id(columns_cls: type[Message], row_cls: type[Message]) -> int:
    """A number that changes with either message type's fields: kept chunks of another are stale."""
    from google.protobuf.descriptor_pb2 import DescriptorProto  # the coordinator's, once: ~20 ms meshctl need not pay

    text = b""
    for cls in (columns_cls, row_cls):
        proto = DescriptorProto()
        cls.DESCRIPTOR.CopyToProto(proto)
        text += proto.SerializeToString(deterministic=True)
    return zlib.crc32(text)


_FIELD_NAMES: dict[type, frozenset[str]] = {}


def _field_names(row_cls: type[Message]) -> frozenset[str]:
    names = _FIELD_NAMES.get(row_cls)
    if names is None:
        names = _FIELD_NAMES[row_cls] = frozenset(fd.name for fd in row_cls.DESCRIPTOR.fields)
    return names
