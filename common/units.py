"""How sizes and digests are shown to people: one formatter for each, shared by the agent's
errors and meshctl's tables."""
from __future__ import annotations

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
