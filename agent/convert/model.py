"""Convert where the model is: Hugging Face safetensors -> GGUF, PEFT LoRA -> GGUF LoRA, and
quantization through llama.cpp's own quantizer.

    convert_to_gguf(model_dir, out, out_type="F16")      # llama, mistral, qwen2; F32/F16/BF16/Q8_0
    quantize(in_gguf, out, "Q4_K_M")                     # llama.cpp's llama_model_quantize
    convert_model(model_dir, out, quant="Q4_K_M")        # the two above, as meshctl runs them
    convert_lora_to_gguf(adapter_dir, out, base_config=base_dir)   # agent.convert_lora

Every writer streams tensor by tensor from memory-mapped inputs, checks free space first, writes
`<out>.partial` and renames it at the end: a failed conversion leaves no output file behind.
Progress callbacks are called as `progress(stage, done, total)`.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import gguf
import numpy as np
from gguf import GGMLQuantizationType as QT
from gguf import LlamaFileType as FT

from llmesh.agent.convert.checkpoint import DTYPES, TensorRef, open_checkpoint
from llmesh.agent.convert.vocab import read_vocab
from llmesh.common.errors import FailedPrecondition, InvalidArgument, ResourceExhausted
from llmesh.common.names import GGUF_QUANTS, LLAMA_CPP_QUANTS, check_quant

Progress = Callable[[str, int, int], None]

# HF architecture -> (GGUF architecture, whether q/k rows are permuted for llama.cpp's rope).
ARCHITECTURES = {
    "LlamaForCausalLM": ("llama", True),
    "MistralForCausalLM": ("llama", True),
    "Qwen2ForCausalLM": ("qwen2", False),
}
# Written by this module; everything else goes through llama.cpp's quantizer from an F16 file.
NATIVE_TYPES = {"F32": (QT.F32, FT.ALL_F32), "F16": (QT.F16, FT.MOSTLY_F16),
                "BF16": (QT.BF16, FT.MOSTLY_BF16), "Q8_0": (QT.Q8_0, FT.MOSTLY_Q8_0)}
# llama.cpp ftypes that need no importance matrix; names as llama_cpp.LLAMA_FTYPE_MOSTLY_<name>.
SUPPORTED_QUANTS = GGUF_QUANTS
# Bits per weight, for the free-space estimate of a quantized file.
_BITS = {"Q4_0": 4.5, "Q4_1": 5.0, "Q5_0": 5.5, "Q5_1": 6.0, "Q8_0": 8.5, "Q2_K": 3.4,
         "Q3_K_S": 3.5, "Q3_K_M": 3.9, "Q3_K_L": 4.3, "Q4_K_S": 4.6, "Q4_K_M": 4.9,
         "Q5_K_S": 5.5, "Q5_K_M": 5.7, "Q6_K": 6.6, "IQ4_NL": 4.5, "IQ4_XS": 4.3}

_TOP = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight"}
_LAYER = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
          "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
          "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
          "mlp.down_proj": "ffn_down"}
_LAYER_RE = re.compile(r"^model\.layers\.(\d+)\.(.+)\.(weight|bias)$")
_IGNORED = ("rotary_emb.inv_freq",)
CHUNK_BYTES = 64 * 1024 * 1024
DISK_RESERVE = 64 * 1024 * 1024


# -- model description ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelInfo:
    arch: str                 # GGUF architecture
    hf_arch: str
    permute_qk: bool
    config: dict

    @property
    def n_head(self) -> int:
        return int(self.config["num_attention_heads"])

    @property
    def n_head_kv(self) -> int:
        return int(self.config.get("num_key_value_heads") or self.n_head)

    @property
    def head_dim(self) -> int:
        return int(self.config.get("head_dim") or self.config["hidden_size"] // self.n_head)


def read_model_info(config: dict | str | os.PathLike) -> ModelInfo:
    """The architecture of an HF config (a dict, a config.json, or a model dir holding one);
    InvalidArgument for an architecture llmesh does not convert."""
    if not isinstance(config, dict):
        config = _load_config(Path(config))
    names = config.get("architectures") or [config.get("model_type", "?")]
    hf_arch = names[0]
    if hf_arch not in ARCHITECTURES:
        raise InvalidArgument(f"unsupported architecture {hf_arch!r}: llmesh converts llama, "
                              "mistral and qwen2 models")
    arch, permute = ARCHITECTURES[hf_arch]
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"):
        if not isinstance(config.get(key), int):
            raise FailedPrecondition(f"config.json lacks {key!r}")
    return ModelInfo(arch, hf_arch, permute, config)


def _load_config(path: Path) -> dict:
    file = path / "config.json" if path.is_dir() else path
    if not file.is_file():
        raise FailedPrecondition(f"no config.json in {path}: not a Hugging Face model directory")
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise FailedPrecondition(f"{file} is not valid JSON") from None


def gguf_tensor_name(hf_name: str) -> str | None:
    """The GGUF name llama.cpp expects for an HF llama-family tensor (None: not written)."""
    if hf_name in _TOP:
        return _TOP[hf_name]
    if hf_name.endswith(_IGNORED):
        return None
    match = _LAYER_RE.match(hf_name)
    if match and match.group(2) in _LAYER:
        return f"blk.{match.group(1)}.{_LAYER[match.group(2)]}.{match.group(3)}"
    raise FailedPrecondition(f"cannot map tensor {hf_name!r} to GGUF")


def rope_permutation(rows: int, n_head: int) -> np.ndarray:
    """Row order that turns HF's rotate-half q/k layout into llama.cpp's interleaved one.

    HF checkpoints keep each head's rotary pairs as (first half, second half); llama.cpp's
    "normal" rope for llama rotates adjacent pairs, so row 2i+j of a head comes from row
    j*(head_dim/2)+i.
    """
    half = rows // n_head // 2
    return np.arange(rows).reshape(n_head, 2, half).swapaxes(1, 2).reshape(rows)


# -- planning what is written ---------------------------------------------------------------------

@dataclass
class _Planned:
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


def _tensor_type(out: QT, shape: tuple[int, ...]) -> QT:
    if len(shape) < 2:  # norms and biases stay F32, as llama.cpp's own converter writes them
        return QT.F32
    block, _ = gguf.GGML_QUANT_SIZES[out]
    return out if shape[-1] % block == 0 else QT.F16


def _plan(tensors: dict[str, TensorRef], info: ModelInfo, out: QT) -> list[_Planned]:
    planned = []
    for hf_name in sorted(tensors, key=_natural_order):
        name = gguf_tensor_name(hf_name)
        if name is None:
            continue
        ref = tensors[hf_name]
        item = _Planned(name, ref, _tensor_type(out, ref.shape))
        if info.permute_qk and name.endswith((".attn_q.weight", ".attn_k.weight")):
            heads = info.n_head if ".attn_q." in name else info.n_head_kv
            item.rows = rope_permutation(ref.shape[0], heads)
        planned.append(item)
    return planned


def _natural_order(name: str):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


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


def _write_tensor(fout, item: _Planned, buf: bytearray) -> None:
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
    if isinstance(ref, _InMemoryRef):
        return ref.array()
    with open(ref.file, "rb", buffering=0) as f:
        f.seek(ref.start)
        if f.readinto(memoryview(buf)[:ref.nbytes]) != ref.nbytes:
            raise FailedPrecondition(f"{ref.file} ended early while reading {ref.name!r}")
    count = int(np.prod(ref.shape)) if ref.shape else 1
    return np.frombuffer(buf, dtype=DTYPES[ref.dtype], count=count).reshape(ref.shape)


_SAME_TYPE = {("F16", QT.F16), ("BF16", QT.BF16), ("F32", QT.F32)}


def _is_plain_copy(item: _Planned) -> bool:
    return (item.rows is None and (item.ref.dtype, item.qtype) in _SAME_TYPE
            and not isinstance(item.ref, _InMemoryRef))


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


class _GGUFWriter(gguf.GGUFWriter):
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


class _PartialFile:
    """`<out>.partial`, renamed over `out` by commit(); removed if the block fails."""

    def __init__(self, out: Path):
        self.out = out
        self.path = out.with_name(out.name + ".partial")

    def __enter__(self) -> Path:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        return self.path

    def commit(self) -> None:
        os.replace(self.path, self.out)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.path.unlink(missing_ok=True)


def _check_space(directory: Path, needed: int, what: Path) -> None:
    free = shutil.disk_usage(directory).free
    if needed + DISK_RESERVE > free:
        raise ResourceExhausted(f"not enough disk space for {what.name}: needs "
                                f"{_human(needed)}, {_human(free)} free in {directory}")


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n} B"


def _write_gguf(out: Path, writer_setup, planned: list[_Planned], arch: str, extra_bytes: int,
                progress: Progress | None, stage: str) -> int:
    """Header, metadata, tensor infos, then each tensor streamed; returns the file size."""
    total = sum(p.nbytes for p in planned)
    out.parent.mkdir(parents=True, exist_ok=True)
    _check_space(out.parent, total + extra_bytes, out)
    partial = _PartialFile(out)
    with partial as tmp:
        writer = _GGUFWriter(None, arch)
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
                _write_tensor(fout, p, buf)
                writer.write_padding(fout, p.nbytes)
                done += p.nbytes
                if progress:
                    progress(stage, done, total)
            fout.flush()
            os.fsync(fout.fileno())
        finally:
            writer.close()
        partial.commit()
    return out.stat().st_size


# -- public API -----------------------------------------------------------------------------------

def convert_to_gguf(model_dir, out_path, *, out_type: str = "F16",
                    progress: Progress | None = None) -> dict:
    """Convert an HF llama/mistral/qwen2 safetensors directory (sharded or not) into one GGUF
    with its tokenizer and chat template. out_type: F32, F16, BF16 or Q8_0.

    Returns the metadata written (architecture, name, file type, sizes, hyperparameters).
    Raises InvalidArgument (unsupported architecture or type), FailedPrecondition (missing or
    corrupt inputs), ResourceExhausted (not enough disk space).
    """
    model_dir, out = Path(model_dir), Path(out_path)
    qtype, file_type = _native_type(out_type)
    info = read_model_info(model_dir)
    vocab = read_vocab(model_dir, info.config, info.arch)
    tensors = open_checkpoint(model_dir)
    planned = _plan(tensors, info, qtype)
    planned += _rope_freq_tensors(info, tensors)
    _check_complete(planned, info, model_dir)
    meta = _hyperparameters(info, model_dir)

    def setup(writer: gguf.GGUFWriter) -> None:
        writer.add_name(meta["name"])
        writer.add_file_type(int(file_type))
        if qtype == QT.Q8_0:
            writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        _add_hyperparameters(writer, info)
        vocab.write_to(writer)

    size = _write_gguf(out, setup, planned, info.arch, vocab.estimated_bytes() + 2**20, progress,
                       "convert")
    return {**meta, "file_type": out_type, "path": str(out), "size": size,
            "tensor_count": len(planned), "vocab_size": len(vocab.tokens),
            "chat_template": bool(vocab.chat_template)}


def convert_model(model_dir, out_path, *, quant: str = "F16", threads: int | None = None,
                  progress: Progress | None = None) -> dict:
    """convert_to_gguf for the types it writes itself; otherwise convert to a temporary F16
    GGUF next to the output and quantize that with llama.cpp."""
    quant = normalize_quant(quant)
    out = Path(out_path)
    if quant in NATIVE_TYPES:
        return convert_to_gguf(model_dir, out, out_type=quant, progress=progress)
    staged = out.with_name(out.name + ".f16.partial")
    try:
        meta = convert_to_gguf(model_dir, staged, out_type="F16", progress=progress)
        result = quantize(staged, out, quant, threads=threads, progress=progress)
    finally:
        staged.unlink(missing_ok=True)
    return {**meta, **result, "path": str(out), "file_type": quant}


def convert_lora_to_gguf(adapter_dir, out_path, base_config=None, **options) -> dict:
    """PEFT LoRA -> GGUF LoRA; see agent.convert_lora (re-exported so callers need one module)."""
    from llmesh.agent.convert.lora import convert_lora_to_gguf as convert_lora

    return convert_lora(adapter_dir, out_path, base_config, **options)


def normalize_quant(quant: str) -> str:
    return check_quant(quant)


def _native_type(out_type: str) -> tuple[QT, FT]:
    name = str(out_type).strip().upper()
    if name not in NATIVE_TYPES:
        raise InvalidArgument(f"unknown output type {out_type!r} for conversion: use one of "
                              + ", ".join(NATIVE_TYPES) + " (then quantize)")
    return NATIVE_TYPES[name]


def _check_complete(planned: list[_Planned], info: ModelInfo, model_dir: Path) -> None:
    names = {p.name for p in planned}
    missing = [n for n in ("token_embd.weight", "output_norm.weight") if n not in names]
    layers = int(info.config["num_hidden_layers"])
    missing += [f"blk.{i}.{t}.weight" for i in range(layers)
                for t in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_up", "ffn_down")
                if f"blk.{i}.{t}.weight" not in names]
    if missing:
        raise FailedPrecondition(f"{model_dir} lacks tensors llama.cpp needs: "
                                 + ", ".join(missing[:4]) + ("…" if len(missing) > 4 else ""))


def _hyperparameters(info: ModelInfo, model_dir: Path) -> dict:
    c = info.config
    name = Path(str(c.get("_name_or_path") or model_dir.name)).name or model_dir.name
    return {"architecture": info.arch, "hf_architecture": info.hf_arch, "name": name,
            "context_length": int(c.get("max_position_embeddings") or 4096),
            "embedding_length": int(c["hidden_size"]), "block_count": int(c["num_hidden_layers"]),
            "feed_forward_length": int(c["intermediate_size"]), "head_count": info.n_head,
            "head_count_kv": info.n_head_kv, "rope_dimension_count": info.head_dim,
            "rope_freq_base": float(c.get("rope_theta") or 10000.0),
            "layer_norm_rms_epsilon": float(c.get("rms_norm_eps") or 1e-5)}


def _add_hyperparameters(writer: gguf.GGUFWriter, info: ModelInfo) -> None:
    h = _hyperparameters(info, Path("."))
    writer.add_vocab_size(int(info.config.get("vocab_size") or 0))
    writer.add_context_length(h["context_length"])
    writer.add_embedding_length(h["embedding_length"])
    writer.add_block_count(h["block_count"])
    writer.add_feed_forward_length(h["feed_forward_length"])
    writer.add_head_count(h["head_count"])
    writer.add_head_count_kv(h["head_count_kv"])
    writer.add_rope_dimension_count(h["rope_dimension_count"])
    writer.add_rope_freq_base(h["rope_freq_base"])
    writer.add_layer_norm_rms_eps(h["layer_norm_rms_epsilon"])
    _add_rope_scaling(writer, info.config.get("rope_scaling"))


def _rope_scaling_type(scaling: dict | None) -> str | None:
    if not scaling:
        return None
    return scaling.get("rope_type") or scaling.get("type")


def _add_rope_scaling(writer: gguf.GGUFWriter, scaling: dict | None) -> None:
    kind = _rope_scaling_type(scaling)
    if kind in (None, "default", "llama3"):  # llama3 is carried by the rope_freqs tensor
        return
    if kind not in ("linear", "yarn"):
        raise InvalidArgument(f"unsupported rope_scaling type {kind!r}: llmesh converts "
                              "linear, yarn and llama3 scaling")
    writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR if kind == "linear"
                                 else gguf.RopeScalingType.YARN)
    writer.add_rope_scaling_factor(float(scaling["factor"]))
    if kind == "yarn" and scaling.get("original_max_position_embeddings"):
        writer.add_rope_scaling_orig_ctx_len(int(scaling["original_max_position_embeddings"]))


def _rope_freq_tensors(info: ModelInfo, tensors: dict) -> list[_Planned]:
    """Llama 3.1+ scales rope frequencies by wavelength; llama.cpp reads the per-dimension
    factors from a `rope_freqs.weight` tensor."""
    scaling = info.config.get("rope_scaling")
    if _rope_scaling_type(scaling) != "llama3":
        return []
    base = float(info.config.get("rope_theta") or 10000.0)
    dim = info.head_dim
    freqs = 1.0 / base ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    factor = float(scaling.get("factor", 8.0))
    low = float(scaling.get("low_freq_factor", 1.0))
    high = float(scaling.get("high_freq_factor", 4.0))
    old_ctx = float(scaling.get("original_max_position_embeddings", 8192))
    wavelen = 2 * np.pi / freqs
    smooth = np.clip((old_ctx / wavelen - low) / (high - low), 0.0, 1.0)
    factors = np.where(wavelen < old_ctx / high, 1.0,
                       np.where(wavelen > old_ctx / low, factor,
                                1.0 / ((1 - smooth) / factor + smooth)))
    return [_Planned("rope_freqs.weight", _InMemoryRef.of(factors.astype(np.float32)), QT.F32)]


class _InMemoryRef(TensorRef):
    """A computed tensor planned like a mapped one."""

    @classmethod
    def of(cls, data: np.ndarray) -> "_InMemoryRef":
        ref = cls("computed", "F32", tuple(data.shape), Path(), 0, data.nbytes)
        object.__setattr__(ref, "_data", data)
        return ref

    def array(self) -> np.ndarray:
        return self._data


# -- quantization through llama.cpp ---------------------------------------------------------------

# Runs in a child process: a GGML abort in the quantizer must not take the agent down with it.
_QUANTIZE_CHILD = """
import ctypes, sys, llama_cpp
params = llama_cpp.llama_model_quantize_default_params()
params.ftype = getattr(llama_cpp, "LLAMA_FTYPE_MOSTLY_" + sys.argv[3])
params.nthread = int(sys.argv[4])
sys.exit(0 if llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(),
                                             ctypes.byref(params)) == 0 else 3)
"""
_TENSOR_LINE = re.compile(rb"\[\s*(\d+)/\s*(\d+)\]")


def quantize(in_gguf, out_path, quant: str, threads: int | None = None,
             progress: Progress | None = None) -> dict:
    """Quantize a GGUF with llama.cpp's `llama_model_quantize` (llama-cpp-python), e.g. Q4_K_M.

    Raises InvalidArgument (unknown quantization), FailedPrecondition (llama-cpp-python missing,
    or llama.cpp refused the input), ResourceExhausted (disk). Nothing is left on failure.
    """
    src, out = Path(in_gguf), Path(out_path)
    quant = normalize_quant(quant)
    if quant not in LLAMA_CPP_QUANTS:
        raise InvalidArgument(f"{quant} is not a llama.cpp quantization: convert with "
                              f"out_type={quant!r} instead")
    if not src.is_file():
        raise FailedPrecondition(f"{src} does not exist")
    _require_llama_cpp()
    out.parent.mkdir(parents=True, exist_ok=True)
    _check_space(out.parent, int(src.stat().st_size * _BITS[quant] / 16) + 2**20, out)
    partial = _PartialFile(out)
    with partial as tmp:
        log = _run_quantizer(src, tmp, quant, threads or os.cpu_count() or 1, progress)
        partial.commit()
    return {"path": str(out), "quantization": quant, "size": out.stat().st_size,
            "input_size": src.stat().st_size, "log_tail": log[-2000:]}


def _require_llama_cpp() -> None:
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        raise FailedPrecondition("llama.cpp backend missing on this host: install "
                                 "llama-cpp-python (pip install 'llmesh[serve]')")


def _run_quantizer(src: Path, tmp: Path, quant: str, threads: int,
                   progress: Progress | None) -> str:
    proc = subprocess.Popen([sys.executable, "-c", _QUANTIZE_CHILD, str(src), str(tmp), quant,
                             str(threads)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            match = _TENSOR_LINE.search(line)
            if match and progress:
                progress("quantize", int(match.group(1)), int(match.group(2)))
        rc = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    log = b"".join(lines).decode(errors="replace")
    if rc != 0 or not tmp.is_file():
        last = [ln for ln in log.splitlines() if ln.strip()][-1:] or ["no output"]
        raise FailedPrecondition(f"llama.cpp could not quantize {src.name} to {quant}: "
                                 f"{last[0].strip()}")
    return log


__all__ = ["ARCHITECTURES", "SUPPORTED_QUANTS", "NATIVE_TYPES", "LLAMA_CPP_QUANTS",
           "convert_to_gguf", "convert_model", "convert_lora_to_gguf", "quantize",
           "normalize_quant", "read_model_info", "gguf_tensor_name", "rope_permutation"]
