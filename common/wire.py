"""Translation between protobuf messages and plain dicts.

Servicers and the client library use these two functions so that field names are
the same everywhere (the proto's), int64 stays int in JSON, an unset optional is
None, and a ``*_json`` string field appears decoded under its name without the
suffix (``metadata_json`` -> ``metadata``).
"""
from __future__ import annotations

import json
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

# How to read each field of a message type, worked out once per type: to_dict runs for
# every version in every listing, and asking the descriptor each time cost more than the copy.
_MAP, _REPEATED, _OPTIONAL, _JSON, _MESSAGE, _SCALAR = range(6)
_READ_PLANS: dict[str, list] = {}


def _read_plan(descriptor) -> list:
    plan = _READ_PLANS.get(descriptor.full_name)
    if plan is None:
        plan = []
        for fd in descriptor.fields:
            if _is_map(fd):
                kind, nested = _MAP, fd.message_type.fields_by_name["value"].message_type is not None
            elif _is_repeated(fd):
                kind, nested = _REPEATED, fd.message_type is not None
            elif fd.has_presence and fd.message_type is None:
                kind, nested = _OPTIONAL, False
            elif fd.name.endswith("_json"):
                kind, nested = _JSON, False
            else:
                kind, nested = (_MESSAGE, True) if fd.message_type is not None else (_SCALAR, False)
            plan.append((fd.name, fd.name[:-5] if kind == _JSON else fd.name, kind, nested))
        _READ_PLANS[descriptor.full_name] = plan
    return plan


def to_dict(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, key, kind, nested in _read_plan(message.DESCRIPTOR):
        value = getattr(message, name)
        if kind == _SCALAR:
            out[key] = value
        elif kind == _MAP:
            out[key] = {k: to_dict(v) for k, v in value.items()} if nested else dict(value)
        elif kind == _REPEATED:
            out[key] = [to_dict(v) for v in value] if nested else list(value)
        elif kind == _OPTIONAL:
            out[key] = value if message.HasField(name) else None
        elif kind == _JSON:
            out[key] = json.loads(value) if value else {}
        else:
            out[key] = to_dict(value)
    return out


def to_message(cls: type[Message], data: dict[str, Any] | None) -> Message:
    """Build a message from a dict; unknown keys are ignored, None leaves a field unset."""
    message = cls()
    fill(message, data or {})
    return message


_WRITE_PLANS: dict[str, dict] = {}


def _write_plan(descriptor) -> dict:
    """dict key -> (field name, kind, nested) for every key a dict may use for this type."""
    plan = _WRITE_PLANS.get(descriptor.full_name)
    if plan is None:
        plan = {}
        for fd in descriptor.fields:
            # nested: the message type of the field's values (None for scalars)
            if _is_map(fd):
                kind, nested = _MAP, fd.message_type.fields_by_name["value"].message_type
            elif _is_repeated(fd):
                kind, nested = _REPEATED, fd.message_type
            elif fd.message_type is not None:
                kind, nested = _MESSAGE, fd.message_type
            else:
                kind, nested = _SCALAR, None
            plan[fd.name] = (fd.name, kind, nested)
            if fd.name.endswith("_json"):
                plan.setdefault(fd.name[:-5], (fd.name, _JSON, False))
        _WRITE_PLANS[descriptor.full_name] = plan
    return plan


def fill(message: Message, data: dict[str, Any]) -> Message:
    plan = _write_plan(message.DESCRIPTOR)
    for key, value in data.items():
        if value is None:
            continue
        entry = plan.get(key)
        if entry is None:
            continue
        name, kind, nested = entry
        if name.endswith("_json") and not isinstance(value, str):
            setattr(message, name, json.dumps(value, sort_keys=True))
        elif kind == _MAP:
            target = getattr(message, name)
            for k, v in value.items():
                if nested:
                    fill(target[k], v)
                else:
                    target[k] = v
        elif kind == _REPEATED:
            if nested:
                target = getattr(message, name)
                for item in value:
                    fill(target.add(), item)
            else:
                getattr(message, name).extend(value)
        elif kind == _MESSAGE:
            fill(getattr(message, name), value)
        else:
            setattr(message, name, value)
    return message


def _is_repeated(fd: FieldDescriptor) -> bool:
    is_repeated = getattr(fd, "is_repeated", None)  # newer protobuf; `label` is deprecated there
    return is_repeated if is_repeated is not None else fd.label == fd.LABEL_REPEATED


def _is_map(fd: FieldDescriptor) -> bool:
    return (fd.message_type is not None and _is_repeated(fd)
            and fd.message_type.GetOptions().map_entry)
