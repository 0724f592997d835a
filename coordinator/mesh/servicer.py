"""The Mesh servicer: protobuf <-> the core's domain values, nothing else."""
from __future__ import annotations

from llmesh.common import wire
from llmesh.v1 import mesh_pb2 as pb
from llmesh.v1 import mesh_pb2_grpc as mesh_grpc

from ..core import CoordinatorService
from ..rpc import actor, translate_errors


class MeshServicer(mesh_grpc.MeshServicer):
    def __init__(self, service: CoordinatorService):
        self.service = service

    @translate_errors
    async def ListHosts(self, request, context):
        hosts = await self.service.list_hosts()
        return pb.ListHostsResponse(hosts=[wire.to_message(pb.Host, h) for h in hosts])

    @translate_errors
    async def ListGpus(self, request, context):
        hosts = await self.service.list_gpus(request.host)
        return pb.ListGpusResponse(hosts=[wire.to_message(pb.HostGpus, h) for h in hosts])

    @translate_errors
    async def ListModels(self, request, context):
        versions = await self.service.list_models(request.host, request.kind, request.name, role=request.role,
                                                  backend=request.backend, tags=list(request.tags),
                                                  query=request.query)
        return pb.ListModelsResponse(versions=[wire.to_message(pb.ModelVersion, v) for v in versions])

    @translate_errors
    async def GetModel(self, request, context):
        return wire.to_message(pb.ModelVersion, await self.service.get_model(request.ref))

    @translate_errors
    async def RegisterModel(self, request, context):
        version, created, message = await self.service.register_model(wire.to_dict(request), actor(context))
        return pb.RegisterModelResponse(version=wire.to_message(pb.ModelVersion, version),
                                        created=created, message=message)

    @translate_errors
    async def DeleteModel(self, request, context):
        deleted = await self.service.delete_model(request.ref, actor(context))
        return pb.DeleteModelResponse(
            deleted=deleted,
            message=f"removed {len(deleted)} version(s) from the registry; files on hosts are untouched")

    @translate_errors
    async def Rescan(self, request, context):
        return pb.RescanResponse(hosts=await self.service.rescan(request.host))
