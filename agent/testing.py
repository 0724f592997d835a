"""Fault hooks for the test harness; production agents never have any.

tests/harness.py starts agents with these variables set. meshctl's `agent run` reads them once,
at start-up, with ``peer_faults_from_env`` and ``receive_faults_from_env`` and passes the results
to the agent; without them they are None, and the agent behaves as in production.

    LLMESH_TEST_CORRUPT=sha256:<hex>@<piece offset>*<times>   corrupt that piece on the way out
                                                             (@any: every piece, e.g. a bad swarm member)
    LLMESH_TEST_THROTTLE_BPS=<bytes per second>              slow every stream down
    LLMESH_TEST_REFUSE=sha256:<hex>*<times>                  as a source, deny holding that blob
    LLMESH_TEST_REFUSE_AFTER_S=<seconds>                     ... and take that long to say no
    LLMESH_TEST_NO_BLOB_SOCKET=1                             as a source, offer no blob socket (as an
                                                             older agent): bodies go over gRPC ReadBlob
    LLMESH_TEST_OPEN_DELAY_S=<seconds>                       as a destination, open partials slowly
                                                             (a disk that preallocates block by block)
    LLMESH_TEST_TICKET_LOG=<file>                            append every transfer ticket this agent
                                                             receives (a JSON line each), so a test
                                                             can replay one as this agent later
    LLMESH_TEST_PROTOCOL=<major>.<minor>                     announce this wire protocol instead of
                                                             ours: an agent in its hello, meshctl on
                                                             every call (version skew without two
                                                             releases installed)
    LLMESH_TEST_NO_BLAKE3=1                                  hash and verify pieces with sha256 only, as
                                                             an agent without the blake3 package
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Mapping

from llmesh.common.errors import NotFound
from llmesh.common.protocol import PROTOCOL_TEXT, parse_protocol
from llmesh.common.units import short_digest

CORRUPT_VARIABLE = "LLMESH_TEST_CORRUPT"
THROTTLE_VARIABLE = "LLMESH_TEST_THROTTLE_BPS"
ANY_OFFSET = -2  # LLMESH_TEST_CORRUPT=…@any
REFUSE_VARIABLE = "LLMESH_TEST_REFUSE"
REFUSE_AFTER_VARIABLE = "LLMESH_TEST_REFUSE_AFTER_S"
OPEN_DELAY_VARIABLE = "LLMESH_TEST_OPEN_DELAY_S"
TICKET_LOG_VARIABLE = "LLMESH_TEST_TICKET_LOG"
PROTOCOL_VARIABLE = "LLMESH_TEST_PROTOCOL"
NO_BLOB_SOCKET_VARIABLE = "LLMESH_TEST_NO_BLOB_SOCKET"
NO_BLAKE3_VARIABLE = "LLMESH_TEST_NO_BLAKE3"


class PeerFaults:
    """Faults on the source side of a transfer: corrupt the bytes of one piece a number of
    times, or slow every stream down."""

    def __init__(self, corrupt_digest: str = "", corrupt_offset: int = -1, corrupt_times: int = 0,
                 throttle_bytes_per_s: float = 0.0, refuse_digest: str = "", refuse_times: int = 0,
                 refusal_delay_s: float = 0.0, no_blob_socket: bool = False):
        self.corrupt_digest = corrupt_digest
        self.corrupt_offset = corrupt_offset  # the start of the piece to corrupt
        self.corruptions_left = corrupt_times
        self.throttle_bytes_per_s = throttle_bytes_per_s
        self.refuse_digest = refuse_digest
        self.refusals_left = refuse_times
        self.refusal_delay_s = refusal_delay_s  # before a piece index request is refused
        self.no_blob_socket = no_blob_socket

    def open_held(self, open_held: Callable[[str], tuple[str, int]]) -> Callable[[str], tuple[str, int]]:
        """The Peer service's digest -> (path, fd) opener, denying the refused digest while refusals last."""
        def refusing(digest: str) -> tuple[str, int]:
            if self.refusals_left > 0 and digest == self.refuse_digest:
                self.refusals_left -= 1
                raise NotFound(f"this host holds no file with digest {short_digest(digest)}…")
            return open_held(digest)
        return refusing

    def corrupt(self, digest: str, request_offset: int, offset: int, data: bytes) -> bytes:
        """``data`` as sent at ``offset`` of a read that began at ``request_offset``."""
        if (self.corruptions_left > 0 and digest == self.corrupt_digest
                and offset == request_offset and self.corrupt_offset in (offset, ANY_OFFSET)):
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
        if self.refusals_left:
            parts.append(f"refuse {short_digest(self.refuse_digest)} x{self.refusals_left} "
                         f"after {self.refusal_delay_s:g} s")
        if self.no_blob_socket:
            parts.append("no blob socket")
        return ", ".join(parts)


class ReceiveFaults:
    """Faults on the destination side of a transfer: opening a partial blob is slow."""

    def __init__(self, open_delay_s: float = 0.0):
        self.open_delay_s = open_delay_s

    def before_open(self) -> None:
        """Called on a worker thread just before a partial blob is opened."""
        time.sleep(self.open_delay_s)

    def describe(self) -> str:
        return f"open partials after {self.open_delay_s:g} s"


def no_blake3_from_env(env: Mapping[str, str]) -> bool:
    return env.get(NO_BLAKE3_VARIABLE, "") == "1"


def receive_faults_from_env(env: Mapping[str, str]) -> ReceiveFaults | None:
    delay = float(env.get(OPEN_DELAY_VARIABLE) or 0)
    return ReceiveFaults(delay) if delay else None


def peer_faults_from_env(env: Mapping[str, str]) -> PeerFaults | None:
    """The faults the harness asked for in ``env``; None when it asked for none."""
    corrupt = env.get(CORRUPT_VARIABLE, "")
    throttle = float(env.get(THROTTLE_VARIABLE) or 0)
    refuse = env.get(REFUSE_VARIABLE, "")
    no_blob_socket = env.get(NO_BLOB_SOCKET_VARIABLE, "") == "1"
    if not corrupt and not throttle and not refuse and not no_blob_socket:
        return None
    digest, offset, times = "", -1, 0
    if corrupt:
        digest, _, rest = corrupt.partition("@")
        offset_text, _, times_text = rest.partition("*")
        offset, times = ANY_OFFSET if offset_text == "any" else int(offset_text), int(times_text or 1)
    refuse_digest, _, refuse_times = refuse.partition("*")
    return PeerFaults(digest, offset, times, throttle, refuse_digest, int(refuse_times or 1) if refuse else 0,
                      float(env.get(REFUSE_AFTER_VARIABLE) or 0), no_blob_socket)


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


def protocol_from_env(env: Mapping[str, str]) -> str:
    """The wire protocol to announce: the harness's claim, or ours."""
    claimed = env.get(PROTOCOL_VARIABLE, "")
    if not claimed:
        return PROTOCOL_TEXT
    parse_protocol(claimed)  # a malformed claim is the harness's mistake: say so at start
    return claimed
