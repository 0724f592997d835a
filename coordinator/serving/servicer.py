"""The Serving servicer: protobuf <-> the serving service, nothing else."""
from __future__ import annotations

from llmesh.common import wire
from llmesh.v1 import serving_pb2 as serving_pb
from llmesh.v1 import serving_pb2_grpc as serving_grpc
from llmesh.v1 import transfer_pb2 as transfer_pb

from ..rpc import translate_errors


class ServingServicer(serving_grpc.ServingServicer):
    def __init__(self, serving):
        self.serving = serving

    @translate_errors
    async def Convert(self, request, context):
        job = await self.serving.convert(request.ref, request.format, request.quant, request.on)
        return wire.to_message(transfer_pb.Job, job)

    @translate_errors
    async def Deploy(self, request, context):
        deployment = await self.serving.deploy(request.ref, request.backend, request.on, request.served_name,
                                               request.port, request.adapter, request.quant)
        return wire.to_message(serving_pb.Deployment, deployment)

    @translate_errors
    async def Undeploy(self, request, context):
        return wire.to_message(serving_pb.Deployment, await self.serving.undeploy(request.ref, request.on))

    @translate_errors
    async def ListDeployments(self, request, context):
        rows = await self.serving.deployments(request.all)
        return serving_pb.ListDeploymentsResponse(deployments=[wire.to_message(serving_pb.Deployment, d) for d in rows])

    @translate_errors
    async def RollbackDeployment(self, request, context):
        return wire.to_message(serving_pb.Deployment, await self.serving.rollback(request.name, request.on))

    @translate_errors
    async def TestModel(self, request, context):
        result = await self.serving.test(request.ref, request.on, request.prompt, request.max_tokens,
                                         request.ignore_eos)
        return wire.to_message(serving_pb.TestResult, result)

    @translate_errors
    async def RequestModel(self, request, context):
        deployment = await self.serving.request_model(request.ref, request.role, request.backend, request.port)
        return wire.to_message(serving_pb.Deployment, deployment)
