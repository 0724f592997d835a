"""What every servicer shares: domain errors become gRPC statuses here, in one place."""
from __future__ import annotations

import asyncio
import functools
import logging

import grpc

from llmesh.common.errors import MeshError, grpc_status

from .auth import caller

log = logging.getLogger("llmesh.coordinator.rpc")


def translate_errors(method):
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


def actor(context) -> str:
    """The name of whoever made this call (a person, or ``agent:<id>``)."""
    return caller(context).name
