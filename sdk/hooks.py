"""Webhooks through the SDK: ``mesh.hooks.add(url, ["alias.moved"])``, ``.list()``, ``.remove(id)``,
``.log()``. Results are plain dicts with the API's field names (protos/llmesh/v1/hooks.proto)."""
from __future__ import annotations

from collections.abc import Callable, Iterable

from llmesh.common import wire
from llmesh.v1 import hooks_pb2 as pb
from llmesh.v1 import hooks_pb2_grpc as hooks_grpc


class HooksClient:
    def __init__(self, channel, call: Callable):
        self._stub = hooks_grpc.HooksStub(channel)
        self._call = call  # MeshClient._call: errors become MeshError

    def add(self, url: str, events: Iterable[str], secret: str = "") -> dict:
        """Returns the hook and its secret (generated when none is given; shown this once)."""
        reply = self._call(self._stub.AddHook, pb.AddHookRequest(url=url, events=list(events), secret=secret))
        return {**wire.to_dict(reply.hook), "secret": reply.secret}

    def list(self) -> list[dict]:
        return [wire.to_dict(h) for h in self._call(self._stub.ListHooks, pb.ListHooksRequest()).hooks]

    def remove(self, hook_id: str) -> None:
        self._call(self._stub.RemoveHook, pb.RemoveHookRequest(id=hook_id))

    def log(self, hook_id: str = "", limit: int = 100) -> list[dict]:
        """Delivery attempts, newest first."""
        reply = self._call(self._stub.HookLog, pb.HookLogRequest(hook_id=hook_id, limit=limit))
        return [wire.to_dict(a) for a in reply.attempts]
