"""The shape the coordinator's interceptors share: each wraps a method's handler, once."""
from __future__ import annotations

import grpc


class WrappingInterceptor(grpc.aio.ServerInterceptor):
    """Wraps each method's handler with ``wrap_handler``. A method's handler is the same object
    on every call, so it is wrapped on the first call and the wrapper reused (wrapping per call
    cost every RPC a few closures); a handler that changes is wrapped again."""

    def __init__(self):
        self._wrapped: dict[str, tuple] = {}  # method -> (its handler, that handler wrapped)

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None:
            return None
        cached = self._wrapped.get(details.method)
        if cached is None or cached[0] is not handler:
            cached = self._wrapped[details.method] = (handler, self.wrap_handler(handler, details.method))
        return cached[1]

    def wrap_handler(self, handler, method: str):
        raise NotImplementedError
