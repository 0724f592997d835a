"""What every coordinator service shares: the registry, its one writer thread, the open agent links.

The registry is synchronous SQLite; every call to it runs on one writer thread
(``Core.run``) so the event loop never blocks on disk and writes never interleave.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
from collections.abc import Callable
from typing import TypeVar

from llmesh.coordinator.link.hub import LinkHub
from llmesh.coordinator.registry import Registry

T = TypeVar("T")

# Asking an agent to inspect or verify a path hashes its files: big models take a while.
INSPECT_TIMEOUT_S = 600.0


class Core:
    """The registry and the link hub, handed to every service by its constructor."""

    def __init__(self, registry: Registry, hub: LinkHub | None = None):
        self.registry = registry
        self.hub = hub if hub is not None else LinkHub()
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="registry")

    async def run(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` (a registry method) on the writer thread and await its result.

        The caller's context travels along, so audit rows know who asked."""
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, lambda: context.run(fn, *args, **kwargs))

    def close(self) -> None:
        self.hub.close_all()
        self._writer.shutdown(wait=True)
        self.registry.close()
