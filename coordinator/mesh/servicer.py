"""The Mesh servicer: protobuf <-> the mesh service's domain values, nothing else."""
from __future__ import annotations

import grpc

from llmesh.common import wire
from llmesh.v1 import mesh_pb2 as pb
from llmesh.v1 import mesh_pb2_grpc as mesh_grpc

from ..listing_chunks import fill_columns
from ..rpc import actor, translate_errors
from .service import MeshService


class MeshServicer(mesh_grpc.MeshServicer):
    def __init__(self, mesh: MeshService):
        self.mesh = mesh

    @translate_errors
    async def ListHosts(self, request: pb.ListHostsRequest,
                        context: grpc.aio.ServicerContext) -> pb.ListHostsResponse:
        hosts = await self.mesh.list_hosts()
        return pb.ListHostsResponse(hosts=[wire.to_message(pb.Host, h) for h in hosts])

    @translate_errors
    async def ListGpus(self, request: pb.ListGpusRequest, context: grpc.aio.ServicerContext) -> pb.ListGpusResponse:
        hosts = await self.mesh.list_gpus(request.host)
        return pb.ListGpusResponse(hosts=[wire.to_message(pb.HostGpus, h) for h in hosts])

    @translate_errors
    async def ListModels(self, request: pb.ListModelsRequest,
                         context: grpc.aio.ServicerContext) -> pb.ListModelsResponse:
        versions, next_token = await self.mesh.list_models_page(
            request.page_size, request.page_token, request.host, request.kind, request.name, role=request.role,
            backend=request.backend, tags=list(request.tags), query=request.query, deployed_on=request.deployed_on,
            as_chunks=request.columns)
        if request.columns:  # what the SDK asks for: the kept chunks of the versions, joined
            response = pb.ListModelsResponse(next_page_token=next_token)
            fill_columns(response.columns, versions)
            return response
        # built in place, not copied in
        return wire.to_message(pb.ListModelsResponse, {"versions": versions, "next_page_token": next_token})

    @translate_errors
    async def GetModel(self, request: pb.GetModelRequest, context: grpc.aio.ServicerContext) -> pb.ModelVersion:
        return wire.to_message(pb.ModelVersion, await self.mesh.get_model(request.ref))

    @translate_errors
    async def DeleteModel(self, request: pb.DeleteModelRequest,
                          context: grpc.aio.ServicerContext) -> pb.DeleteModelResponse:
        deleted = await self.mesh.delete_model(request.ref, actor(context))
        return pb.DeleteModelResponse(
            deleted=deleted,
            message=f"removed {len(deleted)} version(s) from the registry; files on hosts are untouched")

    @translate_errors
    async def Rescan(self, request: pb.RescanRequest, context: grpc.aio.ServicerContext) -> pb.RescanResponse:
        return pb.RescanResponse(hosts=await self.mesh.rescan(request.host))

    @translate_errors
    async def Scrub(self, request: pb.ScrubRequest, context: grpc.aio.ServicerContext) -> pb.ScrubResponse:
        return wire.to_message(pb.ScrubResponse, await self.mesh.scrub(request.host, actor(context)))

    @translate_errors
    async def ListScrubs(self, request: pb.ListScrubsRequest,
                         context: grpc.aio.ServicerContext) -> pb.ListScrubsResponse:
        scrubs = await self.mesh.list_scrubs(request.host, list(request.ids))
        return pb.ListScrubsResponse(scrubs=[wire.to_message(pb.ScrubRun, s) for s in scrubs])
