"""RPC counts and latency by method, from a gRPC server interceptor, for /metrics."""
from __future__ import annotations

import asyncio
import inspect
import time

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

from llmesh.coordinator.interceptor import WrappingInterceptor

# Registry calls take milliseconds; transfers' control RPCs and GPU queries take seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class RpcMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.requests = Counter("llmesh_rpc_requests", "RPCs the coordinator answered, by method and status code.",
                                ["method", "code"], registry=registry)
        self.latency = Histogram("llmesh_rpc_latency_seconds",
                                 "Time to answer a unary RPC (streams are counted, not timed), by method.",
                                 ["method"], buckets=LATENCY_BUCKETS, registry=registry)

    def observe(self, method: str, code: str, seconds: float | None) -> None:
        self.requests.labels(method, code).inc()
        if seconds is not None:
            self.latency.labels(method).observe(seconds)


class RpcMetricsInterceptor(WrappingInterceptor):
    """Outermost interceptor: calls refused by authentication are counted too."""

    def __init__(self, metrics: RpcMetrics):
        super().__init__()
        self.metrics = metrics

    def wrap_handler(self, handler, method: str):
        method = method.lstrip("/")
        observe = self.metrics.observe

        def wrap(behavior, timed: bool):
            if behavior is None:
                return None
            if inspect.isasyncgenfunction(behavior):
                async def generator(request, context):
                    code = "UNKNOWN"
                    try:
                        async for item in behavior(request, context):
                            yield item
                        code = _code(context, "OK")
                    except asyncio.CancelledError:
                        code = "CANCELLED"
                        raise
                    except BaseException:
                        code = _code(context, "UNKNOWN")
                        raise
                    finally:
                        observe(method, code, None)
                return generator

            async def coroutine(request, context):
                start, code = time.perf_counter(), "UNKNOWN"
                try:
                    result = await behavior(request, context)
                    code = _code(context, "OK")
                    return result
                except asyncio.CancelledError:
                    code = "CANCELLED"
                    raise
                except BaseException:
                    code = _code(context, "UNKNOWN")
                    raise
                finally:
                    observe(method, code, time.perf_counter() - start if timed else None)
            return coroutine

        return handler._replace(
            unary_unary=wrap(handler.unary_unary, True), unary_stream=wrap(handler.unary_stream, False),
            stream_unary=wrap(handler.stream_unary, False), stream_stream=wrap(handler.stream_stream, False))


def _code(context, default: str) -> str:
    """The status the handler set (abort, set_code), else ``default``."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    if isinstance(code, int):
        return next((c.name for c in grpc.StatusCode if c.value[0] == code), default)
    return default
