"""Who is calling: the caller of an RPC, as the auth interceptor established it.

Servicers ask ``caller(context)`` for the actor to record in the audit log and, where
an operation needs more than the RPC's own minimum role (protected aliases), for
the role. Until mutual TLS and tokens land, every caller is the local admin.
"""
from __future__ import annotations

from dataclasses import dataclass

ROLES = ("viewer", "developer", "operator", "admin")


@dataclass(frozen=True)
class Caller:
    name: str    # user name, or agent:<id>
    role: str    # one of ROLES, or "agent"
    kind: str    # "user" | "agent"
    address: str = ""

    def has_role(self, needed: str) -> bool:
        return self.kind == "user" and ROLES.index(self.role) >= ROLES.index(needed)


def caller(context) -> Caller:
    return Caller(name="local", role="admin", kind="user", address=context.peer() or "")
