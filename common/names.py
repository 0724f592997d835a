"""Model names and references (NAME, NAME:VERSION, NAME@alias)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from llmesh.common.errors import InvalidArgument

# One optional namespace ("org/name", as on the Hugging Face Hub); no "..", no leading dot.
_PART = r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}"
NAME_RE = re.compile(rf"^{_PART}(/{_PART})?$")
HOST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_VERSION_RE = re.compile(r"^v?(\d{1,9})$")


def is_valid_name(name: str) -> bool:
    return bool(NAME_RE.match(name)) and ".." not in name


def check_name(name: str, what: str = "model name") -> str:
    if not is_valid_name(name):
        raise InvalidArgument(
            f"invalid {what} {name!r}: use letters, digits, '.', '_', '-', '+' "
            "and at most one '/' (no '..', no leading punctuation)")
    return name


def check_host_name(name: str) -> str:
    if not HOST_RE.match(name or ""):
        raise InvalidArgument(
            f"invalid host name {name!r}: use letters, digits, '.', '_' and '-' (at most 63)")
    return name


def sanitize_name(raw: str) -> str:
    """Turn a found directory or file name into a valid model name."""
    parts = [p for p in raw.replace("\\", "/").split("/") if p][-2:]
    cleaned = []
    for part in parts:
        part = re.sub(r"[^A-Za-z0-9._+-]+", "-", part).strip(".-_+")
        part = re.sub(r"\.{2,}", ".", part)
        if part:
            cleaned.append(part[:128])
    return "/".join(cleaned) or "model"


@dataclass(frozen=True)
class ModelRef:
    """A reference to a model or one of its versions.

    ``version`` is an integer version number, or None; ``alias`` names an alias
    (``NAME@prod``); with neither, the reference means the latest version.
    """

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        if self.alias:
            return f"{self.name}@{self.alias}"
        return self.name


def parse_ref(text: str) -> ModelRef:
    """Parse NAME, NAME:VERSION (``3`` or ``v3``), NAME:latest or NAME@ALIAS."""
    text = (text or "").strip()
    if not text:
        raise InvalidArgument("empty model reference")
    if "@" in text:
        name, alias = text.rsplit("@", 1)
        check_name(name)
        if not re.match(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$", alias):
            raise InvalidArgument(f"invalid alias {alias!r} in {text!r}")
        if alias == "latest":
            return ModelRef(name)
        return ModelRef(name, alias=alias)
    if ":" in text:
        name, version = text.rsplit(":", 1)
        check_name(name)
        if version == "latest":
            return ModelRef(name)
        match = _VERSION_RE.match(version)
        if not match:
            raise InvalidArgument(
                f"invalid version {version!r} in {text!r}: expected a number like 3 or v3")
        return ModelRef(name, int(match.group(1)))
    return ModelRef(check_name(text))


# GGUF types llmesh converts to: written directly (F32, F16, BF16, Q8_0) or through
# llama.cpp's quantizer. The coordinator checks requests against this list, the agent converts.
LLAMA_CPP_QUANTS = ("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L",
                    "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS")
GGUF_QUANTS = tuple(dict.fromkeys(("F32", "F16", "BF16") + LLAMA_CPP_QUANTS))


def check_quant(quant: str) -> str:
    name = str(quant).strip().upper()
    if name not in GGUF_QUANTS:
        raise InvalidArgument(f"unknown quantization {quant!r}: llmesh supports " + ", ".join(GGUF_QUANTS))
    return name
