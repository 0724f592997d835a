"""The wire protocol version agents and clients announce, and the coordinator's check of it.

Agents put theirs in their Hello; meshctl and the SDK send theirs as gRPC metadata on every
call (channels.py adds it). Saying nothing means 1.0: what every llmesh before this spoke.
"""
from __future__ import annotations

from llmesh import PROTOCOL
from llmesh.common.errors import FailedPrecondition, InvalidArgument

METADATA_KEY = "llmesh-protocol"
UNANNOUNCED = (1, 0)


def protocol_text(protocol: tuple[int, int] = PROTOCOL) -> str:
    return f"{protocol[0]}.{protocol[1]}"


PROTOCOL_TEXT = protocol_text()


def parse_protocol(text: str) -> tuple[int, int]:
    """'MAJOR.MINOR' (an empty string is 1.0); anything else is an error naming it."""
    if not text:
        return UNANNOUNCED
    major, sep, minor = text.strip().partition(".")
    if not sep or not major.isdigit() or not minor.isdigit():
        raise InvalidArgument(f"invalid llmesh protocol version {text!r}: expected MAJOR.MINOR")
    return int(major), int(minor)


def check_protocol(announced: str, who: str) -> tuple[int, int]:
    """Refuse, in one line naming both versions, a ``who`` (agent, client) of another major;
    a newer minor is served. Returns the parsed version."""
    try:
        theirs = parse_protocol(announced)
    except InvalidArgument as exc:
        raise FailedPrecondition(f"{who} sent {exc}") from None
    if theirs[0] != PROTOCOL[0]:
        upgrade = "the coordinator" if theirs[0] > PROTOCOL[0] else f"the {who}"
        raise FailedPrecondition(
            f"{who} speaks llmesh protocol {protocol_text(theirs)}; this coordinator speaks "
            f"{PROTOCOL_TEXT} (upgrade {upgrade})")
    return theirs
