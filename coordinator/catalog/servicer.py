"""The Catalog servicer: protobuf <-> dicts, nothing else (see service.py)."""
from __future__ import annotations

import json

from llmesh.common import wire
from llmesh.common.errors import MeshError, grpc_status
from llmesh.coordinator import auth
from llmesh.coordinator.catalog.service import CatalogService
from llmesh.coordinator.rpc import translate_errors
from llmesh.v1 import catalog_pb2 as pb
from llmesh.v1 import catalog_pb2_grpc as catalog_grpc
from llmesh.v1 import mesh_pb2


def _caller(context) -> auth.Caller:
    try:
        return auth.caller(context)
    except MeshError:  # no auth interceptor installed (a bare test server): the local admin
        return auth.Caller(name="local", role="admin", kind="user", address=context.peer() or "")


def _versions(versions: list[dict]) -> mesh_pb2.ListModelsResponse:
    return mesh_pb2.ListModelsResponse(versions=[wire.to_message(mesh_pb2.ModelVersion, v) for v in versions])


def _json(result) -> pb.JsonResponse:
    return pb.JsonResponse(result_json=json.dumps(result, sort_keys=True, default=str))


class CatalogServicer(catalog_grpc.CatalogServicer):
    def __init__(self, service: CatalogService):
        self.service = service

    @translate_errors
    async def Register(self, request, context):
        version, created, message = await self.service.register(wire.to_dict(request), _caller(context).name)
        return mesh_pb2.RegisterModelResponse(version=wire.to_message(mesh_pb2.ModelVersion, version),
                                              created=created, message=message)

    @translate_errors
    async def Versions(self, request, context):
        return _versions(await self.service.versions(request.name))

    @translate_errors
    async def Edit(self, request, context):
        version = await self.service.edit(wire.to_dict(request), _caller(context).name)
        return wire.to_message(mesh_pb2.ModelVersion, version)

    @translate_errors
    async def SetState(self, request, context):
        version = await self.service.set_state(request.ref, request.state, request.reason, _caller(context).name)
        return wire.to_message(mesh_pb2.ModelVersion, version)

    @translate_errors
    async def SetAlias(self, request, context):
        change = await self.service.set_alias(request.ref, request.alias, request.reason, request.protect,
                                              _caller(context))
        return wire.to_message(pb.AliasChange, change)

    @translate_errors
    async def RemoveAlias(self, request, context):
        change = await self.service.remove_alias(request.ref, request.alias, request.reason, _caller(context))
        return wire.to_message(pb.AliasChange, change)

    @translate_errors
    async def AliasHistory(self, request, context):
        changes = await self.service.alias_history(request.name, request.alias)
        return pb.AliasHistoryResponse(changes=[wire.to_message(pb.AliasChange, c) for c in changes])

    @translate_errors
    async def Rollback(self, request, context):
        change = await self.service.rollback(request.name, request.alias, request.reason, request.deprecate,
                                             _caller(context))
        return wire.to_message(pb.AliasChange, change)

    @translate_errors
    async def Tree(self, request, context):
        return _json(await self.service.tree(request.name))

    @translate_errors
    async def Lineage(self, request, context):
        return _json(await self.service.lineage(request.ref))

    @translate_errors
    async def Adapters(self, request, context):
        return _versions(await self.service.adapters(request.base))

    @translate_errors
    async def Score(self, request, context):
        version = await self.service.score(request.ref, dict(request.metrics), list(request.remove),
                                           _caller(context).name)
        return wire.to_message(mesh_pb2.ModelVersion, version)

    @translate_errors
    async def Compare(self, request, context):
        return _json(await self.service.compare(request.name, request.a, request.b))

    @translate_errors
    async def Resolve(self, request, context):
        version, reason = await self.service.resolve(request.role, list(request.capabilities), request.prefer)
        return pb.ResolveResponse(version=wire.to_message(mesh_pb2.ModelVersion, version), reason=reason)

    @translate_errors
    async def Search(self, request, context):
        return _versions(await self.service.search(request.query, request.sort, request.limit))

    @translate_errors
    async def Verify(self, request, context):
        return _json(await self.service.verify(request.ref, request.lock, request.unlock, _caller(context).name))

    @translate_errors
    async def Summary(self, request, context):
        return _json(await self.service.summary(request.name))

    async def Events(self, request, context):
        try:
            async for event in self.service.events(request.after_id, request.limit, request.follow,
                                                   request.resource):
                yield wire.to_message(pb.Event, event)
        except MeshError as exc:
            await context.abort(grpc_status(exc), str(exc))

    @translate_errors
    async def Import(self, request, context):
        return _json(await self.service.import_file(request.file_name, request.content, request.format,
                                                    request.dry_run, _caller(context).name))

    @translate_errors
    async def Export(self, request, context):
        return _json(await self.service.export())
