"""gRPC servicers: they only translate between protobuf messages and the service.

Domain errors become gRPC statuses in one place (``_translate_errors``)."""
from __future__ import annotations

import asyncio
import functools
import logging

import grpc

from llmesh.v1 import agent_link_pb2 as link_pb
from llmesh.v1 import agent_link_pb2_grpc as link_grpc
from llmesh.v1 import mesh_pb2 as pb
from llmesh.v1 import mesh_pb2_grpc as mesh_grpc
from llmesh.v1 import serving_pb2 as serving_pb
from llmesh.v1 import serving_pb2_grpc as serving_grpc
from llmesh.v1 import transfer_pb2 as transfer_pb
from llmesh.v1 import transfer_pb2_grpc as transfer_grpc
from meshcore import __version__, wire
from meshcore.errors import InvalidArgument, MeshError, grpc_status

from .auth import caller
from .service import CoordinatorService

log = logging.getLogger("llmesh.coordinator.rpc")


def _translate_errors(method):
    @functools.wraps(method)
    async def wrapper(self, request, context):
        try:
            return await method(self, request, context)
        except MeshError as exc:
            await context.abort(grpc_status(exc), str(exc))
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as exc:  # a bug: logged in full here, one line for the caller
            log.exception("%s failed", method.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method.__name__}: {exc}")
    return wrapper


def _actor(context) -> str:
    return caller(context).name


class MeshServicer(mesh_grpc.MeshServicer):
    def __init__(self, service: CoordinatorService):
        self.service = service

    @_translate_errors
    async def ListHosts(self, request, context):
        hosts = await self.service.list_hosts()
        return pb.ListHostsResponse(hosts=[wire.to_message(pb.Host, h) for h in hosts])

    @_translate_errors
    async def ListGpus(self, request, context):
        hosts = await self.service.list_gpus(request.host)
        return pb.ListGpusResponse(hosts=[wire.to_message(pb.HostGpus, h) for h in hosts])

    @_translate_errors
    async def ListModels(self, request, context):
        versions = await self.service.list_models(request.host, request.kind, request.name, role=request.role,
                                                  backend=request.backend, tags=list(request.tags),
                                                  query=request.query)
        return pb.ListModelsResponse(versions=[wire.to_message(pb.ModelVersion, v) for v in versions])

    @_translate_errors
    async def GetModel(self, request, context):
        return wire.to_message(pb.ModelVersion, await self.service.get_model(request.ref))

    @_translate_errors
    async def RegisterModel(self, request, context):
        version, created, message = await self.service.register_model(wire.to_dict(request), _actor(context))
        return pb.RegisterModelResponse(version=wire.to_message(pb.ModelVersion, version),
                                        created=created, message=message)

    @_translate_errors
    async def DeleteModel(self, request, context):
        deleted = await self.service.delete_model(request.ref, _actor(context))
        return pb.DeleteModelResponse(
            deleted=deleted,
            message=f"removed {len(deleted)} version(s) from the registry; files on hosts are untouched")

    @_translate_errors
    async def Rescan(self, request, context):
        return pb.RescanResponse(hosts=await self.service.rescan(request.host))


class AgentLinkServicer(link_grpc.AgentLinkServicer):
    """One call per connected agent, open as long as the agent runs."""

    def __init__(self, service: CoordinatorService, security, transfers):
        self.service = service
        self.security = security
        self.transfers = transfers
        self._tasks: set[asyncio.Task] = set()

    async def Link(self, request_iterator, context):
        first = await context.read()
        if first is grpc.aio.EOF or first.WhichOneof("body") != "hello":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message on a link must be hello")
        if caller(context).name != f"agent:{first.hello.agent_id}":
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                "an agent may only speak for the id in its own certificate")
        try:
            connection = await self.service.agent_hello(wire.to_dict(first.hello))
        except MeshError as exc:
            await context.abort(grpc_status(exc), str(exc))
        connection.task = asyncio.current_task()
        self.transfers.wake()  # jobs waiting for this host, or for a source it holds
        # Everything for the agent, the welcome included, goes through the one writer task.
        connection.outbox.put_nowait(link_pb.CoordinatorMessage(welcome=link_pb.Welcome(
            host_id=connection.host_id, coordinator_version=__version__)))
        writer = asyncio.create_task(self._write(connection, context))
        try:
            while True:
                message = await context.read()
                if message is grpc.aio.EOF:
                    break
                await self._dispatch(connection, message)
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            pass
        finally:
            self.service.agent_gone(connection)
            self.transfers.wake()
            writer.cancel()

    async def _write(self, connection, context):
        while True:
            message = await connection.outbox.get()
            if message is None:
                return
            await context.write(message)

    async def _job_progress(self, connection, progress) -> None:
        try:
            await self.transfers.on_progress(connection, progress)
        except MeshError as exc:
            log.warning("job report from %s refused: %s", connection.name, exc)
        except Exception:
            log.exception("job report from %s failed", connection.name)

    async def _renew(self, connection, csr_pem: bytes) -> link_pb.Certificate:
        try:
            return link_pb.Certificate(cert_pem=await self.security.renew(connection.host_id, csr_pem))
        except MeshError as exc:
            return link_pb.Certificate(error=str(exc))

    async def _dispatch(self, connection, message):
        kind = message.WhichOneof("body")
        try:
            if kind == "heartbeat":
                await self.service.agent_heartbeat(
                    connection, wire.to_dict(message.heartbeat.hardware), message.heartbeat.scanning)
            elif kind == "inventory":
                await self.service.agent_seen(connection)
                await self.service.agent_inventory(connection, message.inventory)
            elif kind == "reply":
                connection.deliver(message.reply)
            elif kind == "job":
                # Its own task: finishing a job may ask this same agent something, and the
                # answer arrives through this very loop.
                task = asyncio.create_task(self._job_progress(connection, message.job))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            elif kind == "renew":
                await connection.outbox.put(link_pb.CoordinatorMessage(
                    certificate=await self._renew(connection, message.renew.csr_pem)))
            else:
                raise InvalidArgument(f"unexpected {kind} message on an open link")
        except MeshError as exc:  # one bad message must not drop the agent
            log.warning("message from %s refused: %s", connection.name, exc)


class TransfersServicer(transfer_grpc.TransfersServicer):
    def __init__(self, transfers):
        self.transfers = transfers

    @_translate_errors
    async def Pull(self, request, context):
        job = await self.transfers.pull(request.ref, request.to, getattr(request, "from"), request.dest_dir)
        return wire.to_message(transfer_pb.Job, job)

    @_translate_errors
    async def ListJobs(self, request, context):
        jobs = await self.transfers.jobs(request.all)
        return transfer_pb.ListJobsResponse(jobs=[wire.to_message(transfer_pb.Job, j) for j in jobs])

    @_translate_errors
    async def GetJob(self, request, context):
        return wire.to_message(transfer_pb.Job, await self.transfers.job(request.id))

    @_translate_errors
    async def CancelJob(self, request, context):
        return wire.to_message(transfer_pb.Job, await self.transfers.cancel(request.id))

    @_translate_errors
    async def RemoveCopy(self, request, context):
        paths = await self.transfers.remove_copy(request.ref, request.host, request.force)
        return transfer_pb.RemoveCopyResponse(
            paths=paths, message=f"deleted {len(paths)} copy(ies) of {request.ref} from {request.host}")


class ServingServicer(serving_grpc.ServingServicer):
    def __init__(self, serving):
        self.serving = serving

    @_translate_errors
    async def Convert(self, request, context):
        job = await self.serving.convert(request.ref, request.format, request.quant, request.on)
        return wire.to_message(transfer_pb.Job, job)

    @_translate_errors
    async def Deploy(self, request, context):
        deployment = await self.serving.deploy(request.ref, request.backend, request.on, request.served_name,
                                               request.port, request.adapter, request.quant)
        return wire.to_message(serving_pb.Deployment, deployment)

    @_translate_errors
    async def Undeploy(self, request, context):
        return wire.to_message(serving_pb.Deployment, await self.serving.undeploy(request.ref, request.on))

    @_translate_errors
    async def ListDeployments(self, request, context):
        rows = await self.serving.deployments(request.all)
        return serving_pb.ListDeploymentsResponse(deployments=[wire.to_message(serving_pb.Deployment, d) for d in rows])

    @_translate_errors
    async def RollbackDeployment(self, request, context):
        return wire.to_message(serving_pb.Deployment, await self.serving.rollback(request.name, request.on))

    @_translate_errors
    async def TestModel(self, request, context):
        result = await self.serving.test(request.ref, request.on, request.prompt, request.max_tokens,
                                         request.ignore_eos)
        return wire.to_message(serving_pb.TestResult, result)

    @_translate_errors
    async def RequestModel(self, request, context):
        deployment = await self.serving.request_model(request.ref, request.role, request.backend, request.port)
        return wire.to_message(serving_pb.Deployment, deployment)
