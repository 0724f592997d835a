"""Deployments bound to an alias (`models deploy NAME@ALIAS …`) follow it.

When the alias moves (`models alias`, `models promote`, `models rollback --alias`), each
deployment bound to it is redeployed to the alias's version under the same served name and
port (ServingService.deploy replaces in place). One that cannot converge keeps serving its
version and says why in its error. Moves of one alias converge one after another.
"""
from __future__ import annotations

import asyncio
import logging

from llmesh.common.errors import MeshError, NotFound
from llmesh.common.names import ModelRef

log = logging.getLogger("llmesh.coordinator.serving")


class AliasFollower:
    def __init__(self, serving):  # the ServingService (which imports this module)
        self.serving = serving
        self.registry = serving.registry
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._tasks: set[asyncio.Task] = set()

    def moved(self, name: str, alias: str) -> None:
        """The alias moved (or went away): its deployments converge in the background."""
        task = asyncio.get_running_loop().create_task(self.converge(name, alias))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def converge(self, name: str, alias: str) -> list[dict]:
        """Redeploy what follows NAME@ALIAS and does not serve its version; the deployments after."""
        lock = self._locks.setdefault((name, alias), asyncio.Lock())
        async with lock:
            run = self.serving.core.run
            try:
                model = await run(self.registry.versions.model_row, name)
            except NotFound:
                return []
            bound = await run(self.registry.deployments.alias_bound, model["id"], alias)
            try:
                target = await run(self.registry.versions.resolve, ModelRef(name, alias=alias))
            except NotFound:
                for d in bound:
                    await run(self.registry.deployments.set_error, d["id"],
                              f"alias {name}@{alias} is gone; still serving {d['source'] or d['ref']}")
                return bound
            done = []
            for d in bound:
                if d["source_version_id"] == target:
                    done.append(d)
                    continue
                try:
                    done.append(await self.serving.deploy(f"{name}@{alias}", d["backend"], d["host"], d["served_name"],
                                                          d["port"], d["adapter"], d["quant"]))
                except MeshError as exc:
                    log.warning("deployment %s could not follow %s@%s: %s", d["id"], name, alias, exc)
                    await run(self.registry.deployments.set_error, d["id"],
                              f"could not follow {name}@{alias}: {exc}; still serving {d['source'] or d['ref']}")
                    done.append(d)
            return done

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
