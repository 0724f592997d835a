"""Tensors of a Hugging Face checkpoint, memory-mapped, one file or sharded.

The safetensors format is an 8-byte little-endian header length, a JSON header
(`{name: {dtype, shape, data_offsets}}`) and the raw bytes. Reading it here rather than through
`safetensors.safe_open` gives zero-copy numpy views of the mapped file: a converter that writes
an F16 tensor as F16 never copies it through Python, and nothing is loaded into memory at once.
Every header is checked against the file's size, so a truncated or corrupt file is one clear
FailedPrecondition rather than a crash halfway through a conversion.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llmesh.common.errors import FailedPrecondition

# Numpy has no bfloat16: those tensors are read as their raw uint16 bits.
DTYPES = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "BF16": np.uint16,
          "I8": np.int8, "I16": np.int16, "I32": np.int32, "I64": np.int64, "U8": np.uint8,
          "BOOL": np.bool_}
MAX_HEADER = 100 * 1024 * 1024


@dataclass(frozen=True)
class TensorRef:
    name: str
    dtype: str            # the safetensors dtype string: "F16", "BF16", "F32", ...
    shape: tuple[int, ...]
    file: Path
    start: int            # absolute byte offset in the file
    nbytes: int

    def array(self) -> np.ndarray:
        """The tensor as a read-only view of the mapped file (BF16 as uint16 bits)."""
        count = int(np.prod(self.shape)) if self.shape else 1
        data = np.memmap(self.file, dtype=DTYPES[self.dtype], mode="r", offset=self.start,
                         shape=(count,))
        return data.reshape(self.shape)

    def float32(self) -> np.ndarray:
        raw = self.array()
        if self.dtype == "BF16":
            return (raw.astype(np.uint32) << 16).view(np.float32)
        return raw.astype(np.float32)


def read_header(path: Path) -> dict[str, TensorRef]:
    """Every tensor of one .safetensors file; FailedPrecondition if the file is not one."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise FailedPrecondition(f"{path} is not a safetensors file (too short)")
        (length,) = struct.unpack("<Q", head)
        if length > min(size - 8, MAX_HEADER):
            raise FailedPrecondition(f"{path} is corrupt: its header length is past the end")
        try:
            header = json.loads(f.read(length))
        except (ValueError, UnicodeDecodeError):
            raise FailedPrecondition(f"{path} is corrupt: its header is not JSON") from None
    if not isinstance(header, dict):
        raise FailedPrecondition(f"{path} is corrupt: its header is not a JSON object")
    header.pop("__metadata__", None)
    return {name: _tensor_ref(path, name, entry, 8 + length, size)
            for name, entry in header.items()}


def _tensor_ref(path: Path, name: str, entry, data_start: int, size: int) -> TensorRef:
    try:
        dtype, shape = entry["dtype"], tuple(int(d) for d in entry["shape"])
        begin, end = (int(x) for x in entry["data_offsets"])
    except (KeyError, TypeError, ValueError):
        raise FailedPrecondition(f"{path} is corrupt: bad header entry for {name!r}") from None
    if dtype not in DTYPES:
        raise FailedPrecondition(f"{path}: tensor {name!r} has unsupported dtype {dtype}")
    expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(DTYPES[dtype]).itemsize
    if end - begin != expected or begin < 0 or data_start + end > size:
        raise FailedPrecondition(
            f"{path} is corrupt: tensor {name!r} does not fit the file (truncated?)")
    return TensorRef(name, dtype, shape, path, data_start + begin, end - begin)


def open_checkpoint(model_dir: Path, prefix: str = "model") -> dict[str, TensorRef]:
    """All tensors of `<prefix>.safetensors`, or of the shards its index names, or of every
    .safetensors file in the directory."""
    index = model_dir / f"{prefix}.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (ValueError, KeyError, TypeError):
            raise FailedPrecondition(f"{index} is corrupt") from None
        files = sorted({model_dir / f for f in weight_map.values()})
    else:
        single = model_dir / f"{prefix}.safetensors"
        files = [single] if single.is_file() else sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise FailedPrecondition(f"no .safetensors weights in {model_dir}")
    tensors: dict[str, TensorRef] = {}
    for file in files:
        if not file.is_file():
            raise FailedPrecondition(f"{file} is missing (named by {index.name})")
        tensors.update(read_header(file))
    return tensors
