"""The one mapping of domain errors to gRPC status codes, and the unary wrapper."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from .core.errors import (
    CoordinatorError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    StoreUnavailable,
    Unavailable,
)

__all__ = ["CoordinatorError", "FailedPrecondition", "InvalidArgument", "NotFound",
           "ResourceExhausted", "StoreUnavailable", "Unavailable", "status_of", "unary"]

log = logging.getLogger(__name__)

_CODES: dict[type[CoordinatorError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
}


def status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, StoreUnavailable):
        return grpc.StatusCode.UNAVAILABLE, f"store unavailable, retry: {exc}"
    if isinstance(exc, CoordinatorError):
        for cls in type(exc).__mro__:
            if cls in _CODES:
                return _CODES[cls], str(exc)
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}"


R = TypeVar("R")
Handler = Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[R]]


def unary(handler: Handler[R]) -> Handler[R]:
    """Turn the errors of a unary handler into gRPC statuses with clear messages."""

    @functools.wraps(handler)
    async def wrapped(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        try:
            return await handler(self, request, context)
        except CoordinatorError as exc:
            code, message = status_of(exc)
            await context.abort(code, message)
        except Exception as exc:
            log.exception("bug in %s", handler.__name__)
            code, message = status_of(exc)
            await context.abort(code, message)
        raise AssertionError("unreachable: abort raises")

    return wrapped
