"""Who is calling, and may they: one interceptor checks every RPC, unary and streaming alike.

People present an API token (``authorization: Bearer L10<ca-sha256>::<secret>``)
bound to a role; agents present their mesh certificate (mutual TLS on the link
port). The interceptor finds the caller, checks the method's least role (the table
in policy.py), records refusals in the audit log, and leaves the caller in a context
variable for the servicers (``caller(context)``) and for the audit rows the registry writes (see identity.py).
"""
from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable

from cryptography import x509

from llmesh.common import tls
from llmesh.common.errors import Internal, MeshError, PermissionDenied, Unauthenticated, grpc_status
from llmesh.common.protocol import METADATA_KEY, check_protocol
from llmesh.coordinator.identity import ROLES, SYSTEM, Caller, current_caller  # noqa: F401 (re-exported)
from llmesh.coordinator.interceptor import WrappingInterceptor
from llmesh.coordinator.policy import AGENT, LINK_METHOD, PUBLIC, policy_for

log = logging.getLogger("llmesh.coordinator.auth")

USER_TOKEN_PREFIX = "L10"
JOIN_TOKEN_PREFIX = "K10"


def caller(context=None) -> Caller:
    """The caller the interceptor established for this RPC."""
    found = current_caller.get()
    if found is None:
        raise Internal("no authenticated caller for this call")
    return found


@dataclass
class Authenticator:
    """What the interceptor needs from the coordinator."""

    user_for_token: Callable[[str], Awaitable[dict]]           # secret hash -> {name, role}
    revoked_serials: Callable[[], set[str]]                     # kept in memory, refreshed on change
    record_refusal: Callable[[Caller, str, str], Awaitable[None]]
    ca_pin: str


class AuthInterceptor(WrappingInterceptor):
    def __init__(self, auth: Authenticator):
        super().__init__()
        self.auth = auth

    def wrap_handler(self, handler, method: str):
        return _wrap(handler, lambda context: self._authorize(method, context))

    async def _authorize(self, method: str, context) -> None:
        address = context.peer() or ""
        policy = policy_for(method)
        try:
            if method != LINK_METHOD:  # an agent's protocol is in its Hello: checked by the link
                check_protocol(_metadata(context, METADATA_KEY), "client")
            if policy is None:
                raise PermissionDenied(f"{method} is not open to anyone")
            if policy == PUBLIC:
                found = Caller("anonymous", "", "anonymous", address)
            elif policy == AGENT:
                found = self._agent(context, address)
            else:
                found = await self._user(context, address, method, policy)
        except MeshError as exc:  # the audit row names whoever the checks got as far as
            who = getattr(exc, "caller", None) or Caller("unknown", "", "unknown", address)
            await self.auth.record_refusal(who, method, str(exc))
            await context.abort(grpc_status(exc), str(exc))
        current_caller.set(found)

    def _agent(self, context, address: str) -> Caller:
        cert = _peer_certificate(context)
        if cert is None:
            raise Unauthenticated("this call needs a mesh agent certificate (mutual TLS on the link port)")
        agent_id = tls.agent_id_of(cert)
        if agent_id is None:
            raise PermissionDenied("the client certificate is not an agent certificate")
        if format(cert.serial_number, "x") in self.auth.revoked_serials():
            error = PermissionDenied(f"agent {agent_id}'s certificate has been revoked")
            error.caller = Caller(f"agent:{agent_id}", AGENT, "agent", address)
            raise error
        return Caller(f"agent:{agent_id}", AGENT, "agent", address)

    async def _user(self, context, address: str, method: str, needed: str) -> Caller:
        token = _bearer(context)
        if token is None:
            if _peer_certificate(context) is not None:
                raise PermissionDenied("an agent certificate cannot call user RPCs")
            raise Unauthenticated("no API token: set LLMESH_TOKEN or run `meshctl login`")
        try:
            _, secret = tls.parse_token(token, USER_TOKEN_PREFIX)
        except MeshError:
            raise Unauthenticated("malformed API token") from None
        user = await self.auth.user_for_token(tls.secret_hash(secret))
        found = Caller(user["name"], user["role"], "user", address)
        if not found.has_role(needed):
            error = PermissionDenied(f"user {found.name!r} has role {found.role}; "
                                     f"{method.rsplit('/', 1)[-1]} needs {needed} or higher")
            error.caller = found
            raise error
        return found


def _metadata(context, key: str) -> str:
    for name, value in context.invocation_metadata() or ():
        if name == key:
            return value
    return ""


def _bearer(context) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and value.lower().startswith("bearer "):
            return value[7:].strip()
    return None


def _peer_certificate(context) -> x509.Certificate | None:
    pems = (context.auth_context() or {}).get("x509_pem_cert")
    if not pems:
        return None
    return x509.load_pem_x509_certificate(pems[0])


def _wrap(handler, authorize):
    """Run ``authorize(context)`` before the handler, keeping its streaming style."""
    def wrap_behavior(behavior):
        if behavior is None:
            return None
        if inspect.isasyncgenfunction(behavior):
            async def generator(request, context):
                await authorize(context)
                async for item in behavior(request, context):
                    yield item
            return generator

        async def coroutine(request, context):
            await authorize(context)
            return await behavior(request, context)
        return coroutine

    return handler._replace(
        unary_unary=wrap_behavior(handler.unary_unary), unary_stream=wrap_behavior(handler.unary_stream),
        stream_unary=wrap_behavior(handler.stream_unary), stream_stream=wrap_behavior(handler.stream_stream))
