"""How sizes and digests are shown to people: one formatter for each, shared by the agent's
errors and meshctl's tables."""
from __future__ import annotations

import re

from llmesh.common.errors import InvalidArgument
from llmesh.common.hashing import PREFIX

SHORT_DIGEST_HEX = 12


def human_size(n: float) -> str:
    """Bytes in binary units: '0 B', '1023 B', '1.0 KiB', '5.0 GiB'."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"


def human_duration(seconds: float) -> str:
    """A span in the two largest units: '42s', '5m 03s', '3h 05m', '2d 04h'."""
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def short_digest(digest: str) -> str:
    """'sha256:' and the first 12 hex digits: enough to tell blobs apart in a message."""
    return digest[:len(PREFIX) + SHORT_DIGEST_HEX]


# Decimal units are powers of 1000 (50MB/s = 50,000,000 bytes/s), binary ones of 1024.
_RATE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000 ** 2, "mb": 1000 ** 2,
               "mib": 1024 ** 2, "g": 1000 ** 3, "gb": 1000 ** 3, "gib": 1024 ** 3, "t": 1000 ** 4,
               "tb": 1000 ** 4, "tib": 1024 ** 4}


def parse_rate(text: str, what: str = "rate") -> int:
    """Bytes per second from '50MB/s', '1GiB/s', '800k', '12345' (bytes/s); '0' or '' is no limit.
    InvalidArgument naming ``what`` if it is not one."""
    raw = str(text).strip()
    value = raw.lower().replace(" ", "")
    if value.endswith("/s"):
        value = value[:-2]
    digits = len(value) - len(value.lstrip("0123456789."))
    number, unit = value[:digits], value[digits:]
    try:
        amount = float(number) if number else (0.0 if not raw else None)
    except ValueError:
        amount = None
    if amount is None or unit not in _RATE_UNITS or amount < 0:
        raise InvalidArgument(f"{what} {raw!r}: expected a rate such as 50MB/s, 1GiB/s or 0 for no limit")
    return int(amount * _RATE_UNITS[unit])


def parse_size(text: str, what: str = "size") -> int:
    """Bytes from '16GB', '512MiB', '1.5g', '12345' (bytes); InvalidArgument naming ``what``."""
    raw = str(text).strip()
    value = raw.lower().replace(" ", "")
    digits = len(value) - len(value.lstrip("0123456789."))
    number, unit = value[:digits], value[digits:]
    try:
        amount = float(number) if number else None
    except ValueError:
        amount = None
    if amount is None or unit not in _RATE_UNITS or amount <= 0:
        raise InvalidArgument(f"{what} {raw!r}: expected a size such as 16GB, 512MiB or a number of bytes")
    return int(amount * _RATE_UNITS[unit])


def human_rate(bytes_per_s: float) -> str:
    """A rate in decimal units, as people write link speeds: '50.0 MB/s', '1.2 GB/s'."""
    value = float(bytes_per_s)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            break
        value /= 1000
    return f"{value:.0f} {unit}/s" if unit == "B" else f"{value:.1f} {unit}/s"


_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(min|d|h|m|s)?", re.IGNORECASE)
_DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "min": 60, "s": 1}


def parse_duration(text: str) -> float:
    """Seconds from '4500', '90s', '75m', '1.5h', '7d' or '4h 32m' (`meshctl audit --since`, token
    lifetimes, a training run's duration, the dashboard's audit filter)."""
    total, position = 0.0, 0
    text = text.strip()
    for match in _DURATION_RE.finditer(text):
        if text[position:match.start()].strip():
            break
        total += float(match.group(1)) * _DURATION_UNITS[(match.group(2) or "s").lower()]
        position = match.end()
    if position == 0 or text[position:].strip():
        raise InvalidArgument(f"invalid duration {text!r}: expected seconds, or like 90s, 15m, 1h, 7d, '4h 32m'")
    return total
