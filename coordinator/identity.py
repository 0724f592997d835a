"""Who is calling: the caller of the RPC being served.

The auth interceptor (auth.py) establishes it for every call; servicers read it, and so
does the registry for the audit rows it writes. It lives apart from the interceptor so
that the registry can know the caller without importing gRPC or the auth policy.
"""
from __future__ import annotations

import contextvars
from dataclasses import dataclass

ROLES = ("viewer", "developer", "operator", "admin")


@dataclass(frozen=True)
class Caller:
    name: str    # user name, or agent:<id>
    role: str    # one of ROLES, or "agent", or "" for the anonymous bootstrap caller
    kind: str    # "user" | "agent" | "anonymous"
    address: str = ""

    def has_role(self, needed: str) -> bool:
        return self.kind == "user" and ROLES.index(self.role) >= ROLES.index(needed)


current_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("llmesh_caller", default=None)
SYSTEM = Caller("system", "", "system")  # work the coordinator does on its own (no RPC being served)
