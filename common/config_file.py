"""TOML config files for the long-running commands (`agent run`, `coordinator serve`, `up`).

A file's keys are the command's long option names, dashes or underscores alike
(``rescan_interval`` or ``rescan-interval`` for ``--rescan-interval``); a repeatable option
takes an array (a single value counts as an array of one). Anything else — a key the command
does not have, a value of the wrong type — is refused with one line naming the key and the file.
The CLI turns the checked values into click's default_map, so a flag given on the command
line (or through its environment variable) still wins over the file.
"""
from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from llmesh.common.errors import InvalidArgument

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

KINDS = ("str", "int", "float", "bool", "path")


@dataclass(frozen=True)
class ConfigKey:
    """What one key of a config file may hold."""
    dest: str                      # the parameter it sets
    kind: str = "str"              # one of KINDS; a path is a string resolved against the file's folder
    multiple: bool = False
    choices: tuple[str, ...] = ()


def key_name(option: str) -> str:
    """``--rescan-interval`` -> ``rescan_interval``: the spelling install writes."""
    return option.lstrip("-").replace("-", "_")


def read_config(path: str | Path) -> dict[str, Any]:
    """The TOML file as a dict, or one line saying why it cannot be read."""
    path = Path(path).expanduser()
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise InvalidArgument(f"cannot read config {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgument(f"config {path} is not valid TOML: {exc}") from None


def check_config(data: Mapping[str, Any], keys: Mapping[str, ConfigKey], path: str | Path) -> dict[str, Any]:
    """Map a file's keys onto parameter names, refusing unknown keys and wrong types."""
    path = Path(path).expanduser()
    out: dict[str, Any] = {}
    for raw_key, value in data.items():
        name = key_name(raw_key)
        key = keys.get(name)
        if key is None:
            raise InvalidArgument(f"config {path}: unknown key {raw_key!r} (known: {', '.join(sorted(keys))})")
        if key.dest in out:
            raise InvalidArgument(f"config {path}: key {raw_key!r} is given twice")
        if key.multiple:
            values = value if isinstance(value, list) else [value]
            out[key.dest] = tuple(_check_value(raw_key, v, key, path) for v in values)
        else:
            out[key.dest] = _check_value(raw_key, value, key, path)
    return out


_KIND_WORDS = {"str": "a string", "path": "a path (string)", "int": "an integer", "float": "a number",
               "bool": "true or false"}


def _check_value(name: str, value: Any, key: ConfigKey, path: Path) -> Any:
    kind = key.kind
    ok = (isinstance(value, str) if kind in ("str", "path")
          else isinstance(value, bool) if kind == "bool"
          else isinstance(value, int) and not isinstance(value, bool) if kind == "int"
          else isinstance(value, (int, float)) and not isinstance(value, bool))
    if not ok:
        expected = _KIND_WORDS[kind] + (" or an array of them" if key.multiple else "")
        raise InvalidArgument(f"config {path}: {name!r} must be {expected}, not {_type_word(value)}")
    if key.choices and value not in key.choices:
        raise InvalidArgument(f"config {path}: {name!r} must be one of {', '.join(key.choices)}, not {value!r}")
    if kind == "path":  # relative to the file, so a config means the same from any folder
        resolved = Path(value).expanduser()
        return str(resolved if resolved.is_absolute() else path.parent.resolve() / resolved)
    return value


def _type_word(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)


def dump_toml(data: Mapping[str, Any], header: str = "") -> str:
    """A flat TOML document (strings, numbers, booleans, arrays of those): what install writes."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    for key, value in data.items():
        lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")) if not math.isfinite(value) \
            else repr(value)
    if isinstance(value, str):  # a JSON string is a TOML basic string (same escapes)
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")
