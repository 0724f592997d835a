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


def short_digest(digest: str) -> str:
    """'sha256:' and the first 12 hex digits: enough to tell blobs apart in a message."""
    return digest[:len(PREFIX) + SHORT_DIGEST_HEX]
