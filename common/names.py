"""Model names and references (NAME, NAME:VERSION, NAME@alias)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PureWindowsPath

from llmesh.common.errors import InvalidArgument

# Every pattern here is matched whole (fullmatch): with ``$`` a trailing newline would pass.
MAX_NAME_LENGTH = 128  # the whole name, namespace included; names travel in messages and events
# One optional namespace ("org/name", as on the Hugging Face Hub); no "..", no leading dot.
_PART = r"[A-Za-z0-9][A-Za-z0-9._+-]*"
NAME_RE = re.compile(rf"{_PART}(/{_PART})?")
HOST_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
ALIAS_RE = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,63}")
# Keys of tags, roles, capabilities, backends, metrics and parameters.
KEY_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")
# A version label kept beside the number (an afs "v2b", a semver "1.2.0" or "v1.2.0").
LABEL_RE = re.compile(r"v?\d[0-9A-Za-z._+-]{0,63}")
_VERSION_RE = re.compile(r"v?(\d{1,9})")


def shown(text, limit: int = 48) -> str:
    """A value as messages quote it: repr, cut short (a 100,000-character name must not be
    echoed back whole: error messages travel as gRPC metadata, which has a size limit)."""
    text = text if isinstance(text, str) else str(text)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text)} characters)"


def is_valid_name(name: str) -> bool:
    return (isinstance(name, str) and len(name) <= MAX_NAME_LENGTH and NAME_RE.fullmatch(name) is not None
            and ".." not in name)


def check_name(name: str, what: str = "model name") -> str:
    if not is_valid_name(name):
        raise InvalidArgument(
            f"invalid {what} {shown(name)}: use at most {MAX_NAME_LENGTH} letters, digits, '.', '_', '-', '+' "
            "and at most one '/' (no '..', no leading punctuation)")
    return name


def check_host_name(name: str) -> str:
    if not isinstance(name, str) or not HOST_RE.fullmatch(name):
        raise InvalidArgument(
            f"invalid host name {shown(name)}: use letters, digits, '.', '_' and '-' (at most 63)")
    return name


def check_key(key: str, what: str) -> str:
    """A tag, role, capability, backend, metric or parameter name."""
    if not isinstance(key, str) or not KEY_RE.fullmatch(key):
        raise InvalidArgument(f"invalid {what} {shown(key)}: use letters, digits, '_', '.', '-' (at most 128)")
    return key


def is_valid_alias(alias: str) -> bool:
    return isinstance(alias, str) and ALIAS_RE.fullmatch(alias) is not None


def is_version_label(text: str) -> bool:
    """A label such as v2b or 1.2.0 (not a plain number: that is the version number)."""
    return (isinstance(text, str) and LABEL_RE.fullmatch(text) is not None
            and _VERSION_RE.fullmatch(text) is None)


def sanitize_name(raw: str) -> str:
    """Turn a found directory or file name into a valid model name. An absolute path (POSIX,
    ``D:\\…``, ``\\\\server\\share\\…``) gives its last part only: the folders above a
    model are where it lies, not a namespace, and a name never carries a path."""
    text = raw.replace("\\", "/")
    windows = PureWindowsPath(raw)
    absolute = text.startswith("/") or bool(windows.drive and windows.root)
    if absolute:
        text = text[len(windows.drive):]
    parts = [p for p in text.split("/") if p][-1 if absolute else -2:]
    cleaned = []
    for part in parts:
        part = re.sub(r"[^A-Za-z0-9._+-]+", "-", part).strip(".-_+")
        part = re.sub(r"\.{2,}", ".", part)
        if part:
            cleaned.append(part[:MAX_NAME_LENGTH].rstrip(".-_+") or part[0])
    name = "/".join(cleaned)
    if len(name) > MAX_NAME_LENGTH:  # the namespace goes first, then the name is cut
        name = cleaned[-1]
    return name or "model"


@dataclass(frozen=True)
class ModelRef:
    """A reference to a model or one of its versions.

    ``version`` is an integer version number, or None; ``alias`` names an alias
    (``NAME@prod``); ``label`` a version label (``NAME:v2b``, ``NAME:1.2.0``); with none
    of them, the reference means the latest version.
    """

    name: str
    version: int | None = None
    alias: str | None = None
    label: str | None = None

    @property
    def names_a_version(self) -> bool:
        """False for a bare NAME (the latest version, or the whole model)."""
        return self.version is not None or bool(self.alias) or bool(self.label)

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        if self.alias:
            return f"{self.name}@{self.alias}"
        if self.label:
            return f"{self.name}:{self.label}"
        return self.name


def parse_ref(text: str) -> ModelRef:
    """Parse NAME, NAME:VERSION (``3`` or ``v3``), NAME:LABEL (``v2b``, ``1.2.0``),
    NAME:latest or NAME@ALIAS."""
    if not isinstance(text, str):
        raise InvalidArgument(f"invalid model reference {shown(text)}")
    text = text.strip()
    if not text:
        raise InvalidArgument("empty model reference")
    if "@" in text:
        name, alias = text.rsplit("@", 1)
        check_name(name)
        if not is_valid_alias(alias):
            raise InvalidArgument(f"invalid alias {shown(alias)} in {shown(text)}")
        if alias == "latest":
            return ModelRef(name)
        return ModelRef(name, alias=alias)
    if ":" in text:
        name, version = text.rsplit(":", 1)
        check_name(name)
        if version == "latest":
            return ModelRef(name)
        match = _VERSION_RE.fullmatch(version)
        if match:
            return ModelRef(name, int(match.group(1)))
        if is_version_label(version):
            return ModelRef(name, label=version)
        raise InvalidArgument(
            f"invalid version {shown(version)} in {shown(text)}: expected a number like 3 or v3, "
            "or a label like v2b or 1.2.0")
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
