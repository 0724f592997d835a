"""Transfer tickets: what lets one agent read blobs from another.

The coordinator signs a ticket with the mesh CA key for one job: the destination
agent, the digests it may read, an expiry. A source agent verifies it with the CA
certificate it already holds, and serves only those digests, only to that agent
(checked against the mutual-TLS certificate of the caller). Requests name digests,
never paths.

Tickets are short-lived (TICKET_TTL_S): a ticket that leaks, or that a host held when it was
removed, soon reads nothing. A destination asks the coordinator for a fresh one for a long
pull once two thirds of its ticket's life have passed (``renew_at``).
"""
from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from llmesh.common.errors import PermissionDenied
from llmesh.common.hashing import is_digest
from llmesh.common.units import short_digest

VERSION = 1
TICKET_TTL_S = 10 * 60.0  # the one place tickets' lifetime is set (the coordinator's --ticket-ttl overrides it)
RENEW_WHEN_LEFT = 1 / 3   # renew once two thirds of a ticket's life have passed


@dataclass(frozen=True)
class Ticket:
    job: str
    destination: str          # agent id allowed to read
    digests: frozenset[str]
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_ticket(ca_key, job: str, destination: str, digests, ttl_s: float = TICKET_TTL_S,
                 now: float | None = None, piece_indexes: dict[str, str] | None = None,
                 piece_size: int = 0) -> str:
    """``piece_indexes``: digest -> the id of its piece index at ``piece_size`` on record (the
    destination verifies each piece against it and needs no whole-file pass)."""
    digests = sorted(set(digests))
    if not all(is_digest(d) for d in digests):
        raise ValueError("a ticket names sha256 digests only")
    body = {"v": VERSION, "job": job, "dst": destination, "digests": digests,
            "exp": round((now or time.time()) + ttl_s, 3)}
    if piece_indexes:
        body["pieces"] = {"size": piece_size, "ids": dict(sorted(piece_indexes.items()))}
    payload = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    signature = ca_key.sign(payload, ec.ECDSA(hashes.SHA256()))
    return f"{_b64(payload)}.{_b64(signature)}"


def renew_at(token: str, received_at: float) -> float:
    """When the holder of ``token`` (received at ``received_at``) should ask for a fresh one.
    The expiry is read unverified: the holder trusts the coordinator that sent it."""
    try:
        expires_at = float(json.loads(_unb64(token.split(".")[0]))["exp"])
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return received_at  # unreadable: ask for a proper one now
    return received_at + max(0.0, expires_at - received_at) * (1 - RENEW_WHEN_LEFT)


def piece_index_ids(token: str) -> tuple[int, dict[str, str]]:
    """(piece size, digest -> piece index id) a ticket names, read unverified: its holder, the
    destination, trusts the coordinator that sent it. (0, {}) when it names none."""
    try:
        pieces = json.loads(_unb64(token.split(".")[0])).get("pieces") or {}
        return int(pieces.get("size", 0)), {str(k): str(v) for k, v in (pieces.get("ids") or {}).items()}
    except (ValueError, TypeError, AttributeError, IndexError):
        return 0, {}


def verify_ticket(token: str, ca_public_key, *, caller_agent_id: str, digest: str,
                  now: float | None = None) -> Ticket:
    """Refuse (PermissionDenied, one line) anything but an untampered, unexpired ticket
    issued to this caller for this digest."""
    try:
        payload_b64, signature_b64 = token.split(".")
        payload, signature = _unb64(payload_b64), _unb64(signature_b64)
    except (ValueError, AttributeError):
        raise PermissionDenied("malformed transfer ticket") from None
    try:
        ca_public_key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise PermissionDenied("transfer ticket signature does not verify (tampered, or another mesh's)") from None
    data = json.loads(payload)
    ticket = Ticket(data["job"], data["dst"], frozenset(data["digests"]), float(data["exp"]))
    if data.get("v") != VERSION:
        raise PermissionDenied(f"unsupported transfer ticket version {data.get('v')!r}")
    if ticket.expires_at <= (now or time.time()):
        raise PermissionDenied(f"transfer ticket for job {ticket.job} has expired")
    if ticket.destination != caller_agent_id:
        raise PermissionDenied(f"transfer ticket for job {ticket.job} was issued to another host")
    if digest not in ticket.digests:
        raise PermissionDenied(f"transfer ticket for job {ticket.job} does not allow {short_digest(digest)}…")
    return ticket
