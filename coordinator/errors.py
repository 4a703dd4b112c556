"""Domain errors of the coordinator, and their one mapping to gRPC status codes."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from .store import StoreUnavailable

log = logging.getLogger(__name__)


class CoordinatorError(Exception):
    """Base of the errors a caller can act on; `code` is the gRPC status."""

    code = grpc.StatusCode.INTERNAL


class InvalidArgument(CoordinatorError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(CoordinatorError):
    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(CoordinatorError):
    """Also used for a stale lease: the caller's execution must stop."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(CoordinatorError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(CoordinatorError):
    code = grpc.StatusCode.UNAVAILABLE


def status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, CoordinatorError):
        return exc.code, str(exc)
    if isinstance(exc, StoreUnavailable):
        return grpc.StatusCode.UNAVAILABLE, f"store unavailable, retry: {exc}"
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}"


R = TypeVar("R")
Handler = Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[R]]


def unary(handler: Handler[R]) -> Handler[R]:
    """Turn the errors of a unary handler into gRPC statuses with clear messages."""

    @functools.wraps(handler)
    async def wrapped(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        try:
            return await handler(self, request, context)
        except (CoordinatorError, StoreUnavailable) as exc:
            code, message = status_of(exc)
            await context.abort(code, message)
        except Exception as exc:
            log.exception("bug in %s", handler.__name__)
            code, message = status_of(exc)
            await context.abort(code, message)
        raise AssertionError("unreachable: abort raises")

    return wrapped
