"""Which agent certificates the coordinator has revoked, as this agent last heard.

The coordinator sends the full list in its welcome and again, at once, whenever a host is
removed. Until the first welcome of this process the list is unknown and the Peer service
serves nobody: an agent that restarted while the coordinator was away must not serve a
host that was removed meanwhile.
"""
from __future__ import annotations

import asyncio
from typing import Iterable

from llmesh.common.errors import PermissionDenied, Unavailable


class Revocations:
    def __init__(self):
        self._serials: frozenset[str] = frozenset()
        self._agent_ids: frozenset[str] = frozenset()
        self.known = False
        self._changed = asyncio.Event()  # set (and replaced) on every update

    def replace(self, serials: Iterable[str], agent_ids: Iterable[str]) -> None:
        self._serials = frozenset(s.lower() for s in serials)
        self._agent_ids = frozenset(agent_ids)
        self.known = True
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()  # wakes streams waiting between chunks, so they look again now

    def check(self, serial: str, agent_id: str) -> None:
        """Raise unless a peer with this certificate may be served."""
        if not self.known:
            raise Unavailable("this agent has not heard the mesh's revocation list from the coordinator yet")
        if agent_id in self._agent_ids or serial.lower() in self._serials:
            raise PermissionDenied(f"agent {agent_id}'s certificate has been revoked")

    async def wait_for_change(self, timeout: float) -> None:
        """Sleep ``timeout`` seconds, or less if the list changes meanwhile."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except asyncio.TimeoutError:
            pass
