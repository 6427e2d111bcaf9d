"""Typed exceptions for the gRPC status codes the flowsteer services use.

Every client call raises a subclass of :class:`FlowsteerError` instead of a
bare :class:`grpc.RpcError`; the original error stays in ``__cause__`` and the
code and message are kept on the exception.
"""

from __future__ import annotations

import grpc


class FlowsteerError(Exception):
    """A flowsteer call failed; ``code`` is the gRPC status code."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str = "", code: grpc.StatusCode | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}" if self.message else self.code.name


class EpisodeNotFound(FlowsteerError):
    """NOT_FOUND: the episode (or run, or checkpoint) does not exist or expired."""

    code = grpc.StatusCode.NOT_FOUND


NotFound = EpisodeNotFound


class InvalidArgument(FlowsteerError, ValueError):
    """INVALID_ARGUMENT: a request field is wrong; the message names it."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class FailedPrecondition(FlowsteerError):
    """FAILED_PRECONDITION: the call does not fit the current state (e.g. the episode ended)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(FlowsteerError):
    """UNAVAILABLE: the server is down or stopping; retry or resume the episode."""

    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(FlowsteerError, TimeoutError):
    """DEADLINE_EXCEEDED: the call's deadline passed."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Cancelled(FlowsteerError):
    code = grpc.StatusCode.CANCELLED


class AlreadyExists(FlowsteerError):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(FlowsteerError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(FlowsteerError):
    code = grpc.StatusCode.UNAUTHENTICATED


class ResourceExhausted(FlowsteerError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Aborted(FlowsteerError):
    code = grpc.StatusCode.ABORTED


class Unimplemented(FlowsteerError, NotImplementedError):
    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(FlowsteerError):
    code = grpc.StatusCode.INTERNAL


_BY_CODE: dict[grpc.StatusCode, type[FlowsteerError]] = {
    c.code: c
    for c in (
        EpisodeNotFound,
        InvalidArgument,
        FailedPrecondition,
        Unavailable,
        DeadlineExceeded,
        Cancelled,
        AlreadyExists,
        PermissionDenied,
        Unauthenticated,
        ResourceExhausted,
        Aborted,
        Unimplemented,
        Internal,
    )
}


def from_rpc_error(err: grpc.RpcError) -> FlowsteerError:
    """The typed exception for a gRPC error (FlowsteerError for unmapped codes)."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = err.details() if hasattr(err, "details") else str(err)
    cls = _BY_CODE.get(code, FlowsteerError)
    if cls is FlowsteerError:
        return FlowsteerError(details or "", code)
    return cls(details or "")


def status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code a server answers for a Python exception."""
    if isinstance(exc, FlowsteerError):
        return exc.code, exc.message
    if isinstance(exc, (ValueError, TypeError, KeyError)):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, FileNotFoundError):
        return grpc.StatusCode.NOT_FOUND, str(exc)
    if isinstance(exc, NotImplementedError):
        return grpc.StatusCode.UNIMPLEMENTED, str(exc) or "not implemented"
    if isinstance(exc, TimeoutError):
        return grpc.StatusCode.DEADLINE_EXCEEDED, str(exc)
    return grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}"
