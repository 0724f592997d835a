"""Webhooks: adding and removing hooks, and the loop that turns new audit-log events into
signed deliveries, posts them, retries failures with backoff and logs every attempt.

Deliveries are rows in the registry, so a retry that is due survives a coordinator restart.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid
from urllib.parse import urlsplit

from llmesh.common.config import HookSettings
from llmesh.common.errors import InvalidArgument, NotFound
from llmesh.coordinator.core import Core
from llmesh.coordinator.hooks import delivery
from llmesh.coordinator.hooks.events import ALL, EVENT_OF_ACTION, EVENTS, payload

log = logging.getLogger("llmesh.coordinator.hooks")

MAX_CONCURRENT = 8


class HookService:
    def __init__(self, core: Core, settings: HookSettings):
        self.core = core
        self.registry = core.registry
        self.settings = settings
        self._task: asyncio.Task | None = None
        self._in_flight: dict[str, asyncio.Task] = {}

    # -- hooks ----------------------------------------------------------------------------

    async def add(self, url: str, events: list[str], secret: str, actor: str) -> tuple[dict, str]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidArgument(f"invalid hook URL {url!r}: expected http://HOST/... or https://HOST/...")
        names = sorted({e.strip() for e in events if e.strip()})
        if not names:
            raise InvalidArgument(f"name the events to deliver (--on), from: {', '.join(EVENTS)}, or {ALL}")
        unknown = [e for e in names if e not in EVENTS and e != ALL]
        if unknown:
            raise InvalidArgument(f"unknown event {unknown[0]!r}: choose from {', '.join(EVENTS)}, or {ALL}")
        if len(secret) > 256:
            raise InvalidArgument("the secret is too long (at most 256 characters)")
        secret = secret or secrets.token_urlsafe(32)
        hook = await self.core.run(self.registry.hooks.add_hook, url, names, secret, actor)
        return hook, secret

    async def list_hooks(self) -> list[dict]:
        return await self.core.run(self.registry.hooks.list_hooks)

    async def remove(self, hook_id: str, actor: str) -> None:
        await self.core.run(self.registry.hooks.remove_hook, hook_id, actor)

    async def log(self, hook_id: str, limit: int) -> list[dict]:
        rows = await self.core.run(self.registry.hooks.hook_log, hook_id, limit or 100)
        # A mistyped id gets a refusal, not "no deliveries"; a removed hook's kept rows still show.
        if hook_id and not rows and hook_id not in {h["id"] for h in await self.list_hooks()}:
            raise NotFound(f"unknown hook {hook_id!r} (see `meshctl hooks list`)")
        return rows

    # -- the delivery loop ----------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._in_flight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                while await self.core.run(self._queue_new):
                    pass
                # One delivery in flight per hook, taken in event order: a healthy receiver sees
                # events in the order they happened (an alias moved 1 -> 2 -> 3, not 2 -> 3 then 1).
                for row in await self.core.run(self.registry.hooks.due_deliveries, time.time()):
                    busy = row["hook_id"] in self._in_flight
                    if not busy and len(self._in_flight) < MAX_CONCURRENT:
                        task = asyncio.create_task(self._attempt(row))
                        self._in_flight[row["hook_id"]] = task
                        task.add_done_callback(lambda _, key=row["hook_id"]: self._in_flight.pop(key, None))
            except asyncio.CancelledError:
                raise
            except Exception:  # keep delivering: one bad row must not stop every hook
                log.exception("webhook loop failed; retrying")
            await asyncio.sleep(self.settings.poll_s)

    def _queue_new(self) -> bool:
        """On the registry's thread: deliveries for the events since the cursor; True if there may be more."""
        events, hooks = self.registry.hooks.new_events()
        if not events:
            return False
        queued = []
        for row in events:
            event = EVENT_OF_ACTION.get(row["action"])
            if event is None or row.get("result") == "denied":
                continue
            for hook in hooks:
                if row["id"] > hook["after_event_id"] and (event in hook["events"] or ALL in hook["events"]):
                    delivery_id = uuid.uuid4().hex
                    queued.append({"id": delivery_id, "hook_id": hook["id"], "url": hook["url"], "event": event,
                                   "event_id": row["id"], "payload": payload(delivery_id, event, row)})
        self.registry.hooks.queue_deliveries(events[-1]["id"], queued)
        return len(events) >= 500

    async def _attempt(self, row: dict) -> None:
        attempt = row["attempts"] + 1
        status, error = await asyncio.to_thread(
            delivery.post, row["url"], row["payload"].encode(), event=row["event"], delivery_id=row["id"],
            secret=row["secret"], timeout_s=self.settings.timeout_s)
        if 200 <= status < 300:
            outcome, next_at = "delivered", None
        elif attempt < self.settings.attempts:
            delay = min(self.settings.backoff_s * 2 ** (attempt - 1), self.settings.backoff_max_s)
            outcome, next_at = "retrying", time.time() + delay
        else:
            outcome, next_at = "failed", None
            log.warning("webhook %s gave up on %s after %d attempts: %s", row["hook_id"], row["event"], attempt,
                        error or f"HTTP {status}")
        if outcome != "delivered" and not error:
            error = f"HTTP {status}"
        await self.core.run(self.registry.hooks.record_attempt, row["id"], attempt, status, error, outcome, next_at)
