"""gRPC servicers for joining and administration: translation only."""
from __future__ import annotations

import grpc

from llmesh.common import wire
from llmesh.coordinator.auth import caller
from llmesh.coordinator.rpc import translate_errors
from llmesh.coordinator.security.service import SecurityService
from llmesh.v1 import security_pb2 as pb
from llmesh.v1 import security_pb2_grpc as security_grpc


class BootstrapServicer(security_grpc.BootstrapServicer):
    def __init__(self, security: SecurityService, link_address: str):
        self.security = security
        self.link_address = link_address  # where a joined agent opens its link (known once the ports are bound)

    @translate_errors
    async def Join(self, request: pb.JoinRequest, context: grpc.aio.ServicerContext) -> pb.JoinResponse:
        cert = await self.security.join(request.token, request.agent_id, request.name, request.csr_pem)
        return pb.JoinResponse(cert_pem=cert, ca_pem=self.security.ca.pem, link_address=self.link_address)


class AdminServicer(security_grpc.AdminServicer):
    def __init__(self, security: SecurityService):
        self.security = security

    @translate_errors
    async def WhoAmI(self, request: pb.WhoAmIRequest, context: grpc.aio.ServicerContext) -> pb.WhoAmIResponse:
        who = caller(context)
        return pb.WhoAmIResponse(name=who.name, role=who.role)

    @translate_errors
    async def CreateJoinToken(self, request: pb.CreateJoinTokenRequest,
                              context: grpc.aio.ServicerContext) -> pb.CreateJoinTokenResponse:
        ttl_s = request.ttl_s if request.HasField("ttl_s") else 3600.0  # 0 is refused, not the default
        token, expires_at = await self.security.create_join_token(request.role or "agent", ttl_s)
        return pb.CreateJoinTokenResponse(token=token, expires_at=expires_at)

    @translate_errors
    async def AddUser(self, request: pb.AddUserRequest, context: grpc.aio.ServicerContext) -> pb.AddUserResponse:
        user, token = await self.security.add_user(request.name, request.role)
        return pb.AddUserResponse(user=wire.to_message(pb.User, user), token=token)

    @translate_errors
    async def ListUsers(self, request: pb.ListUsersRequest,
                        context: grpc.aio.ServicerContext) -> pb.ListUsersResponse:
        users = await self.security.list_users()
        return pb.ListUsersResponse(users=[wire.to_message(pb.User, u) for u in users])

    @translate_errors
    async def RemoveUser(self, request: pb.RemoveUserRequest,
                         context: grpc.aio.ServicerContext) -> pb.RemoveUserResponse:
        await self.security.remove_user(request.name)
        return pb.RemoveUserResponse()

    @translate_errors
    async def RemoveHost(self, request: pb.RemoveHostRequest,
                         context: grpc.aio.ServicerContext) -> pb.RemoveHostResponse:
        agent_id, unconfirmed = await self.security.remove_host(request.name)
        return pb.RemoveHostResponse(agent_id=agent_id, unconfirmed=unconfirmed)

    @translate_errors
    async def ListAudit(self, request: pb.ListAuditRequest,
                        context: grpc.aio.ServicerContext) -> pb.ListAuditResponse:
        events = await self.security.audit(request.since, request.actor, request.limit, request.action)
        return pb.ListAuditResponse(events=[wire.to_message(pb.AuditEvent, e) for e in events])
