"""Joining, certificates, users, tokens, host removal and the audit log."""
from __future__ import annotations

import asyncio
import logging
import secrets
import time

from llmesh.common import tls
from llmesh.common.errors import InvalidArgument, MeshError, PermissionDenied
from llmesh.common.names import check_host_name, shown
from llmesh.coordinator.auth import JOIN_TOKEN_PREFIX, USER_TOKEN_PREFIX, Caller
from llmesh.coordinator.core import Core
from llmesh.coordinator.policy import ROLES
from llmesh.coordinator.security.ca import MeshCA
from llmesh.v1 import agent_link_pb2 as link_pb

log = logging.getLogger("llmesh.coordinator.security")

# How long `hosts remove` waits for each online agent to confirm it refuses the removed host.
REVOCATION_CONFIRM_TIMEOUT_S = 5.0
MAX_CACHED_TOKENS = 1024
USER_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


class SecurityService:
    def __init__(self, core: Core, ca: MeshCA, agent_cert_ttl_s: float):
        self.core = core
        self.registry = core.registry
        self.ca = ca
        self.agent_cert_ttl_s = agent_cert_ttl_s
        self._revoked: set[str] = set()
        self._revoked_agents: set[str] = set()
        # token hash -> {name, role}: every RPC checks its token, and asking the registry means a
        # trip through the writer thread. Any change to users, tokens or hosts empties it before the
        # change is answered, so a removed user is refused from the next call on.
        self._callers: dict[str, dict] = {}
        self._callers_generation = 0

    async def load(self) -> None:
        self._revoked = await self.core.run(self.registry.security.revoked_serials)
        self._revoked_agents = await self.core.run(self.registry.security.revoked_agent_ids)

    def revoked_serials(self) -> set[str]:
        return self._revoked

    def agent_revoked(self, agent_id: str) -> bool:
        return agent_id in self._revoked_agents

    def revocations(self) -> link_pb.Revocations:
        """The whole list, as every agent's Peer service needs it."""
        return link_pb.Revocations(serials=sorted(self._revoked), agent_ids=sorted(self._revoked_agents))

    # -- tokens ---------------------------------------------------------------------------

    def _token(self, prefix: str) -> tuple[str, str]:
        secret = secrets.token_urlsafe(32)
        return f"{prefix}{self.ca.pin}::{secret}", tls.secret_hash(secret)

    async def create_join_token(self, role: str, ttl_s: float) -> tuple[str, float]:
        if role != "agent":
            raise InvalidArgument(f"join tokens are for agents (--role agent), not {role!r}")
        if not 0 < ttl_s <= 30 * 86400:
            raise InvalidArgument("token lifetime must be between 1 second and 30 days")
        token, hashed = self._token(JOIN_TOKEN_PREFIX)
        expires_at = time.time() + ttl_s
        try:
            await self.core.run(self.registry.security.add_join_token, hashed, role, expires_at, "")
        finally:
            self._forget_callers()
        return token, expires_at

    async def add_user(self, name: str, role: str) -> tuple[dict, str]:
        if not name or len(name) > 64 or not set(name) <= USER_NAME_CHARS:
            raise InvalidArgument(f"invalid user name {shown(name)}: at most 64 letters, digits, '.', '_', '-', '@'")
        if role not in ROLES:
            raise InvalidArgument(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
        token, hashed = self._token(USER_TOKEN_PREFIX)
        try:
            await self.core.run(self.registry.security.add_user, name, role, hashed, "")
        finally:
            self._forget_callers()
        return {"name": name, "role": role, "created_at": time.time()}, token

    async def user_for_token(self, hashed: str) -> dict:
        found = self._callers.get(hashed)
        if found is None:
            generation = self._callers_generation
            found = await self.core.run(self.registry.security.user_by_token, hashed)
            # Kept only if nothing changed meanwhile (a lookup that raced a removal is not kept);
            # unknown tokens are never kept.
            if generation == self._callers_generation and len(self._callers) < MAX_CACHED_TOKENS:
                self._callers[hashed] = found
        return dict(found)

    def _forget_callers(self) -> None:
        self._callers = {}
        self._callers_generation += 1

    async def list_users(self) -> list[dict]:
        return await self.core.run(self.registry.security.list_users)

    async def remove_user(self, name: str) -> None:
        try:
            await self.core.run(self.registry.security.remove_user, name, "")
        finally:
            self._forget_callers()

    # -- agents ---------------------------------------------------------------------------

    async def join(self, token: str, agent_id: str, name: str, csr_pem: bytes) -> bytes:
        """Spend a join token on a certificate for this agent."""
        pin, secret = tls.parse_token(token, JOIN_TOKEN_PREFIX)
        if pin != self.ca.pin:
            raise PermissionDenied("the join token was made for another mesh (its CA pin does not match)")
        check_host_name(name)
        if not agent_id or len(agent_id) > 64 or not agent_id.isalnum():
            raise InvalidArgument("invalid agent id")
        try:
            await self.core.run(self.registry.security.use_join_token, tls.secret_hash(secret), agent_id)
        finally:
            self._forget_callers()
        return await self.issue_agent_certificate(agent_id, csr_pem)

    async def issue_agent_certificate(self, agent_id: str, csr_pem: bytes) -> bytes:
        if await self.core.run(self.registry.security.agent_revoked, agent_id):
            raise PermissionDenied(f"agent {agent_id} was removed from the mesh; join with a new identity")
        cert = self.ca.sign_agent(csr_pem, agent_id, self.agent_cert_ttl_s)
        await self.core.run(self.registry.security.record_certificate, format(cert.serial_number, "x"), agent_id,
                            tls.issued_at(cert), tls.expires_at(cert))
        log.info("issued a certificate to agent %s, valid until %s", agent_id, cert.not_valid_after_utc)
        return tls.cert_pem(cert)

    async def renew(self, agent_id: str, csr_pem: bytes) -> bytes:
        return await self.issue_agent_certificate(agent_id, csr_pem)

    async def remove_host(self, name: str) -> tuple[str, list[str]]:
        """Revoke the host's certificates; returns its agent id and the online hosts that did
        not confirm their Peer services refuse it (they get the list again when they reconnect)."""
        try:
            agent_id = await self.core.run(self.registry.security.remove_host, name, "")
        finally:
            self._forget_callers()
        await self.load()  # before telling anyone: a link opened from now on is welcomed with the new list
        self.core.hub.disconnect(agent_id)  # refused at once, not at its next reconnect
        return agent_id, await self._push_revocations()

    async def _push_revocations(self) -> list[str]:
        """Every online agent's Peer service refuses a removed host before `hosts remove` returns."""
        async def tell(connection) -> str:
            try:
                await connection.request(link_pb.Command(revoke=self.revocations()), REVOCATION_CONFIRM_TIMEOUT_S)
                return ""
            except MeshError as exc:
                log.warning("%s did not confirm the revocation: %s", connection.name, exc)
                return connection.name

        unconfirmed = await asyncio.gather(*(tell(c) for c in self.core.hub.connections()))
        return sorted(name for name in unconfirmed if name)

    async def record_refusal(self, who: Caller, method: str, reason: str) -> None:
        await self.core.run(self.registry.db.record_event, who.name, "rpc.refused", method,
                            {"reason": reason, "source": who.address}, "denied",
                            role=who.role or who.kind, source=who.address)

    async def audit(self, since: float, actor: str, limit: int, action: str = "", offset: int = 0) -> list[dict]:
        return await self.core.run(self.registry.security.audit, since, actor, limit or 1000, action=action,
                                   offset=offset)

    async def bootstrap_admin(self, name: str) -> str | None:
        """On a registry with no users, make the first admin; returns its token."""
        if await self.core.run(self.registry.security.has_users):
            return None
        _, token = await self.add_user(name, "admin")
        return token

