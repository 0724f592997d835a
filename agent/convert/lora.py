"""PEFT LoRA adapter -> GGUF LoRA adapter, as llama.cpp's `--lora` loads it.

    convert_lora_to_gguf(adapter_dir, "adapter.gguf", base_config=base_model_dir)

The layout is the one llama.cpp's own convert_lora_to_gguf writes: general.type=adapter,
adapter.type=lora, adapter.lora.alpha, and per adapted weight `blk.N.<name>.weight.lora_a`
(PEFT's lora_A, [r, in]) and `.lora_b` (lora_B, [out, r]).
"""
from __future__ import annotations

import re
from pathlib import Path

import gguf
from gguf import GGMLQuantizationType as QT

from llmesh.agent.convert.checkpoint import TensorRef, open_checkpoint
from llmesh.agent.convert.gguf_writer import (
    PlannedTensor,
    Progress,
    native_type,
    natural_order,
    tensor_type,
    write_gguf,
)
from llmesh.agent.convert.model import ModelInfo, gguf_tensor_name, load_config, read_model_info, rope_permutation
from llmesh.common.errors import FailedPrecondition, InvalidArgument

_LORA_RE = re.compile(
    r"^(?:base_model\.model\.)?(model\.layers\.\d+\..+)\.lora_([AB])(?:\.\w+)?\.weight$")


def convert_lora_to_gguf(adapter_dir, out_path, base_config=None, *, out_type: str = "F16",
                         progress: Progress | None = None) -> dict:
    """A PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) as a GGUF LoRA
    adapter that llama.cpp loads with `--lora`: general.type=adapter, adapter.type=lora,
    adapter.lora.alpha, tensors `blk.N.<name>.weight.lora_a/lora_b`.

    base_config: the base model's config (dict, config.json or model dir); defaults to the
    local directory named by base_model_name_or_path. q/k adapters of llama-family bases need it
    (their B matrices are permuted like the base's q/k rows).
    """
    adapter_dir, out = Path(adapter_dir), Path(out_path)
    qtype, _ = native_type(out_type)
    adapter = _read_adapter_config(adapter_dir)
    info = read_model_info(base_config if base_config is not None
                           else _base_config_path(adapter_dir, adapter))
    tensors = open_checkpoint(adapter_dir, prefix="adapter_model")
    planned = [_lora_planned(name, ref, info, qtype) for name, ref in
               sorted(tensors.items(), key=lambda kv: natural_order(kv[0]))]
    alpha = float(adapter.get("lora_alpha") or adapter.get("r") or 1)

    def setup(writer: gguf.GGUFWriter) -> None:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
        writer.add_name(adapter_dir.name)
        if adapter.get("base_model_name_or_path"):
            writer.add_string("general.base_model.0.name",
                              Path(adapter["base_model_name_or_path"]).name)
            writer.add_uint32("general.base_model.count", 1)

    size = write_gguf(out, setup, planned, info.arch, 2**16, progress, "convert")
    return {"architecture": info.arch, "type": "adapter", "adapter_type": "lora",
            "lora_alpha": alpha, "rank": int(adapter.get("r") or 0), "path": str(out),
            "size": size, "tensor_count": len(planned)}


def _read_adapter_config(adapter_dir: Path) -> dict:
    config_file = adapter_dir / "adapter_config.json"
    if not config_file.is_file():
        raise FailedPrecondition(f"no adapter_config.json in {adapter_dir}: not a PEFT adapter")
    adapter = load_config(config_file)
    if str(adapter.get("peft_type", "LORA")).upper() != "LORA" or adapter.get("use_dora"):
        raise InvalidArgument(f"{adapter_dir} is a {adapter.get('peft_type')} adapter"
                              f"{' with DoRA' if adapter.get('use_dora') else ''}: "
                              "llmesh converts plain LoRA adapters")
    return adapter


def _base_config_path(adapter_dir: Path, adapter: dict) -> Path:
    base = adapter.get("base_model_name_or_path") or ""
    for candidate in (Path(base), adapter_dir / base):
        if base and (candidate / "config.json").is_file():
            return candidate
    raise FailedPrecondition(f"the base model's config.json is needed to convert {adapter_dir} "
                             f"(base {base!r} is not a local directory): pass base_config")


def _lora_planned(name: str, ref: TensorRef, info: ModelInfo, qtype: QT) -> PlannedTensor:
    match = _LORA_RE.match(name)
    if not match:
        raise FailedPrecondition(f"cannot convert adapter tensor {name!r} (only lora_A/lora_B "
                                 "of attention and MLP projections are supported)")
    base_name = gguf_tensor_name(match.group(1) + ".weight")
    which = match.group(2).lower()
    item = PlannedTensor(f"{base_name}.lora_{which}", ref, tensor_type(qtype, ref.shape))
    # W = B @ A: permuting W's rows for llama.cpp's rope is permuting B's rows.
    qk = base_name.endswith((".attn_q.weight", ".attn_k.weight"))
    if which == "b" and info.permute_qk and qk:
        heads = info.n_head if ".attn_q." in base_name else info.n_head_kv
        item.rows = rope_permutation(ref.shape[0], heads)
    return item
