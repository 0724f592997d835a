"""The one errors module of llmesh.

Every expected failure is a MeshError with a code. Servicers turn it into a gRPC
status (``grpc_status``), clients turn a gRPC error back into the same class
(``from_rpc_error``), and meshctl prints ``error: <message>`` with a non-zero exit.
"""
from __future__ import annotations

# A message travels as gRPC status details (metadata, 16 KiB at most): never near that.
MAX_MESSAGE_CHARS = 2000


class MeshError(Exception):
    """An expected failure with a one-line message meant for people."""

    code = "INTERNAL"
    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # one line, always, and short enough for the wire
        line = " ".join(str(self.message).split())
        return line if len(line) <= MAX_MESSAGE_CHARS else line[:MAX_MESSAGE_CHARS - 1] + "…"


class InvalidArgument(MeshError):
    code = "INVALID_ARGUMENT"


class NotFound(MeshError):
    code = "NOT_FOUND"


class AlreadyExists(MeshError):
    code = "ALREADY_EXISTS"


class FailedPrecondition(MeshError):
    code = "FAILED_PRECONDITION"


class PermissionDenied(MeshError):
    code = "PERMISSION_DENIED"


class Unauthenticated(MeshError):
    code = "UNAUTHENTICATED"


class Unavailable(MeshError):
    code = "UNAVAILABLE"


class DeadlineExceeded(MeshError):
    code = "DEADLINE_EXCEEDED"


class ResourceExhausted(MeshError):
    code = "RESOURCE_EXHAUSTED"


class Internal(MeshError):
    code = "INTERNAL"


class Unimplemented(Internal):  # so `except Internal` of older callers still catches it
    """The other side is older and lacks this call (a client may fall back to an older one)."""
    code = "UNIMPLEMENTED"


_BY_CODE = {cls.code: cls for cls in (
    InvalidArgument, NotFound, AlreadyExists, FailedPrecondition, PermissionDenied,
    Unauthenticated, Unavailable, DeadlineExceeded, ResourceExhausted, Internal, Unimplemented,
)}


def error_for_code(code: str, message: str) -> MeshError:
    """Rebuild the MeshError subclass named by a code string (as sent over a link)."""
    return _BY_CODE.get(code, Internal)(message)


def grpc_status(error: MeshError):
    """The grpc.StatusCode for a MeshError (imported lazily: agents' scanners need no grpc)."""
    import grpc

    return getattr(grpc.StatusCode, error.code, grpc.StatusCode.INTERNAL)


def from_rpc_error(exc) -> MeshError:
    """Turn a grpc.RpcError (sync or aio) into the matching MeshError."""
    import grpc

    code = exc.code() if callable(getattr(exc, "code", None)) else None
    details = exc.details() if callable(getattr(exc, "details", None)) else str(exc)
    details = details or (code.name.lower() if code else "unknown error")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceeded(f"timed out: {details}")
    name = code.name if code is not None else "INTERNAL"
    return error_for_code(name, details)
