"""What the inventory knows about layouts and formats: directory listings, HF configs, PEFT
adapters, training runs, split GGUF names, the HF cache's and Ollama's naming, Ollama manifests.
(GGUF headers: gguf_header.py.)

Every reader either returns plain JSON-able values or raises DetectError with a one-line message
naming the file and what is wrong with it. Nothing here guesses: a key that cannot be read is left
out.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass


class DetectError(Exception):
    """A model that cannot be read; ``str()`` is '<native path>: <what is wrong>'."""

    def __init__(self, path: str, what: str):
        super().__init__(f"{path}: {what}")
        self.path = path
        self.what = what


# -- directories ------------------------------------------------------------------------------

class Listing:
    """One directory's entries, split into files (symlinks followed) and real subdirs."""

    def __init__(self, path: str):
        self.path = path
        with os.scandir(path) as it:
            entries = sorted(it, key=lambda e: e.name)
        # A name that is not UTF-8 cannot travel in a protobuf string: reported, never listed.
        self.undecodable = [ascii(e.name) for e in entries if not _is_utf8(e.name)]
        entries = [e for e in entries if _is_utf8(e.name)]
        self.files = {e.name: e for e in entries if is_file(e)}
        self.dirs = {e.name: e for e in entries if e.is_dir(follow_symlinks=False)}
        # Links to nothing, or to themselves: fatal inside a model, ignored elsewhere.
        self.broken = [e.name for e in entries if e.is_symlink() and not is_file(e)
                       and not is_dir(e)]
        self.names = set(self.files)


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file(follow_symlinks=True)
    except OSError:  # ELOOP
        return False


def is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=True)
    except OSError:
        return False


def entry_stat(entry: os.DirEntry) -> os.stat_result:
    st = entry.stat(follow_symlinks=True)
    # On Windows DirEntry.stat() has no inode; the cache key needs the real one.
    return os.stat(entry.path) if st.st_ino == 0 else st


def is_hidden(name: str) -> bool:
    return name.startswith(".")


# Split GGUF files: name-00001-of-00003.gguf ... (what is inside a GGUF: gguf_header.py).
SPLIT_RE = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


def gguf_stem(file_name: str) -> str:
    match = SPLIT_RE.match(file_name)
    stem = match.group("stem") if match else file_name
    return stem[:-5] if stem.lower().endswith(".gguf") else stem


def hf_repo_id(dir_name: str) -> str:
    """'models--org--name' -> 'org/name' (the hub cache's folder naming)."""
    return "/".join(dir_name.split("--")[1:])


def ollama_manifests(manifests_dir: str, problems: list[str]):
    """Yield (manifest path, (registry, namespace, name, tag)) for manifests/<r>/<ns>/<n>/<tag>."""
    def subdirs(path):
        try:
            return [(n, e.path) for n, e in Listing(path).dirs.items() if not is_hidden(n)]
        except OSError as e:
            problems.append(f"{path}: cannot list directory: {e.strerror or e}")
            return []

    for registry, r_path in subdirs(manifests_dir):
        for namespace, ns_path in subdirs(r_path):
            for name, n_path in subdirs(ns_path):
                try:
                    tags = Listing(n_path).files
                except OSError as e:
                    problems.append(f"{n_path}: cannot list directory: {e.strerror or e}")
                    continue
                for tag, entry in tags.items():
                    if not is_hidden(tag):
                        yield entry.path, (registry, namespace, name, tag)


# -- JSON files ---------------------------------------------------------------------------------

# Metadata files are read whole, so their size is bounded: real ones are kilobytes. A shard index
# lists every tensor and runs to ~10 MB for the largest mixture-of-experts checkpoints.
MAX_JSON_BYTES = 16 * 1024 * 1024
MAX_INDEX_JSON_BYTES = 64 * 1024 * 1024
SHARD_INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def read_json(directory: str, name: str) -> dict:
    """Read ``directory/name`` as a JSON object; errors name the file relative to the model."""
    limit = MAX_INDEX_JSON_BYTES if name in SHARD_INDEX_FILES else MAX_JSON_BYTES
    try:
        data = json.loads(read_bounded(os.path.join(directory, name), limit).decode("utf-8"))
    except FileTooLarge as e:
        raise DetectError(directory, f"{name} {e}") from None
    except json.JSONDecodeError as e:
        raise DetectError(directory, f"{name} is not valid JSON: line {e.lineno} column {e.colno}"
                                     f" ({e.msg})") from None
    except UnicodeDecodeError:
        raise DetectError(directory, f"{name} is not valid JSON: not UTF-8 text") from None
    except RecursionError:
        raise DetectError(directory, f"{name} is not usable JSON: nested too deeply") from None
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        raise DetectError(directory, f"{name} is not usable JSON: {e}") from None
    except OSError as e:
        raise DetectError(directory, f"{name} cannot be read: {e.strerror or e}") from None
    if not isinstance(data, dict):
        raise DetectError(directory, f"{name} is not a JSON object")
    return data


class FileTooLarge(ValueError):
    """A file larger than its reader allows; ``str()`` follows the file's name."""


def read_bounded(path: str, limit: int) -> bytes:
    """The whole file, or FileTooLarge if it holds more than ``limit`` bytes."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)  # never more, even if the file grows as it is read
    if len(data) > limit:
        raise FileTooLarge(f"is larger than {limit // (1024 * 1024)} MiB, more than a metadata"
                           " file holds: not read")
    return data


def clean_json(value):
    """Keep only what JSON (and protobuf Struct) can carry: no NaN/inf, no numpy scalars."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        out = {str(k): clean_json(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [v for v in (clean_json(x) for x in value) if v is not None]
    if hasattr(value, "item"):  # numpy scalar
        return clean_json(value.item())
    return None


def _pick(source: dict, keys) -> dict:
    """The keys whose values are plain scalars (a nested value could be nested without end)."""
    return {k: source[k] for k in keys if _is_scalar(source.get(k))}


def _is_scalar(value) -> bool:
    return isinstance(value, (str, int, float, bool))


# -- Hugging Face directories -------------------------------------------------------------------

CONFIG_KEYS = ("num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads",
               "num_key_value_heads", "vocab_size", "max_position_embeddings", "torch_dtype")
TOKENIZER_FILES = {"tokenizer.json", "tokenizer.model", "vocab.json", "tiktoken.model",
                   "spiece.model", "sentencepiece.bpe.model"}
CHAT_TEMPLATE_FILES = {"chat_template.jinja", "chat_template.json"}


def model_weight_format(names: set[str]) -> str | None:
    """'safetensors' or 'pytorch' from the top-level file names of a full-model dir."""
    if any(n.endswith(".safetensors") for n in names):
        return "safetensors"
    if any(n.startswith("pytorch_model") and n.endswith(".bin") for n in names):
        return "pytorch"
    return None


def adapter_weight_format(names: set[str]) -> str | None:
    if any(n.startswith("adapter_model") and n.endswith(".safetensors") for n in names):
        return "safetensors"
    if any(n.startswith("adapter_model") and n.endswith(".bin") for n in names):
        return "pytorch"
    return None


def hf_metadata(directory: str, names: set[str]) -> dict:
    """architecture, model_type, config, tokenizer and chat_template of a HF-style dir."""
    md: dict = {}
    if "config.json" in names:
        cfg = read_json(directory, "config.json")
        archs = cfg.get("architectures")
        if isinstance(archs, list) and archs and isinstance(archs[0], str):
            md["architecture"] = archs[0]
        if isinstance(cfg.get("model_type"), str):
            md["model_type"] = cfg["model_type"]
        config = _config_numbers(cfg)
        if config:
            md["config"] = config
    md["tokenizer"] = bool(names & TOKENIZER_FILES)
    md["chat_template"] = bool(names & CHAT_TEMPLATE_FILES)
    if "tokenizer_config.json" in names:
        tok = read_json(directory, "tokenizer_config.json")
        md["chat_template"] = md["chat_template"] or bool(tok.get("chat_template"))
    return md


def _config_numbers(cfg: dict) -> dict:
    # Multimodal configs keep the language model's numbers under text_config.
    text = cfg.get("text_config") if isinstance(cfg.get("text_config"), dict) else {}
    out = {}
    for key in CONFIG_KEYS:
        value = cfg.get(key, text.get(key))
        if key == "torch_dtype" and value is None:
            value = cfg.get("dtype", text.get("dtype"))  # newer transformers write "dtype"
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            out[key] = value
    return out


def check_shard_index(directory: str, names: set[str]) -> None:
    """A sharded checkpoint whose index names a missing shard is an incomplete download."""
    for index in SHARD_INDEX_FILES:
        if index not in names:
            continue
        weight_map = read_json(directory, index).get("weight_map")
        if not isinstance(weight_map, dict):
            raise DetectError(directory, f"{index} has no weight_map")
        missing = sorted({str(f) for f in weight_map.values()} - names)
        if missing:
            raise DetectError(directory, f"{index} names {missing[0]}, which is missing"
                                         f" ({len(missing)} shard(s) missing)")


def lora_metadata(directory: str) -> dict:
    cfg = read_json(directory, "adapter_config.json")
    lora = _pick(cfg, ("r", "peft_type", "task_type"))
    if _is_scalar(cfg.get("lora_alpha")):
        lora["alpha"] = cfg["lora_alpha"]
    if _is_scalar(cfg.get("lora_dropout")):
        lora["dropout"] = cfg["lora_dropout"]
    targets = cfg.get("target_modules")
    if isinstance(targets, (list, tuple)):
        lora["target_modules"] = [str(t) for t in targets]
    elif isinstance(targets, str):
        lora["target_modules"] = targets  # a regex, as PEFT allows
    md: dict = {"lora": lora}
    if isinstance(cfg.get("base_model_name_or_path"), str) and cfg["base_model_name_or_path"]:
        md["base_model"] = cfg["base_model_name_or_path"]
    return md


# -- Training runs ------------------------------------------------------------------------------

TRAINING_ARGS = {
    "learning_rate": ("learning_rate", "lr"),
    "batch_size": ("per_device_train_batch_size", "train_batch_size", "batch_size",
                   "micro_batch_size"),
    "gradient_accumulation_steps": ("gradient_accumulation_steps",),
    "num_epochs": ("num_train_epochs", "num_epochs", "epochs"),
    "sequence_length": ("max_seq_length", "max_length", "model_max_length", "sequence_len",
                        "max_seq_len", "cutoff_len", "seq_length"),
    "max_steps": ("max_steps",),
    "warmup_steps": ("warmup_steps",),
    "warmup_ratio": ("warmup_ratio",),
    "weight_decay": ("weight_decay",),
    "lr_scheduler_type": ("lr_scheduler_type",),
    "optim": ("optim", "optimizer"),
    "seed": ("seed",),
    "bf16": ("bf16",),
    "fp16": ("fp16",),
}


def training_metadata(directory: str, names: set[str]) -> dict:
    state = read_json(directory, "trainer_state.json")
    log = state.get("log_history") if isinstance(state.get("log_history"), list) else []
    log = [e for e in log if isinstance(e, dict)]
    losses = [e["loss"] for e in log if _is_number(e.get("loss"))]
    evals = [e["eval_loss"] for e in log if _is_number(e.get("eval_loss"))]
    out: dict = {"log_steps": len(log)}
    if losses:
        out["final_loss"], out["best_loss"] = losses[-1], min(losses)
    if evals:
        out["final_eval_loss"] = evals[-1]
    for key, source in (("best_metric", "best_metric"), ("epochs", "epoch"),
                        ("global_step", "global_step"), ("max_steps", "max_steps"),
                        ("train_batch_size", "train_batch_size")):
        if _is_number(state.get(source)):
            out[key] = state[source]
    results = read_json(directory, "all_results.json") if "all_results.json" in names else {}
    if "final_eval_loss" not in out and _is_number(results.get("eval_loss")):
        out["final_eval_loss"] = results["eval_loss"]
    args = _training_args(directory, names, state)
    if args:
        out["args"] = args
    return out


def _training_args(directory: str, names: set[str], state: dict) -> dict:
    raw = read_json(directory, "training_args.json") if "training_args.json" in names else {}
    args = {}
    for key, sources in TRAINING_ARGS.items():
        for source in sources:
            value = raw.get(source)
            if key == "max_steps" and isinstance(value, int) and value < 0:
                continue  # HF's -1 means "not set": epochs decide
            if isinstance(value, (int, float, str, bool)):
                args[key] = value
                break
    if "num_epochs" not in args and _is_number(state.get("num_train_epochs")):
        args["num_epochs"] = state["num_train_epochs"]
    return args


def _is_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


# -- Ollama manifests ---------------------------------------------------------------------------

OLLAMA_MEDIA_PREFIX = "application/vnd.ollama.image."
OLLAMA_FILE_NAMES = {"model": "model.gguf", "adapter": "adapter.gguf",
                     "projector": "projector.gguf", "template": "template", "params": "params",
                     "system": "system", "license": "license", "messages": "messages"}
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class OllamaLayer:
    file_name: str   # the FileEntry path: model.gguf, template, params...
    kind: str        # the media type's last part: model, template, adapter...
    digest: str
    size: int


def read_ollama_manifest(path: str) -> tuple[bytes, list[OllamaLayer]]:
    """The manifest's raw bytes (its sha256 is Ollama's model id) and its layers."""
    try:
        raw = read_bounded(path, MAX_JSON_BYTES)
    except FileTooLarge as e:
        raise DetectError(path, str(e)) from None
    except OSError as e:
        raise DetectError(path, f"cannot be read: {e.strerror or e}") from None
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as e:
        where = f": line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
        raise DetectError(path, f"not a valid Ollama manifest (not JSON{where})") from None
    layers = manifest.get("layers") if isinstance(manifest, dict) else None
    if not isinstance(layers, list) or not layers:
        raise DetectError(path, "not a valid Ollama manifest (no layers)")
    return raw, _ollama_layers(path, layers)


def _ollama_layers(path: str, layers: list) -> list[OllamaLayer]:
    out, used = [], set()
    for layer in layers:
        media = layer.get("mediaType") if isinstance(layer, dict) else None
        digest = layer.get("digest") if isinstance(layer, dict) else None
        size = layer.get("size") if isinstance(layer, dict) else None
        if not (isinstance(media, str) and isinstance(digest, str) and _DIGEST_RE.match(digest)):
            raise DetectError(path, f"not a valid Ollama manifest (bad layer {layer!r:.80})")
        kind = media.removeprefix(OLLAMA_MEDIA_PREFIX)
        kind = re.sub(r"[^A-Za-z0-9._-]+", "-", kind) or "layer"
        name = _unique_name(OLLAMA_FILE_NAMES.get(kind, kind), used)
        out.append(OllamaLayer(name, kind, digest, size if isinstance(size, int) else -1))
    return out


def _unique_name(name: str, used: set[str]) -> str:
    # Llama 3 manifests carry two license layers: license, license-2.
    stem, dot, ext = name.partition(".")
    candidate, n = name, 1
    while candidate in used:
        n += 1
        candidate = f"{stem}-{n}{dot}{ext}"
    used.add(candidate)
    return candidate


def ollama_blob_name(digest: str) -> str:
    return digest.replace(":", "-")
