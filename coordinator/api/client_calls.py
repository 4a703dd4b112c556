"""ClientService.Calls: a client's calls multiplexed on one stream.

Each call is served by the unary handler of the same name, concurrently (an
await or a get_event may be held for a minute without holding back the calls
behind it); its answer, or the status the unary RPC would have ended with,
goes back with its id. Answers ready together are written together: one write
and one read on each side for many calls, which is what makes the stream
cheaper than a unary RPC per call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from keel.v1 import client_service_pb2 as cpb
from keel.v1 import worker_service_pb2 as wpb

from ..core.errors import InvalidArgument, ResourceExhausted
from .auth import STILL_VALID
from .errors import status_logged

# Calls in flight or answered but not yet written, on one stream; more are
# answered RESOURCE_EXHAUSTED (the Python client stays below and makes unary
# calls past it).
MAX_IN_FLIGHT = 4096
# A batch of answers is closed once it holds this much (well within the
# message limit); a bigger answer goes alone.
_BATCH_BYTES = 512 * 1024

Handler = Callable[[Any, Any], Awaitable[Any]]


class ClientCalls:
    """Serves Calls streams with `handlers`: the oneof field name of ClientCall
    -> the unary handler (request, context) of that RPC."""

    def __init__(self, handlers: dict[str, Handler]) -> None:
        self.handlers = handlers

    async def serve(self, requests: AsyncIterator[cpb.CallsRequest]) -> AsyncIterator[cpb.CallsResponse]:
        stream = _Stream(self.handlers)
        reader = asyncio.create_task(stream.read(requests))
        try:
            while (answers := await stream.next_answers()) is not None:
                yield answers
        finally:
            reader.cancel()
            stream.stop()
        if stream.error is not None:  # a request that did not decode: the stream's status
            raise stream.error


class _Stream:
    def __init__(self, handlers: dict[str, Handler]) -> None:
        self.handlers = handlers
        self.in_flight: dict[int, asyncio.Task[None]] = {}
        self.ready: asyncio.Queue[cpb.ClientAnswer | None] = asyncio.Queue()
        self._held: cpb.ClientAnswer | None = None  # taken off `ready`, not yet written
        self._ended = False
        self.error: Exception | None = None

    async def read(self, requests: AsyncIterator[cpb.CallsRequest]) -> None:
        """Start each call as it arrives; once the client half-closes, end
        the stream when the last answer is out."""
        try:
            async for request in requests:
                for call_id in request.cancel:
                    task = self.in_flight.pop(call_id, None)
                    if task is not None:
                        task.cancel()
                for call in request.calls:
                    self._start(call)
            while self.in_flight:
                await asyncio.wait(list(self.in_flight.values()))
        except InvalidArgument as exc:
            self.error = exc
        finally:
            self.ready.put_nowait(None)

    def _start(self, call: cpb.ClientCall) -> None:
        kind = call.WhichOneof("call")
        if call.id in self.in_flight:  # an answer would be ambiguous: the client's bug ends its stream
            raise InvalidArgument(f"call id {call.id} is already in flight on this stream")
        if kind is None:
            self._answer_error(call.id, InvalidArgument(
                f"call {call.id} names no request: set one of {', '.join(self.handlers)}"))
        elif len(self.in_flight) + self.ready.qsize() >= MAX_IN_FLIGHT:  # answers unread count too
            self._answer_error(call.id, ResourceExhausted(
                f"{MAX_IN_FLIGHT} calls are in flight on this stream: wait for answers, or open another"))
        else:
            task = asyncio.create_task(self._serve(call.id, kind, getattr(call, kind)))
            self.in_flight[call.id] = task

    async def _serve(self, call_id: int, kind: str, request: Any) -> None:
        answer = cpb.ClientAnswer(id=call_id)
        try:
            if (still_valid := STILL_VALID.get()) is not None:
                await still_valid()  # a revoked token's calls end as its unary calls do
            getattr(answer, kind).CopyFrom(await self.handlers[kind](request, None))
        except asyncio.CancelledError:
            return  # the client gave up on it: no answer
        except Exception as exc:  # the status the unary RPC would have ended with
            code, message = status_logged(exc, f"Calls {kind}")
            answer.error.CopyFrom(wpb.CallError(code=code.value[0], message=message))
        finally:
            # (A cancelled call's id may already be in flight again, a new call's.)
            if self.in_flight.get(call_id) is asyncio.current_task():
                del self.in_flight[call_id]
        self.ready.put_nowait(answer)

    def _answer_error(self, call_id: int, exc: Exception) -> None:
        code, message = status_logged(exc, "Calls")
        self.ready.put_nowait(cpb.ClientAnswer(id=call_id, error=wpb.CallError(
            code=code.value[0], message=message)))

    async def next_answers(self) -> cpb.CallsResponse | None:
        """The answers ready now (at least one), or None once the stream ends."""
        if self._held is not None:
            first, self._held = self._held, None
        elif self._ended:
            return None
        elif (first := await self.ready.get()) is None:
            return None
        batch = cpb.CallsResponse(answers=[first])
        size = first.ByteSize()
        while not self.ready.empty() and size < _BATCH_BYTES:
            answer = self.ready.get_nowait()
            if answer is None:
                self._ended = True
                break
            if size + answer.ByteSize() > _BATCH_BYTES:
                self._held = answer
                break
            batch.answers.append(answer)
            size += answer.ByteSize()
        return batch

    def stop(self) -> None:
        for task in self.in_flight.values():
            task.cancel()
        self.in_flight.clear()
