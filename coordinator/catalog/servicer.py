"""The Catalog servicer: protobuf <-> dicts, nothing else (the domain: catalog.service; the
reports' typed messages: catalog.messages)."""
from __future__ import annotations

from collections.abc import AsyncIterator

from grpc.aio import ServicerContext as Context

from llmesh.common import wire
from llmesh.common.errors import MeshError, grpc_status
from llmesh.coordinator import auth
from llmesh.coordinator.catalog import messages
from llmesh.coordinator.catalog.service import CatalogService
from llmesh.coordinator.listing_chunks import fill_columns
from llmesh.coordinator.rpc import translate_errors
from llmesh.v1 import catalog_pb2 as pb
from llmesh.v1 import catalog_pb2_grpc as catalog_grpc
from llmesh.v1 import mesh_pb2


def _versions(versions: list[dict]) -> mesh_pb2.ListModelsResponse:
    return wire.to_message(mesh_pb2.ListModelsResponse, {"versions": versions})  # built in place, not copied in


def _version(version: dict) -> mesh_pb2.ModelVersion:
    return wire.to_message(mesh_pb2.ModelVersion, version)


def _change(change: dict) -> pb.AliasChange:
    return wire.to_message(pb.AliasChange, change)


class CatalogServicer(catalog_grpc.CatalogServicer):
    def __init__(self, service: CatalogService):
        self.service = service

    @translate_errors
    async def Register(self, request: pb.CatalogRegisterRequest, context: Context) -> mesh_pb2.RegisterModelResponse:
        version, created, message = await self.service.register(wire.to_dict(request), auth.caller(context).name)
        return mesh_pb2.RegisterModelResponse(version=_version(version), created=created, message=message)

    @translate_errors
    async def Versions(self, request: pb.NameRequest, context: Context) -> mesh_pb2.ListModelsResponse:
        return _versions(await self.service.versions(request.name))

    @translate_errors
    async def Edit(self, request: pb.EditRequest, context: Context) -> mesh_pb2.ModelVersion:
        return _version(await self.service.edit(wire.to_dict(request), auth.caller(context).name))

    @translate_errors
    async def SetState(self, request: pb.SetStateRequest, context: Context) -> mesh_pb2.ModelVersion:
        return _version(await self.service.set_state(request.ref, request.state, request.reason,
                                                     auth.caller(context).name))

    @translate_errors
    async def SetAlias(self, request: pb.AliasRequest, context: Context) -> pb.AliasChange:
        return _change(await self.service.set_alias(request.ref, request.alias, request.reason, request.protect,
                                                    auth.caller(context)))

    @translate_errors
    async def RemoveAlias(self, request: pb.AliasRequest, context: Context) -> pb.AliasChange:
        return _change(await self.service.remove_alias(request.ref, request.alias, request.reason, auth.caller(context)))

    @translate_errors
    async def AliasHistory(self, request: pb.AliasHistoryRequest, context: Context) -> pb.AliasHistoryResponse:
        changes = await self.service.alias_history(request.name, request.alias)
        return pb.AliasHistoryResponse(changes=[_change(c) for c in changes])

    @translate_errors
    async def Rollback(self, request: pb.RollbackRequest, context: Context) -> pb.AliasChange:
        return _change(await self.service.rollback(request.name, request.alias, request.reason, request.deprecate,
                                                   auth.caller(context)))

    @translate_errors
    async def Promote(self, request: pb.PromoteRequest, context: Context) -> pb.AliasChange:
        return _change(await self.service.promote(request.ref, request.to, request.from_alias, list(request.gates),
                                                  request.reason, auth.caller(context)))

    @translate_errors
    async def SetGate(self, request: pb.GateRequest, context: Context) -> pb.Gate:
        gate = await self.service.set_gate(request.environment, request.expression, auth.caller(context).name)
        return wire.to_message(pb.Gate, gate)

    @translate_errors
    async def RemoveGate(self, request: pb.GateRequest, context: Context) -> pb.Gate:
        return wire.to_message(pb.Gate, await self.service.remove_gate(request.environment, auth.caller(context).name))

    @translate_errors
    async def ListGates(self, request: pb.ListGatesRequest, context: Context) -> pb.ListGatesResponse:
        return pb.ListGatesResponse(gates=[wire.to_message(pb.Gate, g) for g in await self.service.gates()])

    @translate_errors
    async def ListEnvironments(self, request: pb.ListGatesRequest, context: Context) -> pb.ListGatesResponse:
        return pb.ListGatesResponse(gates=[wire.to_message(pb.Gate, g) for g in await self.service.environments()])

    @translate_errors
    async def AddEnvironment(self, request: pb.GateRequest, context: Context) -> pb.Gate:
        environment = await self.service.add_environment(request.environment, auth.caller(context).name)
        return wire.to_message(pb.Gate, environment)

    @translate_errors
    async def RemoveEnvironment(self, request: pb.GateRequest, context: Context) -> pb.Gate:
        environment = await self.service.remove_environment(request.environment, auth.caller(context).name)
        return wire.to_message(pb.Gate, environment)

    @translate_errors
    async def Tree(self, request: pb.NameRequest, context: Context) -> pb.VersionTree:
        return messages.version_tree(await self.service.tree(request.name))

    @translate_errors
    async def Lineage(self, request: pb.RefRequest, context: Context) -> pb.VersionLineage:
        return messages.version_lineage(await self.service.lineage(request.ref))

    @translate_errors
    async def Adapters(self, request: pb.AdaptersRequest, context: Context) -> mesh_pb2.ListModelsResponse:
        return _versions(await self.service.adapters(request.base))

    @translate_errors
    async def Score(self, request: pb.ScoreRequest, context: Context) -> mesh_pb2.ModelVersion:
        return _version(await self.service.score(request.ref, dict(request.metrics), list(request.remove),
                                                 auth.caller(context).name))

    @translate_errors
    async def Compare(self, request: pb.CompareRequest, context: Context) -> pb.Comparison:
        return messages.comparison(await self.service.compare(request.name, request.a, request.b))

    @translate_errors
    async def Resolve(self, request: pb.ResolveRequest, context: Context) -> pb.ResolveResponse:
        version, reason = await self.service.resolve(request.role, list(request.capabilities), request.prefer)
        return pb.ResolveResponse(version=_version(version), reason=reason)

    @translate_errors
    async def Search(self, request: pb.SearchRequest, context: Context) -> mesh_pb2.ListModelsResponse:
        if request.columns:  # what the SDK asks for: the kept chunks of the versions, joined
            response = mesh_pb2.ListModelsResponse()
            fill_columns(response.columns, await self.service.search(request.query, request.sort, request.limit,
                                                                    as_chunks=True))
            return response
        return _versions(await self.service.search(request.query, request.sort, request.limit))

    @translate_errors
    async def Verify(self, request: pb.VerifyRequest, context: Context) -> pb.VerifyResult:
        return messages.verify_result(await self.service.verify(request.ref, request.lock, request.unlock,
                                                                auth.caller(context).name))

    @translate_errors
    async def Summary(self, request: pb.NameRequest, context: Context) -> pb.SummaryResponse:
        return messages.summary(await self.service.summary(request.name), request.name)

    async def Events(self, request: pb.EventsRequest, context: Context) -> AsyncIterator[pb.Event]:
        try:
            async for event in self.service.events(request.after_id, request.limit, request.follow,
                                                   request.resource):
                yield wire.to_message(pb.Event, event)
        except MeshError as exc:
            await context.abort(grpc_status(exc), str(exc))

    @translate_errors
    async def Import(self, request: pb.ImportRequest, context: Context) -> pb.ImportReport:
        return messages.import_report(await self.service.import_file(
            request.file_name, request.content, request.format, request.dry_run, auth.caller(context).name,
            dict(request.host_map)))

    @translate_errors
    async def Export(self, request: pb.ExportRequest, context: Context) -> pb.ExportResponse:
        return messages.export(await self.service.export())
