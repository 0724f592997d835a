"""Fault hooks for the test harness; production agents never have any.

tests/harness.py starts agents with LLMESH_TEST_CORRUPT and LLMESH_TEST_THROTTLE_BPS set.
meshctl's `agent run` reads them once, at start-up, with ``peer_faults_from_env`` and passes the
result to the agent; without them it is None, and the Peer service serves bytes untouched.

    LLMESH_TEST_CORRUPT=sha256:<hex>@<piece offset>*<times>   corrupt that piece on the way out
    LLMESH_TEST_THROTTLE_BPS=<bytes per second>              slow every stream down
    LLMESH_TEST_TICKET_LOG=<file>                            append every transfer ticket this agent
                                                             receives (a JSON line each), so a test
                                                             can replay one as this agent later
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

from llmesh.common.units import short_digest

CORRUPT_VARIABLE = "LLMESH_TEST_CORRUPT"
THROTTLE_VARIABLE = "LLMESH_TEST_THROTTLE_BPS"
TICKET_LOG_VARIABLE = "LLMESH_TEST_TICKET_LOG"


class PeerFaults:
    """Faults on the source side of a transfer: corrupt the bytes of one piece a number of
    times, or slow every stream down."""

    def __init__(self, corrupt_digest: str = "", corrupt_offset: int = -1, corrupt_times: int = 0,
                 throttle_bytes_per_s: float = 0.0):
        self.corrupt_digest = corrupt_digest
        self.corrupt_offset = corrupt_offset  # the start of the piece to corrupt
        self.corruptions_left = corrupt_times
        self.throttle_bytes_per_s = throttle_bytes_per_s

    def corrupt(self, digest: str, request_offset: int, offset: int, data: bytes) -> bytes:
        """``data`` as sent at ``offset`` of a read that began at ``request_offset``."""
        if (self.corruptions_left > 0 and digest == self.corrupt_digest
                and offset == request_offset == self.corrupt_offset):
            self.corruptions_left -= 1
            return bytes([data[0] ^ 0xFF]) + data[1:]
        return data

    def delay_s(self, nbytes: int) -> float:
        """How long to wait after sending ``nbytes``."""
        return nbytes / self.throttle_bytes_per_s if self.throttle_bytes_per_s else 0.0

    def describe(self) -> str:
        parts = []
        if self.corruptions_left:
            parts.append(f"corrupt {short_digest(self.corrupt_digest)}@{self.corrupt_offset} "
                         f"x{self.corruptions_left}")
        if self.throttle_bytes_per_s:
            parts.append(f"throttle {self.throttle_bytes_per_s:.0f} B/s")
        return ", ".join(parts)


def peer_faults_from_env(env: Mapping[str, str]) -> PeerFaults | None:
    """The faults the harness asked for in ``env``; None when it asked for none."""
    corrupt = env.get(CORRUPT_VARIABLE, "")
    throttle = float(env.get(THROTTLE_VARIABLE) or 0)
    if not corrupt and not throttle:
        return None
    digest, offset, times = "", -1, 0
    if corrupt:
        digest, _, rest = corrupt.partition("@")
        offset_text, _, times_text = rest.partition("*")
        offset, times = int(offset_text), int(times_text or 1)
    return PeerFaults(digest, offset, times, throttle)


class TicketLog:
    """Where the harness asked for the tickets this agent receives."""

    def __init__(self, path: Path):
        self.path = path

    def received(self, job_id: str, ticket: str) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"job": job_id, "ticket": ticket}) + "\n")


def ticket_log_from_env(env: Mapping[str, str]) -> TicketLog | None:
    path = env.get(TICKET_LOG_VARIABLE, "")
    return TicketLog(Path(path)) if path else None
