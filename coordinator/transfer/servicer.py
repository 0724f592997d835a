"""The Transfers servicer: protobuf <-> the transfer service, nothing else."""
from __future__ import annotations

from llmesh.common import wire
from llmesh.v1 import transfer_pb2 as transfer_pb
from llmesh.v1 import transfer_pb2_grpc as transfer_grpc

from ..rpc import translate_errors


class TransfersServicer(transfer_grpc.TransfersServicer):
    def __init__(self, transfers):
        self.transfers = transfers

    @translate_errors
    async def Pull(self, request, context):
        job = await self.transfers.pull(request.ref, request.to, getattr(request, "from"), request.dest_dir)
        return wire.to_message(transfer_pb.Job, job)

    @translate_errors
    async def ListJobs(self, request, context):
        jobs = await self.transfers.jobs(request.all)
        return transfer_pb.ListJobsResponse(jobs=[wire.to_message(transfer_pb.Job, j) for j in jobs])

    @translate_errors
    async def GetJob(self, request, context):
        return wire.to_message(transfer_pb.Job, await self.transfers.job(request.id))

    @translate_errors
    async def CancelJob(self, request, context):
        return wire.to_message(transfer_pb.Job, await self.transfers.cancel(request.id))

    @translate_errors
    async def RemoveCopy(self, request, context):
        paths = await self.transfers.remove_copy(request.ref, request.host, request.force)
        return transfer_pb.RemoveCopyResponse(
            paths=paths, message=f"deleted {len(paths)} copy(ies) of {request.ref} from {request.host}")
