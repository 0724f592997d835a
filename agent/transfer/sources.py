"""The sources of one run of a pull: other agents' Peer services (gRPC: piece indexes, and the
data path's fallback) and their blob sockets (llmesh.common.blob_socket: blob bodies), with what
the job learnt of each (failures, bad pieces, verified bytes and rate).
"""
from __future__ import annotations

import asyncio
from collections import deque

import grpc

from llmesh.common import channels
from llmesh.common.errors import Unavailable
from llmesh.v1 import agent_link_pb2 as link_pb
from llmesh.v1 import peer_pb2, peer_pb2_grpc

RATE_WINDOW_S = 5.0  # per-source rates are verified bytes over this span
DESCRIBE_TIMEOUT_S = 10.0


class SourcesUnavailable(Unavailable):
    pass


class Source:
    def __init__(self, spec: link_pb.TransferSource, identity):
        self.host, self.host_id = spec.host, spec.host_id
        self.channel = channels.aio_peer_channel(spec.peer_address, identity)
        self.stub = peer_pb2_grpc.PeerStub(self.channel)
        self.down_until = 0.0
        self.failures = 0  # consecutive failed calls; past SOURCE_RETRY_S the source is given up
        self.bad_pieces = 0
        self.dropped = False
        self.swarm = spec.swarm  # another destination of a fan-out: only what it has verified
        self.absent_since: float | None = None  # a swarm peer not answering what it has, since
        self.bytes_verified = 0  # what it delivered that passed verification: all progress counts
        self._recent: deque = deque()  # (monotonic time, verified bytes) within RATE_WINDOW_S
        self.peer_host = spec.peer_address.rpartition(":")[0]  # brackets kept: host:port joins again
        self.blob_address: str | None = None  # host:port of its blob socket, once Describe said

    def delivered(self, n: int, now: float) -> None:
        self.bytes_verified += n
        self._recent.append((now, n))

    def rate(self, now: float) -> float:
        """Verified bytes per second over the last RATE_WINDOW_S."""
        while self._recent and self._recent[0][0] < now - RATE_WINDOW_S:
            self._recent.popleft()
        return sum(n for _, n in self._recent) / RATE_WINDOW_S

    def progress(self, now: float) -> link_pb.SourceProgress:
        return link_pb.SourceProgress(host=self.host, bytes_verified=self.bytes_verified, bytes_per_s=self.rate(now))

    async def find_blob_socket(self) -> None:
        """Ask the source where its blob socket listens (Describe); none (an older agent, or no
        answer now): its blob bodies come over gRPC."""
        try:
            reply = await self.stub.Describe(peer_pb2.DescribeRequest(), timeout=DESCRIBE_TIMEOUT_S)
        except grpc.aio.AioRpcError:
            return
        if reply.blob_port > 0:
            self.blob_address = f"{self.peer_host}:{reply.blob_port}"

    def no_blob_socket(self) -> None:
        """Its blob socket cannot be reached (a firewall, a port not forwarded): use gRPC."""
        self.blob_address = None


async def find_blob_sockets(sources: list[Source]) -> None:
    await asyncio.gather(*(s.find_blob_socket() for s in sources))
