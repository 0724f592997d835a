"""What every servicer shares: domain errors become gRPC statuses here, in one place."""
from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from llmesh.common.errors import MeshError, grpc_status

from .auth import caller

log = logging.getLogger("llmesh.coordinator.rpc")

Method = TypeVar("Method", bound=Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Any]])


def translate_errors(method: Method) -> Method:
    """Wrap a unary servicer method: a MeshError aborts the call with its status; a bug is logged."""
    @functools.wraps(method)
    async def wrapper(self, request, context: grpc.aio.ServicerContext):
        try:
            return await method(self, request, context)
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as exc:
            await _abort_for(exc, method.__name__, context)
    return wrapper  # type: ignore[return-value]


def translate_stream_errors(method: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    """translate_errors for a server-streaming method (an async generator)."""
    @functools.wraps(method)
    async def wrapper(self, request, context: grpc.aio.ServicerContext):
        try:
            async for item in method(self, request, context):
                yield item
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as exc:
            await _abort_for(exc, method.__name__, context)
    return wrapper


async def _abort_for(exc: Exception, name: str, context: grpc.aio.ServicerContext) -> None:
    """End the call for what its handler raised (called from its except clause)."""
    if isinstance(exc, MeshError):
        await context.abort(grpc_status(exc), str(exc))
    log.exception("%s failed", name)  # a bug: logged in full here, one line for the caller
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {name}: {exc}")


def actor(context: grpc.aio.ServicerContext) -> str:
    """The name of whoever made this call (a person, or ``agent:<id>``)."""
    return caller(context).name
