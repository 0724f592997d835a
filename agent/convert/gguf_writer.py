"""Writing GGUF files, for every converter here: the tensors to write (PlannedTensor), the output
types written without llama.cpp (NATIVE_TYPES), and write_gguf, which streams tensor by tensor
from memory-mapped inputs, checks free space first and writes `<out>.partial`, renamed over `out`
at the end: a failed conversion leaves no output file behind.

    planned = [PlannedTensor("blk.0.attn_q.weight", ref, tensor_type(QT.F16, ref.shape)), ...]
    write_gguf(out, setup, planned, "llama", extra_bytes, progress, "convert")

``setup(writer)`` adds the metadata keys; progress callbacks are `progress(stage, done, total)`.
"""
from __future__ import annotations

import os
import re
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import gguf
import numpy as np
from gguf import GGMLQuantizationType as QT
from gguf import LlamaFileType as FT

from llmesh.agent.convert.checkpoint import DTYPES, TensorRef
from llmesh.common.errors import FailedPrecondition, InvalidArgument, ResourceExhausted
from llmesh.common.files import replacing
from llmesh.common.units import human_size

Progress = Callable[[str, int, int], None]

# Written here; everything else goes through llama.cpp's quantizer from an F16 file.
NATIVE_TYPES = {"F32": (QT.F32, FT.ALL_F32), "F16": (QT.F16, FT.MOSTLY_F16),
                "BF16": (QT.BF16, FT.MOSTLY_BF16), "Q8_0": (QT.Q8_0, FT.MOSTLY_Q8_0)}
CHUNK_BYTES = 64 * 1024 * 1024
DISK_RESERVE = 64 * 1024 * 1024


# -- what is written ------------------------------------------------------------------------------

@dataclass
class PlannedTensor:
    name: str
    ref: TensorRef
    qtype: QT
    rows: np.ndarray | None = None      # a row permutation to apply, or None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.ref.shape

    @property
    def nbytes(self) -> int:
        if self.qtype in (QT.F32, QT.F16, QT.BF16):
            size = {QT.F32: 4, QT.F16: 2, QT.BF16: 2}[self.qtype]
            return int(np.prod(self.shape)) * size
        return int(np.prod(gguf.quant_shape_to_byte_shape(self.shape, self.qtype)))


def tensor_type(out: QT, shape: tuple[int, ...]) -> QT:
    """The type a tensor is written in when the file's type is ``out``."""
    if len(shape) < 2:  # norms and biases stay F32, as llama.cpp's own converter writes them
        return QT.F32
    block, _ = gguf.GGML_QUANT_SIZES[out]
    return out if shape[-1] % block == 0 else QT.F16


def natural_order(name: str):
    """Sort key: layer 2 before layer 10."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def native_type(out_type: str) -> tuple[QT, FT]:
    """The tensor type and file type of an output type written without llama.cpp."""
    name = str(out_type).strip().upper()
    if name not in NATIVE_TYPES:
        raise InvalidArgument(f"unknown output type {out_type!r} for conversion: use one of "
                              + ", ".join(NATIVE_TYPES) + " (then quantize)")
    return NATIVE_TYPES[name]


class InMemoryRef(TensorRef):
    """A computed tensor planned like a mapped one."""

    @classmethod
    def of(cls, data: np.ndarray) -> "InMemoryRef":
        ref = cls("computed", "F32", tuple(data.shape), Path(), 0, data.nbytes)
        object.__setattr__(ref, "_data", data)
        return ref

    def array(self) -> np.ndarray:
        return self._data


# -- writing --------------------------------------------------------------------------------------

def _encode(rows: np.ndarray, src_dtype: str, qtype: QT) -> np.ndarray:
    """Rows of a source tensor in the output type (bytes for quantized types)."""
    if qtype == QT.F16 and src_dtype == "F16":
        return rows
    if src_dtype == "BF16":
        if qtype == QT.BF16:
            return rows
        values = (rows.astype(np.uint32) << 16).view(np.float32)
    else:
        values = rows.astype(np.float32, copy=False)
    if qtype == QT.F32:
        return values
    if qtype == QT.F16:
        return values.astype(np.float16)
    return gguf.quants.quantize(values, qtype)


def write_tensor(fout, item: PlannedTensor, buf: bytearray) -> None:
    if _is_plain_copy(item):
        return _copy_bytes(fout, item.ref, buf)
    source = _read_whole(item.ref, buf) if item.ref.nbytes <= len(buf) else item.ref.array()
    row_bytes = max(1, item.ref.nbytes // max(1, item.shape[0] if item.shape else 1))
    step = max(1, CHUNK_BYTES // row_bytes) if len(item.shape) > 1 else max(1, item.shape[0])
    total = item.shape[0] if item.shape else 1
    source = source.reshape(total, -1) if len(item.shape) > 1 else source.reshape(1, -1)
    for start in range(0, source.shape[0], step):
        index = slice(start, start + step)
        rows = source[item.rows[index]] if item.rows is not None else source[index]
        fout.write(np.ascontiguousarray(_encode(rows, item.ref.dtype, item.qtype)).data)


def _read_whole(ref: TensorRef, buf: bytearray) -> np.ndarray:
    """A tensor that fits the buffer, read into it in one call (a mapping would fault it in
    page by page); valid until the buffer is reused."""
    if isinstance(ref, InMemoryRef):
        return ref.array()
    with open(ref.file, "rb", buffering=0) as f:
        f.seek(ref.start)
        if f.readinto(memoryview(buf)[:ref.nbytes]) != ref.nbytes:
            raise FailedPrecondition(f"{ref.file} ended early while reading {ref.name!r}")
    count = int(np.prod(ref.shape)) if ref.shape else 1
    return np.frombuffer(buf, dtype=DTYPES[ref.dtype], count=count).reshape(ref.shape)


_SAME_TYPE = {("F16", QT.F16), ("BF16", QT.BF16), ("F32", QT.F32)}


def _is_plain_copy(item: PlannedTensor) -> bool:
    return (item.rows is None and (item.ref.dtype, item.qtype) in _SAME_TYPE
            and not isinstance(item.ref, InMemoryRef))


def _copy_bytes(fout, ref: TensorRef, buf: bytearray) -> None:
    # The common case (F16 in, F16 out): large reads beat page-faulting through a mapping.
    view = memoryview(buf)
    left = ref.nbytes
    with open(ref.file, "rb", buffering=0) as f:
        f.seek(ref.start)
        while left:
            n = f.readinto(view[:min(left, len(buf))])
            if not n:
                raise FailedPrecondition(f"{ref.file} ended early while reading {ref.name!r}")
            fout.write(view[:n])
            left -= n


class PackedGGUFWriter(gguf.GGUFWriter):
    """gguf's writer, packing big metadata arrays (a 150k-token vocabulary) in one go instead
    of one struct call per item: seconds saved per conversion. Same bytes."""

    _NUMPY = {gguf.GGUFValueType.INT32: "<i4", gguf.GGUFValueType.UINT32: "<u4",
              gguf.GGUFValueType.FLOAT32: "<f4"}

    def _pack_val(self, val, vtype, add_vtype, sub_type=None) -> bytes:
        fast = (vtype == gguf.GGUFValueType.ARRAY and isinstance(val, list) and len(val) > 256
                and self.endianess == gguf.GGUFEndian.LITTLE)
        if not fast:
            return super()._pack_val(val, vtype, add_vtype, sub_type)
        item_type = sub_type or gguf.GGUFValueType.get_type(val[0])
        head = struct.pack("<IIQ", vtype, item_type, len(val)) if add_vtype else \
            struct.pack("<IQ", item_type, len(val))
        if item_type == gguf.GGUFValueType.STRING:
            encoded = (v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in val)
            return head + b"".join(struct.pack("<Q", len(e)) + e for e in encoded)
        if item_type in self._NUMPY:
            return head + np.asarray(val, dtype=self._NUMPY[item_type]).tobytes()
        return super()._pack_val(val, vtype, add_vtype, sub_type)


def check_space(directory: Path, needed: int, what: Path) -> None:
    free = shutil.disk_usage(directory).free
    if needed + DISK_RESERVE > free:
        raise ResourceExhausted(f"not enough disk space for {what.name}: needs "
                                f"{human_size(needed)}, {human_size(free)} free in {directory}")


def write_gguf(out: Path, writer_setup: Callable[[gguf.GGUFWriter], None], planned: list[PlannedTensor],
               arch: str, extra_bytes: int, progress: Progress | None, stage: str) -> int:
    """Header, metadata, tensor infos, then each tensor streamed; returns the file size."""
    total = sum(p.nbytes for p in planned)
    out.parent.mkdir(parents=True, exist_ok=True)
    check_space(out.parent, total + extra_bytes, out)
    with replacing(out, suffix=".partial") as tmp:  # no output file unless it is whole
        writer = PackedGGUFWriter(None, arch)
        try:
            writer_setup(writer)
            for p in planned:
                writer.add_tensor_info(p.name, p.shape, np.dtype(np.float16), p.nbytes,
                                       raw_dtype=p.qtype)
            writer.write_header_to_file(tmp)
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            fout = writer.fout[0]
            # One read buffer per conversion: zeroing 64 MiB per tensor costs ~10% of the time.
            buf, done = bytearray(min(CHUNK_BYTES, max((p.nbytes for p in planned), default=1))), 0
            for p in planned:
                writer.write_padding(fout, fout.tell())
                write_tensor(fout, p, buf)
                writer.write_padding(fout, p.nbytes)
                done += p.nbytes
                if progress:
                    progress(stage, done, total)
            fout.flush()
            os.fsync(fout.fileno())
        finally:
            writer.close()
    return out.stat().st_size
