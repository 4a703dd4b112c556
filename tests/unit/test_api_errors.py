"""The one table of domain errors -> gRPC statuses, and the interceptor that applies it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from coordinator.api import errors
from coordinator.core.errors import (
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

C = grpc.StatusCode


@pytest.mark.parametrize(("exc", "code", "message"), [
    (InvalidArgument("bad name"), C.INVALID_ARGUMENT, "bad name"),
    (NotFound("workflow 'x' not found"), C.NOT_FOUND, "workflow 'x' not found"),
    (FailedPrecondition("stale epoch"), C.FAILED_PRECONDITION, "stale epoch"),
    (ResourceExhausted("over the limit"), C.RESOURCE_EXHAUSTED, "over the limit"),
    (Unavailable("draining"), C.UNAVAILABLE, "draining"),
    (StoreUnavailable("connection refused"), C.UNAVAILABLE, "store unavailable, retry: connection refused"),
    (Unauthenticated("unknown token"), C.UNAUTHENTICATED, "unknown token"),
    (PermissionDenied("needs role client"), C.PERMISSION_DENIED, "needs role client"),
])
def test_each_domain_error_maps_to_its_status(exc: Exception, code: C, message: str) -> None:
    assert errors.status_of(exc) == (code, message)
    assert not errors.is_bug(exc)


def test_a_subclass_maps_like_its_nearest_listed_ancestor() -> None:
    class StaleLease(FailedPrecondition):
        pass

    assert errors.status_of(StaleLease("lost")) == (C.FAILED_PRECONDITION, "lost")


@pytest.mark.parametrize("exc", [KeyError("k"), ValueError("v"), CoordinatorError("unlisted base")])
def test_anything_else_is_internal_naming_its_type(exc: Exception) -> None:
    code, message = errors.status_of(exc)
    assert code == C.INTERNAL
    assert message == f"internal error: {type(exc).__name__}: {exc}"
    assert errors.is_bug(exc)


def test_every_domain_error_class_is_in_the_table() -> None:
    listed = {InvalidArgument, NotFound, FailedPrecondition, ResourceExhausted, Unavailable, StoreUnavailable,
              Unauthenticated, PermissionDenied, AlreadyExists}
    assert set(errors.TABLE) == listed


class Aborted(Exception):
    pass


class FakeContext:
    """Records what abort was called with; raises like grpc.aio's abort."""

    def __init__(self) -> None:
        self.status: tuple[C, str] | None = None

    async def abort(self, code: C, message: str) -> None:
        self.status = (code, message)
        raise Aborted


def test_unary_wrapper_aborts_with_the_mapped_status() -> None:
    async def handler(request: Any, context: Any) -> Any:
        raise NotFound(f"workflow {request!r} not found")

    context = FakeContext()
    with pytest.raises(Aborted):
        asyncio.run(errors._wrap_unary(handler, "/keel.v1.X/Get")("nope", context))
    assert context.status == (C.NOT_FOUND, "workflow 'nope' not found")


def test_stream_wrapper_aborts_after_what_was_sent(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(request: Any, context: Any) -> AsyncIterator[int]:
        yield 1
        raise RuntimeError("boom")

    async def collect(context: FakeContext) -> list[int]:
        got = []
        try:
            async for item in errors._wrap_stream(handler, "/keel.v1.X/Watch")(None, context):
                got.append(item)
        except Aborted:
            pass
        return got

    context = FakeContext()
    assert asyncio.run(collect(context)) == [1]
    code, message = context.status
    # The answer carries a request ID; the log names the method and the same ID.
    match = re.fullmatch(r"internal error \(request ([0-9a-f]{16})\): RuntimeError: boom", message)
    assert code == C.INTERNAL and match is not None, message
    assert f"bug in /keel.v1.X/Watch (request {match.group(1)})" in caplog.text
    assert "Traceback" in caplog.text
