"""The one mapping of domain errors to gRPC statuses, and the wrapping that applies it.

Handlers raise the core's domain errors (coordinator.core.errors) and never
catch them: every handler of our services is wrapped once, when registered
(`add_servicer`), to turn whatever escapes it into the status a client sees;
stream replies use the same `status_of`. (An interceptor did this at every
call, and its per-call chain of coroutines and handler objects cost every
unary call: see bench/FINDINGS.md.)
"""

from __future__ import annotations

import functools
import inspect
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from ..core.errors import (
    AlreadyExists,
    CoordinatorError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    StoreUnavailable,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger(__name__)

# Only the services we define; health and reflection keep gRPC's own behaviour.
SERVICE_PREFIX = "/keel.v1."

# Domain error class -> (status code, message). Looked up along the class's
# MRO, so a subclass maps like its nearest listed ancestor; StoreUnavailable has
# its own entry (found before its base's) to tell callers the retry is the store's.
# The base CoordinatorError is deliberately absent: raising it bare is a bug.
TABLE: dict[type[CoordinatorError], tuple[grpc.StatusCode, Callable[[BaseException], str]]] = {
    InvalidArgument: (grpc.StatusCode.INVALID_ARGUMENT, str),
    NotFound: (grpc.StatusCode.NOT_FOUND, str),
    AlreadyExists: (grpc.StatusCode.ALREADY_EXISTS, str),
    FailedPrecondition: (grpc.StatusCode.FAILED_PRECONDITION, str),
    ResourceExhausted: (grpc.StatusCode.RESOURCE_EXHAUSTED, str),
    StoreUnavailable: (grpc.StatusCode.UNAVAILABLE, lambda e: f"store unavailable, retry: {e}"),
    Unavailable: (grpc.StatusCode.UNAVAILABLE, str),
    Unauthenticated: (grpc.StatusCode.UNAUTHENTICATED, str),
    PermissionDenied: (grpc.StatusCode.PERMISSION_DENIED, str),
}


def _internal(exc: BaseException, request_id: str = "") -> str:
    rid = f" (request {request_id})" if request_id else ""
    return f"internal error{rid}: {type(exc).__name__}: {exc}"[:2000]


def _entry(exc: BaseException) -> tuple[grpc.StatusCode, Callable[[BaseException], str]] | None:
    for cls in type(exc).__mro__:
        if issubclass(cls, CoordinatorError) and cls in TABLE:
            return TABLE[cls]
    return None


def status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message a client gets for `exc`; INTERNAL unless the table lists it."""
    entry = _entry(exc)
    if entry is None:
        return grpc.StatusCode.INTERNAL, _internal(exc)
    code, message = entry
    return code, message(exc)


def is_bug(exc: BaseException) -> bool:
    """Whether the table does not list `exc`: a bug, worth a traceback in the log."""
    return _entry(exc) is None


def status_logged(exc: BaseException, where: str) -> tuple[grpc.StatusCode, str]:
    """`status_of(exc)`, logging the traceback of a bug; call it inside the `except`.
    A bug (INTERNAL) gets a request ID, in the log line and in the answer's message."""
    if is_bug(exc):
        request_id = uuid.uuid4().hex[:16]
        log.exception("bug in %s (request %s)", where, request_id)
        return grpc.StatusCode.INTERNAL, _internal(exc, request_id)
    return status_of(exc)


class _Undecodable:
    """Stands for request bytes that do not decode, so the handler can refuse them."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def refusal(self) -> InvalidArgument:
        return InvalidArgument(f"the request is not a valid protobuf message: {self.error}"[:500])


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """A request deserializer that hands undecodable bytes on as _Undecodable
    (gRPC would answer UNKNOWN with the exception's name)."""
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as exc:  # DecodeError, or invalid UTF-8 in a string field
            return _Undecodable(exc)

    return deserialize


def _checked(request: Any) -> Any:
    if isinstance(request, _Undecodable):
        raise request.refusal()
    return request


async def _checked_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        yield _checked(request)


async def _abort(context: grpc.aio.ServicerContext, exc: Exception, where: str) -> None:
    code, message = status_logged(exc, where)
    await context.abort(code, message)


def _wrap_unary(behavior: Callable[..., Awaitable[Any]], where: str) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(behavior)
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await behavior(_checked_request(request), context)
        except grpc.aio.AbortError:
            raise  # the handler (or gRPC) already chose the status
        except Exception as exc:
            await _abort(context, exc, where)
            raise AssertionError("unreachable: abort raises") from exc

    return wrapped


def _wrap_stream(behavior: Callable[..., Any], where: str) -> Callable[..., Any]:
    """Wrap a handler that yields its responses (an async generator function)."""
    if not inspect.isasyncgenfunction(behavior):
        # A handler that writes with context.write and returns: a coroutine.
        return _wrap_unary(behavior, where)

    @functools.wraps(behavior)
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async for response in behavior(_checked_request(request), context):
                yield response
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc, where)

    return wrapped


def _checked_request(request: Any) -> Any:
    """A unary request, checked; a stream of requests, checked as each is read."""
    if hasattr(request, "__aiter__"):
        return _checked_stream(request)
    return _checked(request)


def wrap_handler(method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """`handler` of `method` (/keel.v1.Service/Name) with the table applied:
    unary, server- and bidi-streaming; undecodable requests refused."""
    serde = {"request_deserializer": _tolerant(handler.request_deserializer),
             "response_serializer": handler.response_serializer}
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(_wrap_unary(handler.unary_unary, method), **serde)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(_wrap_stream(handler.unary_stream, method), **serde)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(_wrap_unary(handler.stream_unary, method), **serde)
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(_wrap_stream(handler.stream_stream, method), **serde)
    return handler


class _Registrar:
    """Stands for the server while a generated add_*Servicer_to_server
    registers a servicer: its method handlers reach the server wrapped."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self.server = server
        self.services: list[str] = []

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass  # made again below, from the wrapped method handlers

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        wrapped = {name: wrap_handler(f"/{service}/{name}", h) for name, h in handlers.items()}
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, wrapped),))
        self.server.add_registered_method_handlers(service, wrapped)
        self.services.append(service)


def add_servicer(add_to_server: Callable[[Any, Any], None], servicer: Any, server: grpc.aio.Server) -> None:
    """Register one of our servicers with add_to_server (generated), every
    handler wrapped with the table."""
    registrar = _Registrar(server)
    add_to_server(servicer, registrar)
    if not registrar.services:  # stubs of another grpcio-tools: register by hand here
        raise RuntimeError(f"{add_to_server.__name__} registered no method handlers")
