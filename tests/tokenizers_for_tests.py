"""A byte-level BPE tokenizer that llama.cpp's own BPE loader accepts, for tests that run models.

`factories.write_tokenizer` writes a tokenizer with no merges; llama.cpp refuses a "gpt2" vocab
without `tokenizer.ggml.merges`, and a model whose tokenizer has more tokens than the model's
`vocab_size` cannot be converted. This writer adds a handful of real merges (so BPE actually runs)
and returns the vocabulary size, so a test makes the model with a matching `vocab`.
"""
from __future__ import annotations

import json
from pathlib import Path

from factories import CHAT_TEMPLATE, _bytes_to_unicode

SPECIALS = ["<unk>", "<s>", "</s>"]
# Pairs in the byte-level alphabet ("Ġ" is the space byte); each merge adds one token.
MERGES = [("t", "h"), ("h", "e"), ("i", "n"), ("e", "r"), ("a", "n"), ("o", "n"),
          ("Ġ", "t"), ("Ġ", "a"), ("th", "e"), ("Ġt", "he"), ("e", "n"), ("r", "e")]


def llama_cpp_vocab_size() -> int:
    return len(SPECIALS) + 256 + len(MERGES)


def write_bpe_tokenizer(out) -> int:
    """Write tokenizer.json + tokenizer_config.json (with CHAT_TEMPLATE) into `out`.

    Returns the vocabulary size; pass it as `vocab=` to `factories.make_hf_model`.
    """
    out = Path(out)
    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for ch in _bytes_to_unicode().values():
        vocab[ch] = len(vocab)
    for left, right in MERGES:
        vocab[left + right] = len(vocab)
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for i, t in enumerate(SPECIALS)],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                  "merges": [f"{a} {b}" for a, b in MERGES]},
    }
    (out / "tokenizer.json").write_text(json.dumps(tokenizer, indent=2) + "\n", encoding="utf-8")
    (out / "tokenizer_config.json").write_text(json.dumps({
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": True,
        "model_max_length": 2048, "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": CHAT_TEMPLATE}, indent=2) + "\n", encoding="utf-8")
    return len(vocab)


def make_runnable_llama(dir, *, arch="llama", layers=2, hidden=64, seed=0, shards=1) -> Path:
    """A tiny random-weight HF model (factories.make_hf_model) whose tokenizer llama.cpp loads."""
    from factories import make_hf_model

    out = make_hf_model(dir, arch=arch, layers=layers, hidden=hidden,
                        vocab=llama_cpp_vocab_size(), seed=seed, shards=shards)
    write_bpe_tokenizer(out)
    return out
