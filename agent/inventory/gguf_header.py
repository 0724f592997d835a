"""A GGUF file's header: its metadata keys and tensor infos, read without loading the file.

gguf.GGUFReader builds a numpy view per array element: a real 128k-token vocabulary takes ~15 s to
open. This reader walks the same header with struct and skips arrays in place (their lengths are
kept), and checks that the tensor data the header promises fits in the file. The inventory turns
headers into metadata (gguf_metadata); serving reads the EOS token id from them.
"""
from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field

from gguf import GGML_QUANT_SIZES, LlamaFileType

GGUF_MAGIC = b"GGUF"
MAX_GGUF_STRING = 16 * 1024 * 1024
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q",
            12: "d"}
_STRING, _ARRAY = 8, 9


@dataclass
class GGUFHeader:
    version: int
    fields: dict = field(default_factory=dict)         # scalar and string values
    array_lengths: dict = field(default_factory=dict)  # key -> number of items
    tensor_count: int = 0
    parameter_count: int = 0


class _Cursor:
    def __init__(self, buf, order: str):
        self.buf, self.order, self.off, self.end = buf, order, 0, len(buf)
        self._structs: dict[str, struct.Struct] = {}

    def take(self, code: str):
        s = self._structs.get(code)
        if s is None:
            s = self._structs[code] = struct.Struct(self.order + code)
        if self.off + s.size > self.end:
            raise ValueError(f"truncated header at byte {self.off}")
        (value,) = s.unpack_from(self.buf, self.off)
        self.off += s.size
        return value

    def skip(self, n: int) -> None:
        if n < 0 or self.off + n > self.end:
            raise ValueError(f"truncated header at byte {self.off}")
        self.off += n

    def string(self) -> str:
        n = self.take("Q")
        if n > MAX_GGUF_STRING:  # a corrupt length must not make us copy gigabytes
            raise ValueError(f"string of {n} bytes at byte {self.off}")
        start = self.off
        self.skip(n)
        return bytes(self.buf[start:self.off]).decode("utf-8", errors="replace")

    def value(self, vtype: int):
        if vtype in _SCALARS:
            return self.take(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        raise ValueError(f"unknown value type {vtype} at byte {self.off}")

    def skip_array(self, item_type: int, count: int) -> None:
        if item_type in _SCALARS:
            self.skip(count * struct.calcsize(_SCALARS[item_type]))
        elif item_type == _STRING:
            take_len, skip = self.take, self.skip
            for _ in range(count):
                skip(take_len("Q"))
        elif item_type == _ARRAY:
            for _ in range(count):
                self.skip_array(self.take("I"), self.take("Q"))
        else:
            raise ValueError(f"unknown array item type {item_type} at byte {self.off}")


def read_gguf_header(path: str) -> GGUFHeader:
    """Parse a GGUF file's header; ValueError says why a file is not valid GGUF."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 24:
            raise ValueError(f"too short ({size} bytes)")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            if buf[:4] != GGUF_MAGIC:
                raise ValueError("bad magic (expected 'GGUF')")
            try:
                return _parse_gguf(buf, size)
            except (struct.error, OverflowError, MemoryError) as e:
                raise ValueError(f"malformed header ({e})") from None


def _parse_gguf(buf, size: int) -> GGUFHeader:
    order = "<" if struct.unpack_from("<I", buf, 4)[0] & 0xFFFF else ">"
    cur = _Cursor(buf, order)
    cur.skip(4)
    version = cur.take("I")
    if version not in (2, 3):
        raise ValueError(f"unsupported GGUF version {version}")
    header = GGUFHeader(version=version)
    tensor_count, kv_count = cur.take("Q"), cur.take("Q")
    for _ in range(kv_count):
        _read_kv(cur, header)
    ends = [_read_tensor_info(cur, header) for _ in range(tensor_count)]
    header.tensor_count = tensor_count
    alignment = header.fields.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise ValueError(f"invalid general.alignment {alignment!r}")
    data_start = -(-cur.off // alignment) * alignment
    needed = data_start + max(ends, default=0)
    if needed > size:
        raise ValueError(f"truncated: tensor data needs {needed} bytes, the file has {size}")
    return header


def _read_kv(cur: _Cursor, header: GGUFHeader) -> None:
    key = cur.string()
    vtype = cur.take("I")
    if vtype == _ARRAY:
        item_type, count = cur.take("I"), cur.take("Q")
        cur.skip_array(item_type, count)
        header.array_lengths[key] = count
    else:
        header.fields[key] = cur.value(vtype)


def _read_tensor_info(cur: _Cursor, header: GGUFHeader) -> int:
    name = cur.string()
    n_dims = cur.take("I")
    if n_dims > 8:
        raise ValueError(f"tensor {name!r} has {n_dims} dimensions")
    elements = 1
    for _ in range(n_dims):
        elements *= cur.take("Q")
    ggml_type, offset = cur.take("I"), cur.take("Q")
    try:
        block, type_size = GGML_QUANT_SIZES[ggml_type]
    except (KeyError, ValueError):
        raise ValueError(f"tensor {name!r} has unknown type {ggml_type}") from None
    header.parameter_count += elements
    return offset + elements // block * type_size


def quantization_name(file_type) -> str | None:
    try:
        name = LlamaFileType(int(file_type)).name
    except (ValueError, TypeError):
        return None
    if name == "ALL_F32":
        return "F32"
    return None if name == "GUESSED" else name.removeprefix("MOSTLY_")


def gguf_metadata(header: GGUFHeader, shards: list[GGUFHeader] = ()) -> dict:
    """Metadata of a GGUF model from its (first) header; split files add their tensors."""
    f = header.fields
    arch = f.get("general.architecture") if isinstance(f.get("general.architecture"), str) else None
    g = {"type": "adapter" if f.get("general.type") == "adapter" else "model",
         "version": header.version,
         "tensor_count": header.tensor_count + sum(s.tensor_count for s in shards),
         "parameter_count": header.parameter_count + sum(s.parameter_count for s in shards)}
    if arch:
        g["architecture"] = arch
    if isinstance(f.get("general.name"), str):
        g["name"] = f["general.name"]
    if isinstance(f.get("general.file_type"), int):
        g["file_type"] = f["general.file_type"]
        quant = quantization_name(f["general.file_type"])
        if quant:
            g["quantization"] = quant
    if arch and isinstance(f.get(f"{arch}.context_length"), int):
        g["context_length"] = f[f"{arch}.context_length"]
    tokenizer = "tokenizer.ggml.model" in f or "tokenizer.ggml.tokens" in header.array_lengths
    md: dict = {"gguf": g, "tokenizer": tokenizer,
                "chat_template": bool(f.get("tokenizer.chat_template"))}
    if arch:
        md["architecture"] = arch
    if g["type"] == "adapter":
        md.update(_gguf_adapter_metadata(f))
    return md


def _gguf_adapter_metadata(f: dict) -> dict:
    md: dict = {}
    lora = {}
    if isinstance(f.get("adapter.lora.alpha"), (int, float)):
        lora["alpha"] = f["adapter.lora.alpha"]
    if f.get("adapter.type") == "lora":
        lora["peft_type"] = "LORA"
    if lora:
        md["lora"] = lora
    repo_url, name = f.get("general.base_model.0.repo_url"), f.get("general.base_model.0.name")
    hf_prefix = "https://huggingface.co/"
    if isinstance(repo_url, str) and repo_url.startswith(hf_prefix):
        md["base_model"] = repo_url[len(hf_prefix):].strip("/")
    elif isinstance(name, str) and name:
        md["base_model"] = name
    return md
