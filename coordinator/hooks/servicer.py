"""gRPC servicer for webhooks: translation only."""
from __future__ import annotations

import grpc

from llmesh.common import wire
from llmesh.coordinator.hooks.service import HookService
from llmesh.coordinator.rpc import actor, translate_errors
from llmesh.v1 import hooks_pb2 as pb
from llmesh.v1 import hooks_pb2_grpc as hooks_grpc


class HooksServicer(hooks_grpc.HooksServicer):
    def __init__(self, hooks: HookService):
        self.hooks = hooks

    @translate_errors
    async def AddHook(self, request: pb.AddHookRequest, context: grpc.aio.ServicerContext) -> pb.AddHookResponse:
        hook, secret = await self.hooks.add(request.url, list(request.events), request.secret, actor(context))
        return pb.AddHookResponse(hook=wire.to_message(pb.Hook, hook), secret=secret)

    @translate_errors
    async def ListHooks(self, request: pb.ListHooksRequest, context: grpc.aio.ServicerContext) -> pb.ListHooksResponse:
        return pb.ListHooksResponse(hooks=[wire.to_message(pb.Hook, h) for h in await self.hooks.list_hooks()])

    @translate_errors
    async def RemoveHook(self, request: pb.RemoveHookRequest,
                         context: grpc.aio.ServicerContext) -> pb.RemoveHookResponse:
        await self.hooks.remove(request.id, actor(context))
        return pb.RemoveHookResponse()

    @translate_errors
    async def HookLog(self, request: pb.HookLogRequest, context: grpc.aio.ServicerContext) -> pb.HookLogResponse:
        rows = await self.hooks.log(request.hook_id, request.limit)
        return pb.HookLogResponse(attempts=[wire.to_message(pb.HookAttempt, r) for r in rows])
