"""Convert where the model is: Hugging Face safetensors (llama, mistral, qwen2) -> GGUF.

    convert_to_gguf(model_dir, out, out_type="F16")      # F32/F16/BF16/Q8_0, written here
    convert_model(model_dir, out, quant="Q4_K_M")        # and K-quants through quantize.py

The GGUF itself is written by gguf_writer.py (streamed, free space checked first, no output
file left behind on failure); the tokenizer comes from vocab.py; lora.py converts adapters
against the description of their base model read here (read_model_info).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType as QT

from llmesh.agent.convert.checkpoint import TensorRef, open_checkpoint
from llmesh.agent.convert.gguf_writer import (
    NATIVE_TYPES,
    InMemoryRef,
    PlannedTensor,
    Progress,
    native_type,
    natural_order,
    tensor_type,
    write_gguf,
)
from llmesh.agent.convert.quantize import normalize_quant, quantize
from llmesh.agent.convert.vocab import read_vocab
from llmesh.common.errors import FailedPrecondition, InvalidArgument
from llmesh.common.names import GGUF_QUANTS

# HF architecture -> (GGUF architecture, whether q/k rows are permuted for llama.cpp's rope).
ARCHITECTURES = {
    "LlamaForCausalLM": ("llama", True),
    "MistralForCausalLM": ("llama", True),
    "Qwen2ForCausalLM": ("qwen2", False),
}
# llama.cpp ftypes that need no importance matrix; names as llama_cpp.LLAMA_FTYPE_MOSTLY_<name>.
SUPPORTED_QUANTS = GGUF_QUANTS
_TOP = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight"}
_LAYER = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
          "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
          "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
          "mlp.down_proj": "ffn_down"}
_LAYER_RE = re.compile(r"^model\.layers\.(\d+)\.(.+)\.(weight|bias)$")
_IGNORED = ("rotary_emb.inv_freq",)


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
        config = load_config(Path(config))
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


def load_config(path: Path) -> dict:
    """A JSON config (config.json, adapter_config.json), or the config.json of a directory."""
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

def _plan(tensors: dict[str, TensorRef], info: ModelInfo, out: QT) -> list[PlannedTensor]:
    planned = []
    for hf_name in sorted(tensors, key=natural_order):
        name = gguf_tensor_name(hf_name)
        if name is None:
            continue
        ref = tensors[hf_name]
        item = PlannedTensor(name, ref, tensor_type(out, ref.shape))
        if info.permute_qk and name.endswith((".attn_q.weight", ".attn_k.weight")):
            heads = info.n_head if ".attn_q." in name else info.n_head_kv
            item.rows = rope_permutation(ref.shape[0], heads)
        planned.append(item)
    return planned


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
    qtype, file_type = native_type(out_type)
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

    size = write_gguf(out, setup, planned, info.arch, vocab.estimated_bytes() + 2**20, progress,
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


def _check_complete(planned: list[PlannedTensor], info: ModelInfo, model_dir: Path) -> None:
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


def _rope_freq_tensors(info: ModelInfo, tensors: dict) -> list[PlannedTensor]:
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
    return [PlannedTensor("rope_freqs.weight", InMemoryRef.of(factors.astype(np.float32)), QT.F32)]
