"""The Transfers servicer: protobuf <-> the transfer service, nothing else."""
from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from llmesh.common import wire
from llmesh.v1 import transfer_pb2 as pb
from llmesh.v1 import transfer_pb2_grpc as transfer_grpc

from ..rpc import translate_errors, translate_stream_errors
from .service import TransferService


class TransfersServicer(transfer_grpc.TransfersServicer):
    def __init__(self, transfers: TransferService):
        self.transfers = transfers

    @translate_errors
    async def Pull(self, request: pb.PullRequest, context: grpc.aio.ServicerContext) -> pb.Job:
        job = await self.transfers.pull(request.ref, request.to, getattr(request, "from"), request.dest_dir,
                                        request.rate_limit, registry=request.registry, insecure=request.insecure,
                                        ollama_layout=request.ollama_layout, include=list(request.include))
        return wire.to_message(pb.Job, job)

    @translate_errors
    async def ListJobs(self, request: pb.ListJobsRequest, context: grpc.aio.ServicerContext) -> pb.ListJobsResponse:
        jobs = await self.transfers.jobs(request.all)
        return pb.ListJobsResponse(jobs=[wire.to_message(pb.Job, j) for j in jobs])

    @translate_errors
    async def GetJob(self, request: pb.GetJobRequest, context: grpc.aio.ServicerContext) -> pb.Job:
        return wire.to_message(pb.Job, await self.transfers.job(request.id))

    @translate_stream_errors
    async def WatchJobs(self, request: pb.WatchJobsRequest, context: grpc.aio.ServicerContext) -> AsyncIterator[pb.Job]:
        async for job in self.transfers.watch(list(request.ids)):
            yield wire.to_message(pb.Job, job)

    @translate_errors
    async def CancelJob(self, request: pb.CancelJobRequest, context: grpc.aio.ServicerContext) -> pb.Job:
        return wire.to_message(pb.Job, await self.transfers.cancel(request.id))

    @translate_errors
    async def RemoveCopy(self, request: pb.RemoveCopyRequest,
                         context: grpc.aio.ServicerContext) -> pb.RemoveCopyResponse:
        paths = await self.transfers.remove_copy(request.ref, request.host, request.force)
        return pb.RemoveCopyResponse(
            paths=paths, message=f"deleted {len(paths)} copy(ies) of {request.ref} from {request.host}")

    @translate_errors
    async def Push(self, request: pb.PushRequest, context: grpc.aio.ServicerContext) -> pb.PushResponse:
        result = await self.transfers.hubs.push(request.ref, request.to, getattr(request, "from"), request.insecure)
        return wire.to_message(pb.PushResponse, result)

    @translate_errors
    async def HubLogin(self, request: pb.HubLoginRequest, context: grpc.aio.ServicerContext) -> pb.HubLoginResponse:
        result = await self.transfers.hubs.login(request.host, request.hub, request.username, request.secret)
        return wire.to_message(pb.HubLoginResponse, result)
