"""The tokenizer half of a GGUF: a Hugging Face `tokenizer.json` as llama.cpp's loader wants it.

llama.cpp reads `tokenizer.ggml.*` keys: the model kind ("gpt2" for byte-level BPE, "llama" for
SentencePiece-style BPE with byte fallback), the token strings with their types (and scores for
"llama"), the merges, the special token ids, and the chat template. Everything here comes from
files in the model directory; nothing is downloaded and `tokenizers`/`transformers` are not needed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import gguf

from llmesh.common.errors import FailedPrecondition

NORMAL, CONTROL, USER_DEFINED, UNUSED, BYTE = (
    int(gguf.TokenType.NORMAL), int(gguf.TokenType.CONTROL), int(gguf.TokenType.USER_DEFINED),
    int(gguf.TokenType.UNUSED), int(gguf.TokenType.BYTE))


@dataclass
class Vocab:
    model: str                       # "gpt2" or "llama"
    pre: str                         # llama.cpp's pre-tokenizer name
    tokens: list[str]
    token_types: list[int]
    scores: list[float] | None
    merges: list[str]
    special_ids: dict[str, int] = field(default_factory=dict)   # bos/eos/unk/pad -> id
    add_bos: bool | None = None
    add_eos: bool | None = None
    chat_template: str | None = None

    def write_to(self, writer: gguf.GGUFWriter) -> None:
        writer.add_tokenizer_model(self.model)
        writer.add_tokenizer_pre(self.pre)
        writer.add_token_list(self.tokens)
        writer.add_token_types(self.token_types)
        if self.scores is not None:
            writer.add_token_scores(self.scores)
        if self.merges:
            writer.add_token_merges(self.merges)
        adders = {"bos": writer.add_bos_token_id, "eos": writer.add_eos_token_id,
                  "unk": writer.add_unk_token_id, "pad": writer.add_pad_token_id}
        for role, token_id in self.special_ids.items():
            adders[role](token_id)
        if self.add_bos is not None:
            writer.add_add_bos_token(self.add_bos)
        if self.add_eos is not None:
            writer.add_add_eos_token(self.add_eos)
        if self.chat_template:
            writer.add_chat_template(self.chat_template)

    def estimated_bytes(self) -> int:
        """About what these keys take in the file (for the free-space check)."""
        return sum(len(t.encode()) + 13 for t in self.tokens) + sum(len(m) + 8 for m in self.merges)


def read_vocab(model_dir: Path, config: dict, arch: str) -> Vocab:
    """The Vocab of an HF model directory, padded to the model's `vocab_size`."""
    tokenizer = _read_tokenizer_json(model_dir)
    tok_config = _read_json(model_dir / "tokenizer_config.json") or {}
    bpe = tokenizer.get("model") or {}
    if bpe.get("type") != "BPE":
        raise FailedPrecondition(
            f"unsupported tokenizer type {bpe.get('type')!r} in {model_dir / 'tokenizer.json'}: "
            "llmesh converts BPE tokenizers")
    byte_fallback = bool(bpe.get("byte_fallback"))
    by_id = _tokens_by_id(bpe.get("vocab") or {}, tokenizer.get("added_tokens") or [])
    size = _vocab_size(config, by_id, model_dir)
    tokens, types = _token_list(by_id, tokenizer.get("added_tokens") or [], size, byte_fallback)
    to_id = {t: i for i, t in enumerate(tokens)}
    return Vocab(
        model="llama" if byte_fallback else "gpt2",
        pre=_pre_tokenizer(arch, to_id, byte_fallback, tokenizer.get("pre_tokenizer") or {}),
        tokens=tokens, token_types=types,
        # SentencePiece-style BPE merges by score; tokens made by earlier merges have lower ids.
        scores=[-float(i) for i in range(size)] if byte_fallback else None,
        merges=[_merge_string(m) for m in bpe.get("merges") or []],
        special_ids=_special_ids(tok_config, config, model_dir, to_id),
        add_bos=tok_config.get("add_bos_token", None if arch == "qwen2" else True),
        add_eos=tok_config.get("add_eos_token"),
        chat_template=_chat_template(model_dir, tok_config),
    )


def _read_json(path: Path):
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise FailedPrecondition(f"{path} is not valid JSON: {exc}") from None


def _read_tokenizer_json(model_dir: Path) -> dict:
    tokenizer = _read_json(model_dir / "tokenizer.json")
    if tokenizer is not None:
        return tokenizer
    if (model_dir / "tokenizer.model").is_file():
        raise FailedPrecondition(
            f"{model_dir} has only a SentencePiece tokenizer.model; llmesh needs tokenizer.json")
    raise FailedPrecondition(f"no tokenizer.json in {model_dir}")


def _tokens_by_id(vocab: dict, added: list) -> dict[int, str]:
    by_id = {int(i): t for t, i in vocab.items()}
    by_id.update({int(a["id"]): a["content"] for a in added})
    return by_id


def _vocab_size(config: dict, by_id: dict, model_dir: Path) -> int:
    have = max(by_id) + 1 if by_id else 0
    size = int(config.get("vocab_size") or have)
    if have > size:
        raise FailedPrecondition(
            f"the tokenizer in {model_dir} has {have} tokens but config.json says vocab_size "
            f"{size}")
    return size


def _token_list(by_id: dict, added: list, size: int, byte_fallback: bool):
    special = {int(a["id"]) for a in added if a.get("special")}
    user = {int(a["id"]) for a in added if not a.get("special")}
    tokens, types = [], []
    for i in range(size):
        token = by_id.get(i)
        if token is None:  # the embedding has rows no token uses: llama.cpp needs a name
            tokens.append(f"[PAD{i}]")
            types.append(UNUSED)
            continue
        tokens.append(token)
        if i in special:
            types.append(CONTROL)
        elif i in user:
            types.append(USER_DEFINED)
        elif byte_fallback and len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
            types.append(BYTE)
        else:
            types.append(NORMAL)
    return tokens, types


def _pre_tokenizer(arch: str, to_id: dict, byte_fallback: bool, pre: dict) -> str:
    # llama.cpp names the regex split rules; convert_hf_to_gguf tells them apart by hashing a
    # sample tokenization, which needs `tokenizers`. The families llmesh converts are these.
    if byte_fallback:
        return "default"
    if arch == "qwen2":
        return "qwen2"
    if "<|begin_of_text|>" in to_id:
        return "llama-bpe"
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True):
        return "gpt-2"  # a bare byte-level pre-tokenizer splits with GPT-2's own regex
    return "default"


def _merge_string(merge) -> str:
    return " ".join(merge) if isinstance(merge, (list, tuple)) else str(merge)


def _token_text(value):
    if isinstance(value, dict):
        return value.get("content")
    return value


def _special_ids(tok_config: dict, config: dict, model_dir: Path, to_id: dict) -> dict[str, int]:
    ids = {}
    for role in ("bos", "eos", "unk", "pad"):
        text = _token_text(tok_config.get(f"{role}_token"))
        if text is not None and text in to_id:
            ids[role] = to_id[text]
    generation = _read_json(model_dir / "generation_config.json") or {}
    for role in ("bos", "eos", "pad"):
        if role not in ids:
            value = config.get(f"{role}_token_id", generation.get(f"{role}_token_id"))
            if isinstance(value, list):
                value = value[0] if value else None
            if isinstance(value, int) and 0 <= value < len(to_id):
                ids[role] = value
    return ids


def _chat_template(model_dir: Path, tok_config: dict) -> str | None:
    jinja = model_dir / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    template = tok_config.get("chat_template")
    if template is None:
        template = (_read_json(model_dir / "chat_template.json") or {}).get("chat_template")
    if isinstance(template, list):  # named templates: llama.cpp takes the default one
        named = {t.get("name"): t.get("template") for t in template}
        template = named.get("default") or next(iter(named.values()), None)
    return template
