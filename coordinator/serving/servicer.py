"""The Serving servicer: protobuf <-> the serving service, nothing else."""
from __future__ import annotations

import grpc

from llmesh.common import wire
from llmesh.v1 import serving_pb2 as pb
from llmesh.v1 import serving_pb2_grpc as serving_grpc
from llmesh.v1 import transfer_pb2 as transfer_pb

from ..rpc import translate_errors
from .service import ServingService


class ServingServicer(serving_grpc.ServingServicer):
    def __init__(self, serving: ServingService):
        self.serving = serving

    @translate_errors
    async def Convert(self, request: pb.ConvertRequest, context: grpc.aio.ServicerContext) -> transfer_pb.Job:
        job = await self.serving.convert(request.ref, request.format, request.quant, request.on)
        return wire.to_message(transfer_pb.Job, job)

    @translate_errors
    async def Deploy(self, request: pb.DeployRequest, context: grpc.aio.ServicerContext) -> pb.Deployment:
        deployment = await self.serving.deploy(request.ref, request.backend, request.on, request.served_name,
                                               request.port, request.adapter, request.quant)
        return wire.to_message(pb.Deployment, deployment)

    @translate_errors
    async def Undeploy(self, request: pb.UndeployRequest, context: grpc.aio.ServicerContext) -> pb.Deployment:
        return wire.to_message(pb.Deployment, await self.serving.undeploy(request.ref, request.on))

    @translate_errors
    async def ListDeployments(self, request: pb.ListDeploymentsRequest,
                              context: grpc.aio.ServicerContext) -> pb.ListDeploymentsResponse:
        rows = await self.serving.deployments(request.all)
        return pb.ListDeploymentsResponse(deployments=[wire.to_message(pb.Deployment, d) for d in rows])

    @translate_errors
    async def RollbackDeployment(self, request: pb.RollbackDeploymentRequest,
                                 context: grpc.aio.ServicerContext) -> pb.Deployment:
        return wire.to_message(pb.Deployment, await self.serving.rollback(request.name, request.on))

    @translate_errors
    async def SwapAdapter(self, request: pb.SwapAdapterRequest, context: grpc.aio.ServicerContext) -> pb.Deployment:
        return wire.to_message(pb.Deployment, await self.serving.swap(request.deployment, request.adapter, request.on))

    @translate_errors
    async def TestModel(self, request: pb.TestModelRequest, context: grpc.aio.ServicerContext) -> pb.TestResult:
        result = await self.serving.test(request.ref, request.on, request.prompt, request.max_tokens,
                                         request.ignore_eos)
        return wire.to_message(pb.TestResult, result)

    @translate_errors
    async def RequestModel(self, request: pb.RequestModelRequest,
                           context: grpc.aio.ServicerContext) -> pb.Deployment:
        deployment = await self.serving.request_model(request.ref, request.role, request.backend, request.port)
        return wire.to_message(pb.Deployment, deployment)
