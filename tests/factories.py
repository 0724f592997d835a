"""Tiny REAL models on disk, for tests and benches.

Every factory writes files the real tools would write (safetensors via `safetensors.numpy`, GGUF
via `gguf.GGUFWriter`, the HF hub cache and Ollama store layouts) at a few KiB each. Everything is
deterministic in `seed`, so the same call twice gives the same bytes.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

# What the factories write, for tests that check the numbers read back.
LLAMA_DEFAULTS = {"max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
                  "torch_dtype": "float16"}
ARCHITECTURES = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM",
                 "qwen2": "Qwen2ForCausalLM", "gemma": "GemmaForCausalLM"}
CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")
TRAIN_LOSSES = [2.5, 2.1, 1.8, 1.9, 1.5, 1.6]     # one log entry per LOG_EVERY steps
EVAL_LOSSES = [1.95, 1.7]                         # after steps 30 and 60
LOG_EVERY = 10
LEARNING_RATE = 2e-4
BATCH_SIZE = 4
GRAD_ACCUM = 2
EPOCHS = 3
SEQ_LEN = 512
WRITE_BLOCK = 16 * 1024 * 1024


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _save_safetensors(path: Path, tensors: dict) -> None:
    from safetensors.numpy import save_file

    save_file(tensors, str(path), metadata={"format": "pt"})


# -- Hugging Face models ------------------------------------------------------------------------

def llama_config(arch="llama", layers=2, hidden=64, vocab=256) -> dict:
    heads = max(1, hidden // 16)
    return {
        "architectures": [ARCHITECTURES.get(arch, f"{arch.capitalize()}ForCausalLM")],
        "model_type": arch, "num_hidden_layers": layers, "hidden_size": hidden,
        "intermediate_size": hidden * 2, "num_attention_heads": heads,
        "num_key_value_heads": max(1, heads // 2), "vocab_size": vocab,
        "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
        "tie_word_embeddings": False, **LLAMA_DEFAULTS,
    }


def llama_tensors(config: dict, seed: int) -> dict[str, np.ndarray]:
    rng = _rng(seed)
    hidden, inter = config["hidden_size"], config["intermediate_size"]
    kv = hidden // config["num_attention_heads"] * config["num_key_value_heads"]

    def w(*shape):
        return (rng.standard_normal(shape) * 0.02).astype(np.float16)

    tensors = {"model.embed_tokens.weight": w(config["vocab_size"], hidden)}
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        tensors.update({
            p + "self_attn.q_proj.weight": w(hidden, hidden),
            p + "self_attn.k_proj.weight": w(kv, hidden),
            p + "self_attn.v_proj.weight": w(kv, hidden),
            p + "self_attn.o_proj.weight": w(hidden, hidden),
            p + "mlp.gate_proj.weight": w(inter, hidden),
            p + "mlp.up_proj.weight": w(inter, hidden),
            p + "mlp.down_proj.weight": w(hidden, inter),
            p + "input_layernorm.weight": np.ones(hidden, np.float16),
            p + "post_attention_layernorm.weight": np.ones(hidden, np.float16),
        })
    tensors["model.norm.weight"] = np.ones(hidden, np.float16)
    tensors["lm_head.weight"] = w(config["vocab_size"], hidden)
    return tensors


def make_hf_model(dir, arch="llama", layers=2, hidden=64, vocab=256, seed=0, shards=1) -> Path:
    """A full HF causal-LM directory: config, weights (optionally sharded), tokenizer files."""
    out = Path(dir)
    out.mkdir(parents=True, exist_ok=True)
    config = llama_config(arch, layers, hidden, vocab)
    _write_json(out / "config.json", config)
    _write_weights(out, llama_tensors(config, seed), shards)
    _write_json(out / "generation_config.json",
                {"bos_token_id": 1, "eos_token_id": 2, "do_sample": True, "temperature": 0.6})
    write_tokenizer(out)
    return out


def _write_weights(out: Path, tensors: dict, shards: int) -> None:
    if shards <= 1:
        _save_safetensors(out / "model.safetensors", tensors)
        return
    names = list(tensors)
    weight_map, total = {}, 0
    for k in range(shards):
        file_name = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: tensors[n] for n in names[k::shards]}
        _save_safetensors(out / file_name, part)
        weight_map.update({n: file_name for n in part})
        total += sum(t.nbytes for t in part.values())
    _write_json(out / "model.safetensors.index.json",
                {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))})


def _bytes_to_unicode() -> dict[int, str]:
    # GPT-2's byte-level alphabet: printable bytes map to themselves, the rest above 255.
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    mapping, extra = {}, 0
    for b in range(256):
        if b in keep:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def write_tokenizer(out: Path, merges=(), add_bos_token: bool | None = None) -> int:
    """A byte-level BPE tokenizer.json (3 specials + 256 byte tokens + one token per merge)
    and tokenizer_config.json; returns the vocabulary size."""
    specials = ["<unk>", "<s>", "</s>"]
    vocab = {tok: i for i, tok in enumerate(specials)}
    for ch in _bytes_to_unicode().values():
        vocab[ch] = len(vocab)
    for left, right in merges:
        vocab[left + right] = len(vocab)
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for i, t in enumerate(specials)],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                  "merges": [f"{a} {b}" for a, b in merges]},
    }
    _write_json(out / "tokenizer.json", tokenizer)
    config = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
              "model_max_length": 2048, "tokenizer_class": "PreTrainedTokenizerFast",
              "chat_template": CHAT_TEMPLATE}
    if add_bos_token is not None:
        config["add_bos_token"] = add_bos_token
    _write_json(out / "tokenizer_config.json", config)
    return len(vocab)


# -- PEFT adapters ------------------------------------------------------------------------------

def _small(rng: np.random.Generator, shape) -> np.ndarray:
    return (rng.standard_normal(shape) * 0.01).astype(np.float32)


def make_peft_adapter(dir, base="meta-llama/Llama-3.2-1B", r=8, alpha=16,
                      target_modules=("q_proj", "v_proj"), seed=0, layers=2, hidden=64) -> Path:
    """adapter_config.json + adapter_model.safetensors with lora_A/lora_B for each target."""
    out = Path(dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "adapter_config.json", {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base,
        "r": r, "lora_alpha": alpha, "lora_dropout": 0.05, "bias": "none",
        "target_modules": list(target_modules), "fan_in_fan_out": False,
        "inference_mode": True, "modules_to_save": None})
    rng = _rng(seed)
    tensors = {}
    for i in range(layers):
        for module in target_modules:
            group = "mlp" if module.endswith(("gate_proj", "up_proj", "down_proj")) else "self_attn"
            p = f"base_model.model.model.layers.{i}.{group}.{module}."
            tensors[p + "lora_A.weight"] = _small(rng, (r, hidden))
            tensors[p + "lora_B.weight"] = _small(rng, (hidden, r))
    _save_safetensors(out / "adapter_model.safetensors", tensors)
    return out


# -- GGUF ---------------------------------------------------------------------------------------

def make_gguf(path, arch="llama", name="tiny", file_type=1, context_length=256, seed=0,
              adapter=False, base_model=None, hidden=64, layers=2) -> Path:
    """A real GGUF model (or LoRA adapter with adapter=True) written by gguf.GGUFWriter."""
    import gguf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name(name)
    writer.add_file_type(file_type)
    if adapter:
        writer.add_type("adapter")
        writer.add_string("adapter.type", "lora")
        writer.add_float32("adapter.lora.alpha", 16.0)
    else:
        writer.add_context_length(context_length)
        writer.add_embedding_length(hidden)
        writer.add_block_count(layers)
        writer.add_head_count(max(1, hidden // 16))
        writer.add_tokenizer_model("gpt2")
        writer.add_token_list([f"<t{i}>" for i in range(32)])
        writer.add_chat_template(CHAT_TEMPLATE)
    if base_model:
        writer.add_uint32("general.base_model.count", 1)
        writer.add_string("general.base_model.0.name", base_model.split("/")[-1])
        writer.add_string("general.base_model.0.repo_url", f"https://huggingface.co/{base_model}")
    for tensor_name, data in _gguf_tensors(adapter, file_type, seed, hidden, layers).items():
        writer.add_tensor(tensor_name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _gguf_tensors(adapter: bool, file_type: int, seed: int, hidden: int, layers: int) -> dict:
    rng = _rng(seed)
    dtype = np.float32 if file_type == 0 else np.float16

    def w(*shape):
        return (rng.standard_normal(shape) * 0.02).astype(dtype)

    if adapter:
        return {f"blk.{i}.attn_q.weight.lora_{ab}": w(*shape)
                for i in range(layers) for ab, shape in (("a", (8, hidden)), ("b", (hidden, 8)))}
    tensors = {"token_embd.weight": w(32, hidden)}
    for i in range(layers):
        tensors[f"blk.{i}.attn_q.weight"] = w(hidden, hidden)
        tensors[f"blk.{i}.attn_norm.weight"] = np.ones(hidden, np.float32)
    tensors["output_norm.weight"] = np.ones(hidden, np.float32)
    return tensors


def gguf_parameter_count(path) -> int:
    """The element count as gguf's own reader sees it (for cross-checking)."""
    import gguf

    return int(sum(t.n_elements for t in gguf.GGUFReader(str(path)).tensors))


# -- training output ----------------------------------------------------------------------------

def make_trainer_output(dir, adapter=True, checkpoints=2, seed=0) -> Path:
    """An HF Trainer output dir: final weights at the top, state/args/results, checkpoint-N/."""
    out = Path(dir)
    max_steps = LOG_EVERY * len(TRAIN_LOSSES)
    _write_final_weights(out, adapter, seed)
    steps = [max_steps * (k + 1) // max(1, checkpoints) for k in range(checkpoints)]
    for k, step in enumerate(steps):
        ckpt = out / f"checkpoint-{step}"
        _write_final_weights(ckpt, adapter, seed + 100 + k)
        _write_json(ckpt / "trainer_state.json", trainer_state(step, max_steps))
        (ckpt / "optimizer.pt").write_bytes(_rng(seed + k).bytes(4096))
        (ckpt / "rng_state.pth").write_bytes(_rng(seed + 50 + k).bytes(512))
    _write_json(out / "trainer_state.json", trainer_state(max_steps, max_steps, steps))
    _write_json(out / "training_args.json", {
        "output_dir": str(out), "learning_rate": LEARNING_RATE,
        "per_device_train_batch_size": BATCH_SIZE, "gradient_accumulation_steps": GRAD_ACCUM,
        "num_train_epochs": EPOCHS, "max_seq_length": SEQ_LEN, "warmup_steps": 5,
        "weight_decay": 0.0, "lr_scheduler_type": "cosine", "seed": 42, "bf16": True})
    _write_json(out / "all_results.json", {
        "epoch": float(EPOCHS), "train_loss": sum(TRAIN_LOSSES) / len(TRAIN_LOSSES),
        "eval_loss": EVAL_LOSSES[-1], "train_runtime": 12.5})
    return out


def _write_final_weights(out: Path, adapter: bool, seed: int) -> None:
    if adapter:
        make_peft_adapter(out, seed=seed)
        write_tokenizer(out)
    else:
        make_hf_model(out, seed=seed)


def trainer_state(step: int, max_steps: int, checkpoint_steps=()) -> dict:
    log = []
    for i, loss in enumerate(TRAIN_LOSSES):
        at = (i + 1) * LOG_EVERY
        if at > step:
            break
        log.append({"epoch": EPOCHS * at / max_steps, "step": at, "loss": loss,
                    "learning_rate": LEARNING_RATE * (1 - at / max_steps), "grad_norm": 1.0})
        if at % 30 == 0:
            log.append({"epoch": EPOCHS * at / max_steps, "step": at,
                        "eval_loss": EVAL_LOSSES[at // 30 - 1], "eval_runtime": 1.0})
    best_step = checkpoint_steps[-1] if checkpoint_steps else step
    return {"best_metric": min(EVAL_LOSSES),
            "best_model_checkpoint": f"outputs/checkpoint-{best_step}",
            "epoch": EPOCHS * step / max_steps, "global_step": step, "max_steps": max_steps,
            "num_train_epochs": EPOCHS, "train_batch_size": BATCH_SIZE, "logging_steps": LOG_EVERY,
            "eval_steps": 30, "save_steps": 30, "log_history": log}


# -- Hugging Face hub cache ---------------------------------------------------------------------

LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth", ".model")


def make_hf_cache(cache_root, repo_id="org/tiny-llama",
                  revision="0123abcd0123abcd0123abcd0123abcd0123abcd", kind="model",
                  seed=0) -> Path:
    """The hub cache layout; returns the snapshot dir. kind: 'model', 'lora' or 'gguf'.

    blobs/ are named by sha256 (LFS files) or git blob sha1 (small files), snapshot entries are
    relative symlinks into blobs/, refs/main holds the revision.
    """
    repo = Path(cache_root) / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp)
        if kind == "lora":
            make_peft_adapter(staged, seed=seed)
        elif kind == "gguf":
            make_gguf(staged / "tiny.Q8_0.gguf", file_type=7, seed=seed)
        else:
            make_hf_model(staged, seed=seed)
        (staged / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs\n")
        for file in sorted(p for p in staged.rglob("*") if p.is_file()):
            _link_into_cache(repo, snapshot, file.relative_to(staged), file.read_bytes())
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot


def _link_into_cache(repo: Path, snapshot: Path, rel: Path, data: bytes) -> None:
    if rel.name.endswith(LFS_SUFFIXES):
        blob_name = hashlib.sha256(data).hexdigest()
    else:
        blob_name = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    blob = repo / "blobs" / blob_name
    if not blob.exists():
        blob.write_bytes(data)
    link = snapshot / rel
    link.parent.mkdir(parents=True, exist_ok=True)
    target = os.path.relpath(blob, link.parent)  # '../../blobs/<hex>' at the top level
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(target, link)


# -- Ollama store -------------------------------------------------------------------------------

OLLAMA_TEMPLATE = "{{ if .System }}<|system|>{{ .System }}</s>{{ end }}<|user|>{{ .Prompt }}</s>"
OLLAMA_PARAMS = {"stop": ["<|user|>", "</s>"], "temperature": 0.7}


def make_ollama_store(store_root, name="tinyllama", tag="latest", namespace="library",
                      registry="registry.ollama.ai", seed=0) -> Path:
    """blobs/sha256-<hex> + manifests/<registry>/<namespace>/<name>/<tag>; returns the manifest."""
    store = Path(store_root)
    (store / "blobs").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        model_path = make_gguf(Path(tmp) / "model.gguf", name=name, seed=seed)
        model = _ollama_blob(store, model_path.read_bytes())
    layers = [
        {"mediaType": "application/vnd.ollama.image.model", **model},
        {"mediaType": "application/vnd.ollama.image.template",
         **_ollama_blob(store, OLLAMA_TEMPLATE.encode())},
        {"mediaType": "application/vnd.ollama.image.params",
         **_ollama_blob(store, json.dumps(OLLAMA_PARAMS).encode())},
    ]
    config = _ollama_blob(store, json.dumps({
        "model_format": "gguf", "model_family": "llama", "model_families": ["llama"],
        "model_type": "tiny", "file_type": "F16", "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
    }).encode())
    manifest = {"schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", **config},
                "layers": layers}
    path = store / "manifests" / registry / namespace / name / tag
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest))
    return path


def _ollama_blob(store: Path, data: bytes) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blob = store / "blobs" / digest.replace(":", "-")
    if not blob.exists():
        blob.write_bytes(data)
    return {"digest": digest, "size": len(data)}


# -- big files ----------------------------------------------------------------------------------

def write_big_file(path, size: int, seed: int) -> Path:
    """``size`` bytes of incompressible content, fast: one random 16 MiB block per file, each
    written block made distinct by adding its index (numpy, ~GB/s)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    block_size = min(WRITE_BLOCK, -(-max(size, 8) // 8) * 8)
    base = np.frombuffer(_rng(seed).bytes(block_size), dtype=np.uint64)
    with open(path, "wb") as f:
        written, index = 0, 0
        while written < size:
            n = min(block_size, size - written)
            block = (base + np.uint64(index)).tobytes() if index else base.tobytes()
            f.write(block[:n])
            written += n
            index += 1
    return path


SAFETENSORS_HEADER_BYTES = 128


def write_big_safetensors(path, size: int, seed: int) -> Path:
    """A valid safetensors file of exactly ``size`` bytes, fast: write_big_file's content behind
    a header naming one U8 tensor that spans the rest."""
    data = size - 8 - SAFETENSORS_HEADER_BYTES
    header = json.dumps({"weight": {"dtype": "U8", "shape": [data], "data_offsets": [0, data]}})
    assert data >= 0 and len(header) <= SAFETENSORS_HEADER_BYTES, size
    write_big_file(path, size, seed)
    with open(path, "r+b") as f:
        f.write(SAFETENSORS_HEADER_BYTES.to_bytes(8, "little"))
        f.write(header.ljust(SAFETENSORS_HEADER_BYTES).encode())  # the format pads with spaces
    return Path(path)


def copy_model(src, dst) -> Path:
    """A byte-identical copy of a model dir (new inodes, so nothing is shared with the source)."""
    shutil.copytree(src, dst, symlinks=True)
    return Path(dst)
