"""A byte-level BPE tokenizer that llama.cpp's own BPE loader accepts, for tests that run models.

`factories.write_tokenizer` writes a tokenizer with no merges; llama.cpp refuses a "gpt2" vocab
without `tokenizer.ggml.merges`, and a model whose tokenizer has more tokens than the model's
`vocab_size` cannot be converted. This writer adds a handful of real merges (so BPE actually runs)
and returns the vocabulary size, so a test makes the model with a matching `vocab`.
"""
from __future__ import annotations

from pathlib import Path

from factories import write_tokenizer

SPECIALS = ["<unk>", "<s>", "</s>"]
# Pairs in the byte-level alphabet ("Ġ" is the space byte); each merge adds one token.
MERGES = [("t", "h"), ("h", "e"), ("i", "n"), ("e", "r"), ("a", "n"), ("o", "n"),
          ("Ġ", "t"), ("Ġ", "a"), ("th", "e"), ("Ġt", "he"), ("e", "n"), ("r", "e")]


def llama_cpp_vocab_size() -> int:
    return len(SPECIALS) + 256 + len(MERGES)


def write_bpe_tokenizer(out) -> int:
    """Write tokenizer.json (with MERGES) + tokenizer_config.json (with CHAT_TEMPLATE) into `out`.

    Returns the vocabulary size; pass it as `vocab=` to `factories.make_hf_model`.
    """
    return write_tokenizer(Path(out), MERGES, add_bos_token=True)


def make_runnable_llama(dir, *, arch="llama", layers=2, hidden=64, seed=0, shards=1) -> Path:
    """A tiny random-weight HF model (factories.make_hf_model) whose tokenizer llama.cpp loads."""
    from factories import make_hf_model

    out = make_hf_model(dir, arch=arch, layers=layers, hidden=hidden,
                        vocab=llama_cpp_vocab_size(), seed=seed, shards=shards)
    write_bpe_tokenizer(out)
    return out
