"""Who may call what: the role table of every RPC, and the interceptor that
checks each call's bearer token against it (installed with --require-auth).

A call to one of our services must carry `authorization: Bearer <secret>`
metadata. No, unknown, revoked or expired token: UNAUTHENTICATED, before the
handler runs, so such a caller learns nothing (not even whether a workflow
exists). A valid token whose role lacks the right: PERMISSION_DENIED, naming
the role needed. `admin` may call everything. Health checking and reflection
stay open (load balancers, tooling). A long call (the worker stream, a watch)
is checked again every `RECHECK` seconds and ended with UNAUTHENTICATED once
its token is revoked or expires.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import Any

import grpc

from ..core.errors import CoordinatorError, PermissionDenied, Unauthenticated
from ..core.records import Role, TokenRecord
from ..core.tokens import CALLER, Tokens
from .errors import SERVICE_PREFIX, status_of

log = logging.getLogger(__name__)

_CLIENT = "/keel.v1.ClientService/"
_WORKER = "/keel.v1.WorkerService/"

# Every RPC of our services -> the role it needs (besides admin, which may call
# anything). An RPC missing here is refused to every role but admin; the test
# of this table fails when a service gains an RPC without a row.
ROLES: dict[str, Role] = {
    **{_CLIENT + rpc: Role.CLIENT for rpc in (
        "StartWorkflow", "GetWorkflow", "AwaitWorkflow", "ListWorkflows", "ListSteps", "GetEvent",
        "WatchEvents", "Send", "CancelWorkflow", "ResumeWorkflow", "ForkWorkflow", "SetSchedule",
        "DeleteSchedule", "ListSchedules", "PauseSchedule", "ResumeSchedule",
        "SetQueue", "GetQueue", "ListQueues", "Enqueue", "Calls")},
    **{_WORKER + rpc: Role.WORKER for rpc in (
        "Connect", "GetHistory", "RecordStep", "ScheduleStep", "Select", "SetEvent", "ReadEvent",
        "SendMessage", "ReceiveMessage", "Sleep", "Park", "FinishWorkflow", "EnqueueWorkflow")},
    # Select over anything (issue 11).
    **{_WORKER + rpc: Role.WORKER for rpc in ("StartChildWorkflow", "StartWait")},
}

RECHECK = 0.5  # seconds between checks of a long call's token

# Set for a long call (and the tasks it starts) when tokens are required:
# raises Unauthenticated once the call's token is no longer valid. The Calls
# stream awaits it before each call, as each unary call is checked.
STILL_VALID: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar("keel_still_valid", default=None)


def bearer(metadata: Sequence[tuple[str, Any]] | None) -> str:
    """The secret of an `authorization: Bearer <secret>` entry; "" if none."""
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode() if isinstance(value, bytes) else str(value)
            scheme, _, secret = text.strip().partition(" ")
            return secret.strip() if scheme.lower() == "bearer" else ""
    return ""


def check_role(caller: TokenRecord, method: str) -> None:
    needed = ROLES.get(method, Role.ADMIN)
    if caller.role is Role.ADMIN or caller.role is needed:
        return
    rpc = method.rsplit("/", 1)[-1]
    raise PermissionDenied(
        f"{rpc} needs a token with role {needed.value} (or admin); token {caller.name!r} has role "
        f"{caller.role.value}")


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Checks the token of every call to our services (see the module doc)."""

    def __init__(self, tokens: Tokens, recheck: float = RECHECK) -> None:
        self.tokens = tokens
        self.recheck = recheck

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or not method.startswith(SERVICE_PREFIX):
            return handler
        try:
            caller = await self.tokens.authenticate(bearer(handler_call_details.invocation_metadata))
            check_role(caller, method)
        except CoordinatorError as exc:
            if isinstance(exc, Unauthenticated | PermissionDenied):
                log.info("refused %s: %s", method, exc)
            refusal = _refuse(exc)
            return _wrapped(handler, lambda behavior: refusal)
        if handler.unary_stream is not None or handler.stream_stream is not None:
            return _wrapped(handler, lambda behavior: self._long(behavior, caller))
        return _wrapped(handler, lambda behavior: _as_caller(behavior, caller))

    def _long(self, behavior: Callable[..., Any], caller: TokenRecord) -> Callable[..., Any]:
        """A streaming handler run as `caller`, ended once its token is no longer valid."""

        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            CALLER.set(caller)  # this call's task (and the tasks it starts) only
            STILL_VALID.set(functools.partial(self._still_valid, caller))
            task = asyncio.current_task()
            assert task is not None
            watcher = asyncio.create_task(self._watch(caller, context, task))
            try:
                async for response in behavior(request, context):
                    yield response
            finally:
                watcher.cancel()

        return guarded

    async def _still_valid(self, caller: TokenRecord) -> None:
        try:
            valid = await self.tokens.still_valid(caller)
        except CoordinatorError:
            return  # the store is unreachable: as the watch below, keep serving
        if not valid:
            raise Unauthenticated(f"token {caller.name!r} was revoked or expired")

    async def _watch(self, caller: TokenRecord, context: grpc.aio.ServicerContext,
                     task: asyncio.Task[Any]) -> None:
        while True:
            await asyncio.sleep(self.recheck)
            try:
                if await self.tokens.still_valid(caller):
                    continue
            except CoordinatorError:
                continue  # the store is unreachable: keep the call, look again
            log.info("ending a call of token %r: revoked or expired", caller.name)
            try:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                                    f"token {caller.name!r} was revoked or expired")
            except Exception:  # AbortError: the status is sent
                pass
            task.cancel()
            return


def _as_caller(behavior: Callable[..., Awaitable[Any]], caller: TokenRecord) -> Callable[..., Awaitable[Any]]:
    async def as_caller(request: Any, context: grpc.aio.ServicerContext) -> Any:
        reset = CALLER.set(caller)
        try:
            return await behavior(request, context)
        finally:
            CALLER.reset(reset)

    return as_caller


def _refuse(exc: BaseException) -> Callable[..., Awaitable[Any]]:
    code, message = status_of(exc)

    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(code, message)

    return refuse


def _wrapped(handler: grpc.RpcMethodHandler,
             wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> grpc.RpcMethodHandler:
    """The same kind of handler, its behavior wrapped."""
    serde = {"request_deserializer": handler.request_deserializer,
             "response_serializer": handler.response_serializer}
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(wrap(handler.unary_unary), **serde)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(wrap(handler.unary_stream), **serde)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(wrap(handler.stream_unary), **serde)
    return grpc.stream_stream_rpc_method_handler(wrap(handler.stream_stream), **serde)
