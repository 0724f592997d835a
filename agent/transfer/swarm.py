"""A fan-out's destinations as a swarm: each starts on its own share of every file's pieces,
fetches those from the origin sources, and takes the other shares from the other destinations
once they have verified them, so the origin's uplink sends each piece about once.

The other destinations are ordinary sources of the transfer marked ``swarm``: their Peer service
answers GetPieceIndex with the pieces they have verified (``have``) and serves only those. A piece
outside this destination's share goes to the origin only when no swarm peer is left to bring it
(all dropped: dead, refusing, or sending bad pieces); every piece is verified here against the
index as it lands, whoever sent it.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

import grpc

from llmesh.common.hashing import piece_hashes_accepted
from llmesh.v1 import peer_pb2

log = logging.getLogger("llmesh.agent.transfer")

HAVE_EVERY_S = 0.3  # how often the other destinations are asked what they have verified
ABSENT_AFTER_S = 2.0  # a peer not answering for this long has its share taken from the origin


class Swarm:
    def __init__(self, rank: int, size: int, peers: list):
        self.rank, self.size = rank, max(1, size)
        # The coordinator lists the other destinations in rank order, skipping this one.
        self.owners = peers[:rank] + [None] + peers[rank:]
        self.have: dict[tuple[str, str], set[int]] = {}  # (peer host, digest) -> verified pieces

    def owner(self, piece: int, count: int) -> int:
        return min(piece * self.size // max(1, count), len(self.owners) - 1)

    def mine(self, piece: int, count: int) -> bool:
        """Whether ``piece`` of a ``count``-piece file is in this destination's share."""
        return self.owner(piece, count) == self.rank

    def orphaned(self, piece: int, count: int, now: float) -> bool:
        """Whether the destination whose share ``piece`` is in will not bring it: dropped from this
        run (dead, refusing, bad pieces) or not answering for ABSENT_AFTER_S."""
        peer = self.owners[self.owner(piece, count)]
        return peer is None or peer.dropped or (peer.absent_since is not None
                                                and now - peer.absent_since > ABSENT_AFTER_S)

    def order(self, pieces: list[int], count: int) -> list[int]:
        """This destination's share first, then the others' (by then, peers may have them)."""
        return [p for p in pieces if self.mine(p, count)] + [p for p in pieces if not self.mine(p, count)]

    def holder(self, peers: list, digest: str, piece: int):
        """A usable peer that has verified ``piece``; the one that sent least so far."""
        having = [s for s in peers if piece in self.have.get((s.host, digest), ())]
        return min(having, key=lambda s: s.bytes_verified, default=None)

    def choose(self, queue: deque, usable_peers: list, origin_usable: bool, now: float):
        """Take the next (file, piece, peer or None for an origin source) to fetch, or None to wait.

        A peer that has a piece brings it; a piece of this share comes from the origin; another
        share's piece comes from the origin only when the destination it belongs to will not
        bring it."""
        for _ in range(len(queue)):
            f, piece = queue[0]
            peer = self.holder(usable_peers, f.entry.digest, piece)
            if peer is not None or (origin_usable and self.orphaned(piece, f.index.count, now)):
                queue.popleft()
                return f, piece, peer
            queue.rotate(-1)
        return None

    async def watch(self, peers: list, files: list, request_for) -> None:
        """Keep ``have`` fresh: ask every live peer for each unfinished file, over and over."""
        while True:
            for peer in [p for p in peers if not p.dropped]:
                for f in [f for f in files if f.pieces_left]:
                    try:
                        reply = await peer.stub.GetPieceIndex(request_for(f), timeout=30)
                    except grpc.aio.AioRpcError as exc:
                        # Not receiving it (not yet, or no more), or gone: soon nothing to wait for.
                        if peer.absent_since is None:
                            peer.absent_since = time.monotonic()
                            log.info("swarm peer %s: %s", peer.host, exc.details())
                        continue
                    peer.absent_since = None
                    if reply.digest != f.entry.digest or (f.index and reply.piece_size != f.index.piece_size):
                        continue
                    count = len(reply.hashes)
                    self.have[(peer.host, f.entry.digest)] = set(reply.have) if reply.partial else set(range(count))
            await asyncio.sleep(HAVE_EVERY_S)


def index_request(ticket: str, f, piece_size: int) -> peer_pb2.PieceIndexRequest:
    return peer_pb2.PieceIndexRequest(ticket=ticket, digest=f.entry.digest, piece_size=piece_size,
                                      piece_hashes=piece_hashes_accepted())
