"""Listings answered from kept wire chunks (llmesh.common.columns).

The registry keeps, beside each version's listing dict, the bytes of its columns (every field
but its copies) made by ENCODER; a listing joins those bytes and adds the copies, read at that
moment. Answering a hundred versions so costs one join and one parse, where building their
columns from dicts cost a Python call per value.
"""
from __future__ import annotations

import zlib

from llmesh.common import columns
from llmesh.coordinator.registry import ChunkEncoder
from llmesh.v1 import mesh_pb2 as pb

LIVE = frozenset({"copies"})  # read at listing time: every scan re-verifies them
_SCHEME = 1  # how chunks are cut: a change here makes every kept one stale, as a proto change does


def _encode(version: dict) -> bytes:
    return columns.row_chunk(pb.ModelVersionColumns, pb.ModelVersion, version, LIVE)


ENCODER = ChunkEncoder(_encode, zlib.crc32(
    f"{_SCHEME} {columns.layout_id(pb.ModelVersionColumns, pb.ModelVersion)} {sorted(LIVE)}".encode()))


def fill_columns(target: pb.ModelVersionColumns, rows: list[tuple[bytes, list[dict]]]) -> None:
    """Set ``target`` (empty) to the columns of rows of (chunk, copies), as the registry answers
    a listing with ``as_chunks``."""
    columns.join_chunks(target, pb.ModelVersion, [chunk for chunk, _ in rows],
                        [{"copies": copies} for _, copies in rows], LIVE)
