"""Translation between protobuf messages and plain dicts.

Servicers and the client library use these two functions so that field names are
the same everywhere (the proto's), int64 stays int in JSON, an unset optional is
None, and a ``*_json`` string field appears decoded under its name without the
suffix (``metadata_json`` -> ``metadata``).

Both directions run for every version of every listing, on the coordinator and in the
SDK, so each message type's translation is worked out once, from its descriptor, and
kept: reading is one generated function per type (a dict display of the fields), and
writing is one generated function per type too: it gathers the fields that differ from
their defaults and hands them to the message's constructor in one call (``x_json`` is taken
before ``x`` when a dict has both; types with a oneof follow the dict's order instead).
"""
from __future__ import annotations

import json
import keyword
import threading
from collections.abc import Callable
from json.encoder import c_make_encoder, encode_basestring_ascii
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


# What json.dumps(value, sort_keys=True) writes. JSONEncoder.encode builds a C encoder on every
# call (a listing encodes ~100 params objects): this one is built once; it does not look for
# circular references (a cyclic value fails with RecursionError instead).
_c_encoder = c_make_encoder and c_make_encoder(None, _not_json, encode_basestring_ascii, None, ": ", ", ", True,
                                               False, True)
_encode_json = (lambda value: "".join(_c_encoder(value, 0))) if _c_encoder else json.JSONEncoder(sort_keys=True).encode


def to_dict(message: Message) -> dict[str, Any]:
    read = _READERS.get(message.DESCRIPTOR.full_name)
    if read is None:
        read = _reader(message.DESCRIPTOR)
    return read(message)


def to_message(cls: type[Message], data: dict[str, Any] | None) -> Message:
    """Build a message from a dict; unknown keys are ignored, None leaves a field unset."""
    return _build(cls, cls, data or {})


def fill(message: Message, data: dict[str, Any]) -> Message:
    """Set the fields named in ``data`` on an existing message: scalars are overwritten,
    repeated fields extended, maps and nested messages merged key by key."""
    plan = _write_plan(type(message))
    for key, value in data.items():
        entry = plan.get(key) if value is not None else None
        if entry is None:
            continue
        name, kind, _, nested = entry
        if kind == JSON:
            setattr(message, name, json_text(value))
        elif kind == MAP:
            target = getattr(message, name)
            for k, v in value.items():
                if nested is None:
                    target[k] = v
                else:
                    fill(target[k], v)
        elif kind == REPEATED:
            target = getattr(message, name)
            if nested is None:
                target.extend(value)
            else:
                for item in value:
                    fill(target.add(), item)
        elif kind == MESSAGE:
            fill(getattr(message, name), value)
        else:
            setattr(message, name, value)
    return message


# -- field kinds --------------------------------------------------------------------------

# How a field of a message is read and written (field_kind); columns.py lays them out too.
SCALAR, OPTIONAL, JSON, MESSAGE, REPEATED, MAP = range(6)


def _is_repeated(fd: FieldDescriptor) -> bool:
    is_repeated = getattr(fd, "is_repeated", None)  # newer protobuf; `label` is deprecated there
    return is_repeated if is_repeated is not None else fd.label == fd.LABEL_REPEATED


def _is_map(fd: FieldDescriptor) -> bool:
    return (fd.message_type is not None and _is_repeated(fd)
            and fd.message_type.GetOptions().map_entry)


def field_kind(fd: FieldDescriptor) -> tuple[int, Descriptor | None]:
    """How a field is read: its kind, and the message type of its values (None for scalars)."""
    if _is_map(fd):
        return MAP, fd.message_type.fields_by_name["value"].message_type
    if _is_repeated(fd):
        return REPEATED, fd.message_type
    if fd.message_type is not None:
        return MESSAGE, fd.message_type
    if fd.has_presence:
        return OPTIONAL, None
    if fd.name.endswith("_json"):
        return JSON, None
    return SCALAR, None


# -- reading: one generated function per message type -------------------------------------

_READERS: dict[str, Callable[[Message], dict[str, Any]]] = {}
_READERS_BUILDING = threading.Lock()


def decode_json(text: str) -> Any:
    # Most *_json fields hold an empty object or list: skip the parser for those.
    if not text or text == "{}":
        return {}
    if text == "[]":
        return []
    try:  # what json.loads does, less its checks for surrounding whitespace
        value, end = _raw_decode(text)
        if end == len(text):
            return value
    except ValueError:
        pass
    return json.loads(text)  # around whitespace, or the error json.loads gives


_raw_decode = json.JSONDecoder().raw_decode


def _reader(descriptor: Descriptor) -> Callable[[Message], dict[str, Any]]:
    with _READERS_BUILDING:
        made: dict[str, Callable] = {}
        read = _make_reader(descriptor, made)
        _READERS.update(made)  # published only once every nested reader is linked in
        return read


def _make_reader(descriptor: Descriptor, made: dict[str, Callable]) -> Callable[[Message], dict[str, Any]]:
    found = _READERS.get(descriptor.full_name) or made.get(descriptor.full_name)
    if found is not None:
        return found
    namespace: dict[str, Any] = {"decode_json": decode_json}
    nested: dict[str, Descriptor] = {}  # variable in the generated code -> the message type it reads
    lines = []
    for fd in descriptor.fields:
        name = fd.name
        value = f"m.{name}" if name.isidentifier() and not keyword.iskeyword(name) else f"getattr(m, {name!r})"
        kind, values_type = field_kind(fd)
        key = name
        if values_type is not None:
            read_nested = next((variable for variable, known in nested.items() if known is values_type),
                               f"_read_{len(nested)}")
            nested[read_nested] = values_type
        if kind == MAP:
            expr = (f"{{k: {read_nested}(v) for k, v in {value}.items()}}" if values_type is not None
                    else f"{{k: c[k] for c in ({value},) for k in c}}")  # faster than dict(c) on a map
        elif kind == REPEATED:
            expr = f"[{read_nested}(v) for v in {value}]" if values_type is not None else f"{value}[:]"
        elif kind == MESSAGE:
            expr = f"{read_nested}({value})"
        elif kind == OPTIONAL:
            expr = f"({value} if m.HasField({name!r}) else None)"
        elif kind == JSON:
            key, expr = name[:-5], f"decode_json({value})"
        else:
            expr = value
        lines.append(f"        {key!r}: {expr},")
    source = "def read(m):\n    return {\n" + "\n".join(lines) + "\n    }\n"
    # The source holds only the descriptor's field names (identifiers or repr'd strings).
    exec(compile(source, f"<wire reader for {descriptor.full_name}>", "exec"), namespace)  # noqa: S102
    read = made[descriptor.full_name] = namespace["read"]
    for variable, values_type in nested.items():  # after registering: a type may contain itself
        namespace[variable] = _make_reader(values_type, made)
    return read


# -- writing: constructor arguments from a dict ---------------------------------------------

# dict key -> (field name, kind, the field's default when it may be left out, message class of values)
_WritePlan = dict[str, tuple[str, int, Any, "type[Message] | None"]]
_WRITE_PLANS: dict[type, _WritePlan] = {}
_KEEP = object()  # no value is this default: the field is always set when given


def _write_plan(cls: type[Message]) -> _WritePlan:
    plan = _WRITE_PLANS.get(cls)
    if plan is None:
        plan = {}
        for fd in cls.DESCRIPTOR.fields:
            kind, values_type = field_kind(fd)
            if fd.name.endswith("_json") and kind in (SCALAR, OPTIONAL):
                kind = JSON  # written from any value, read back only where it has no presence
            # Proto3 fields without presence that hold their default are not on the wire: leaving
            # them out of the constructor changes nothing (only a value of the exact type counts).
            empty = fd.default_value if kind == SCALAR else _KEEP
            nested = GetMessageClass(values_type) if values_type is not None else None
            plan[fd.name] = (fd.name, kind, empty, nested)
        for fd in cls.DESCRIPTOR.fields:
            if fd.name.endswith("_json"):
                plan.setdefault(fd.name[:-5], plan[fd.name])
        _WRITE_PLANS[cls] = plan
    return plan


def json_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if not value and type(value) in (dict, list):
        return "{}" if type(value) is dict else "[]"
    return _encode_json(value)


def _build(make: Callable[..., Message], cls: type[Message], data: dict[str, Any]) -> Message:
    """``make(**arguments)`` is the class, or a repeated field's ``add``: elements of repeated
    message fields are built in place that way, where a constructor would copy them in."""
    write = _WRITERS.get(cls, _UNMADE)
    if write is _UNMADE:
        write = _WRITERS[cls] = _make_writer(cls)
    if write is not None:
        return write(make, data)
    arguments, in_place = _constructor_args(cls, data)
    message = make(**arguments)
    if in_place:
        for name, nested, items in in_place:
            add = getattr(message, name).add
            for item in items:
                _build(add, nested, item)
    return message


# One generated function per message type: straight-line code that asks the dict for each field
# (a listing writes ~40 fields of ~100 versions), with the same rules as _constructor_args. Types
# with a oneof keep the loop over the dict, whose order decides which member is set.
_WRITERS: dict[type, Callable[[Callable[..., Message], dict[str, Any]], Message] | None] = {}
_UNMADE = object()


def _has_oneof(descriptor: Descriptor) -> bool:
    """A real oneof: not the one proto3 makes for each ``optional`` field."""
    return any(len(o.fields) > 1 or o.name != "_" + o.fields[0].name for o in descriptor.oneofs)


def _make_writer(cls: type[Message]) -> Callable[[Callable[..., Message], dict[str, Any]], Message] | None:
    if _has_oneof(cls.DESCRIPTOR):
        return None
    plan = _write_plan(cls)
    namespace: dict[str, Any] = {"json_text": json_text, "_build": _build, "_sets_anything": _sets_anything}
    lines, after = ["def write(make, d):", "    get = d.get", "    a = {}"], []
    for i, fd in enumerate(cls.DESCRIPTOR.fields):
        name, kind, empty, nested = plan[fd.name]
        key = repr(name)
        attribute = f"m.{name}" if name.isidentifier() and not keyword.iskeyword(name) else f"getattr(m, {key})"
        lines.append(f"    v = get({key})")
        short = name[:-5] if name.endswith("_json") else None
        if kind == JSON and short and plan.get(short) is plan[name]:  # also under the name without _json
            lines.append(f"    if v is None: v = get({short!r})")
        if nested is not None:
            namespace[f"_c{i}"] = nested
        if kind == SCALAR:
            namespace[f"_d{i}"], namespace[f"_t{i}"] = empty, empty.__class__
            lines.append(f"    if v is not None and (v.__class__ is not _t{i} or v != _d{i}): a[{key}] = v")
        elif kind == OPTIONAL:
            lines.append(f"    if v is not None: a[{key}] = v")
        elif kind == JSON:
            lines += ["    if v is not None:",  # json_text, its common cases inline
                      f"        a[{key}] = v if v.__class__ is str else '{{}}' if v.__class__ is dict and not v "
                      f"else '[]' if v.__class__ is list and not v else json_text(v)"]
        elif kind == REPEATED and nested is None:
            lines.append(f"    if v is not None and (v.__class__ is not list or v): a[{key}] = v")
        elif kind == REPEATED:  # built in place once the message exists
            lines.append(f"    r{i} = v")
            after += [f"    if r{i} is not None:", f"        add = {attribute}.add",
                      f"        for item in r{i}: _build(add, _c{i}, item)"]
        elif kind == MAP and nested is None:  # set key by key: a map given to the constructor costs more
            lines.append(f"    s{i} = v")
            after += [f"    if s{i}:", f"        t = {attribute}",
                      f"        for k, x in s{i}.items(): t[k] = x"]
        elif kind == MAP:
            lines.append(f"    if v is not None: a[{key}] = {{k: _build(_c{i}, _c{i}, x) for k, x in v.items()}}")
        else:  # a nested message: present only when the dict sets something in it
            lines.append(f"    if v is not None and _sets_anything(_c{i}, v): a[{key}] = _build(_c{i}, _c{i}, v)")
    lines += ["    m = make(**a)"] + after + ["    return m"]
    # The source holds only the descriptor's field names (identifiers or repr'd strings).
    exec(compile("\n".join(lines) + "\n", f"<wire writer for {cls.DESCRIPTOR.full_name}>", "exec"),  # noqa: S102
         namespace)
    return namespace["write"]


def _constructor_args(cls: type[Message], data: dict[str, Any]) -> tuple[dict[str, Any], list | None]:
    """The constructor arguments for ``data``, and the repeated message fields to add afterwards."""
    plan = _WRITE_PLANS.get(cls) or _write_plan(cls)
    args: dict[str, Any] = {}
    in_place = None
    for key, value in data.items():
        entry = plan.get(key)
        if entry is None or value is None:
            continue
        name, kind, empty, nested = entry
        if kind == SCALAR:
            if value.__class__ is empty.__class__ and value == empty:
                continue
        elif kind == JSON:
            value = json_text(value)
        elif kind == REPEATED:
            if nested is not None:
                if in_place is None:
                    in_place = []
                in_place.append((name, nested, value))
                continue
            if value.__class__ is list and not value:
                continue
        elif kind == MAP:
            if nested is not None:
                value = {k: _build(nested, nested, v) for k, v in value.items()}
            elif value.__class__ is not dict:
                value = dict(value.items())  # any mapping, as before
            elif not value:
                continue
        elif kind == MESSAGE:
            if not _sets_anything(nested, value):
                continue
            value = _build(nested, nested, value)
        args[name] = value
    return args, in_place


def _sets_anything(cls: type[Message], data: dict[str, Any]) -> bool:
    """Whether ``fill`` would set anything from ``data``: what makes a nested message present
    (an empty map or list of messages adds nothing; any other field named is set, even to
    its default)."""
    plan = _write_plan(cls)
    for key, value in data.items():
        entry = plan.get(key)
        if entry is None or value is None:
            continue
        _, kind, _, nested = entry
        if kind == MESSAGE:
            if _sets_anything(nested, value):
                return True
        elif kind == MAP or (kind == REPEATED and nested is not None):
            if not hasattr(value, "__len__") or len(value):
                return True
        else:
            return True
    return False

def dict_maker(keys: tuple[str, ...]) -> Callable[..., dict[str, Any]]:
    """``make(v0, v1, ...)`` -> {keys[0]: v0, keys[1]: v1, ...}, as a dict display: several times
    quicker than dict(zip(keys, values)) for dozens of keys, when many rows share the keys."""
    arguments = ", ".join(f"v{i}" for i in range(len(keys)))
    items = ", ".join(f"{key!r}: v{i}" for i, key in enumerate(keys))
    namespace: dict[str, Any] = {}
    # The source holds only the given keys, repr'd.
    exec(f"def make({arguments}):\n    return {{{items}}}\n", namespace)  # noqa: S102
    return namespace["make"]
