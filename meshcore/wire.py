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


def to_dict(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fd in message.DESCRIPTOR.fields:
        value = getattr(message, fd.name)
        if _is_map(fd):
            value_fd = fd.message_type.fields_by_name["value"]
            out[fd.name] = {k: _scalar_or_message(value_fd, v) for k, v in value.items()}
        elif _is_repeated(fd):
            out[fd.name] = [_scalar_or_message(fd, v) for v in value]
        elif fd.has_presence and not message.HasField(fd.name) and fd.message_type is None:
            out[fd.name] = None
        elif fd.name.endswith("_json"):
            out[fd.name[:-5]] = json.loads(value) if value else {}
        else:
            out[fd.name] = _scalar_or_message(fd, value)
    return out


def to_message(cls: type[Message], data: dict[str, Any] | None) -> Message:
    """Build a message from a dict; unknown keys are ignored, None leaves a field unset."""
    message = cls()
    fill(message, data or {})
    return message


def fill(message: Message, data: dict[str, Any]) -> Message:
    fields = message.DESCRIPTOR.fields_by_name
    for key, value in data.items():
        if value is None:
            continue
        fd = fields.get(key) or fields.get(key + "_json")
        if fd is None:
            continue
        if fd.name.endswith("_json") and not isinstance(value, str):
            setattr(message, fd.name, json.dumps(value, sort_keys=True))
        elif _is_map(fd):
            target = getattr(message, fd.name)
            for k, v in value.items():
                if fd.message_type.fields_by_name["value"].message_type is not None:
                    fill(target[k], v)
                else:
                    target[k] = v
        elif _is_repeated(fd):
            target = getattr(message, fd.name)
            for item in value:
                if fd.message_type is not None:
                    fill(target.add(), item)
                else:
                    target.append(item)
        elif fd.message_type is not None:
            fill(getattr(message, fd.name), value)
        else:
            setattr(message, fd.name, value)
    return message


def _scalar_or_message(fd: FieldDescriptor, value):
    return to_dict(value) if fd.message_type is not None else value


def _is_repeated(fd: FieldDescriptor) -> bool:
    is_repeated = getattr(fd, "is_repeated", None)  # newer protobuf; `label` is deprecated there
    return is_repeated if is_repeated is not None else fd.label == fd.LABEL_REPEATED


def _is_map(fd: FieldDescriptor) -> bool:
    return (fd.message_type is not None and _is_repeated(fd)
            and fd.message_type.GetOptions().map_entry)
