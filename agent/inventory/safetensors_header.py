"""A safetensors file's header, checked against the file, without loading the tensors.

    [8 bytes: N, little-endian][N bytes: JSON header][data section]

The header maps each tensor's name to {dtype, shape, data_offsets: [begin, end]}, offsets counted
from the start of the data section, plus an optional "__metadata__" map of strings. As the format
requires (and the safetensors library checks when it loads a file), the tensors cover the data
section exactly, in order, with no overlap and no hole, and each one spans its dtype's size times
its element count. A file that breaks any of this is corrupt: the inventory reports it as a
problem, never as a model.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass

MAX_HEADER_BYTES = 100_000_000  # the safetensors library's own limit
# Bits per element. A dtype newer than this table is let through with its offsets checked and
# its size not (the format grows dtypes; refusing a valid new file would be the lie here).
DTYPE_BITS = {"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
              "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
              "C64": 64, "F64": 64, "I64": 64, "U64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}
_DTYPE_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,31}$")


@dataclass(frozen=True)
class SafetensorsHeader:
    tensor_count: int
    parameter_count: int


def read_safetensors_header(path) -> SafetensorsHeader:
    """The checked header of the file at ``path``; ValueError says what is wrong (OSError if
    it cannot be read)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        prefix = f.read(8)
        if len(prefix) < 8:
            raise ValueError(f"truncated: {size} bytes, too short for the header length")
        length = int.from_bytes(prefix, "little")
        if length > size - 8:
            raise ValueError(f"header length {length} runs past the end of the file ({size} bytes)")
        if length > MAX_HEADER_BYTES:
            raise ValueError(f"header length {length} is over the format's limit of {MAX_HEADER_BYTES}")
        raw = f.read(length)
    if len(raw) < length:
        raise ValueError("truncated header")
    return check_header(raw, size - 8 - length)


def check_header(raw: bytes, data_size: int) -> SafetensorsHeader:
    """The header ``raw`` of a file whose data section is ``data_size`` bytes, checked."""
    try:
        header = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("header is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"header is not valid JSON (byte {e.pos}: {e.msg})") from None
    except RecursionError:
        raise ValueError("header is nested too deeply") from None
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")  # noqa: TRY004 - corrupt bytes, not a bug
    metadata = header.pop("__metadata__", {})
    if not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise ValueError("__metadata__ is not a map of strings")
    spans, parameters = [], 0
    for name, info in header.items():
        begin, end, count = _tensor(name, info, data_size)
        spans.append((begin, end, name))
        parameters += count
    position = 0
    for begin, end, name in sorted(spans):
        if begin < position:
            raise ValueError(f"tensor {name!r:.80} overlaps the tensor before it")
        if begin > position:
            raise ValueError(f"{begin - position} bytes before tensor {name!r:.80} belong to no tensor")
        position = end
    if position != data_size:
        raise ValueError(f"{data_size - position} bytes after the last tensor belong to no tensor")
    return SafetensorsHeader(len(spans), parameters)


def _tensor(name: str, info, data_size: int) -> tuple[int, int, int]:
    """(begin, end, element count) of one tensor's entry, checked."""
    what = f"tensor {name!r:.80}"
    if not isinstance(info, dict):
        raise ValueError(f"{what} is not described by an object")  # noqa: TRY004 - as above
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not (isinstance(dtype, str) and _DTYPE_NAME.match(dtype)):
        raise ValueError(f"{what} has no valid dtype")
    if not (isinstance(shape, list) and all(_is_count(n) for n in shape)):
        raise ValueError(f"{what} has no valid shape")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(n) for n in offsets)):
        raise ValueError(f"{what} has no valid data_offsets")
    begin, end = offsets
    if begin > end:
        raise ValueError(f"{what} ends (byte {end}) before it begins (byte {begin})")
    if end > data_size:
        raise ValueError(f"{what} ends at byte {end}, past the end of the data ({data_size} bytes)")
    count = math.prod(shape)
    bits = DTYPE_BITS.get(dtype)
    if bits is not None and count * bits != (end - begin) * 8:
        raise ValueError(f"{what}: {dtype} of shape {shape!s:.60} is not the {end - begin}"
                         " bytes its data_offsets span")
    return begin, end, count


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
