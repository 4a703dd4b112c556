"""A client's calls multiplexed on one ClientService.Calls stream.

A unary RPC costs both sides a call set-up and three writes; on the stream a
call is one entry of a message, and calls made at once by many threads share
a message each way. Each call waits for the answer carrying its id. The
stream's end fails every call in flight with its status (UNAVAILABLE, so the
one retry policy of _transport.py repeats them, on a new stream, on the
current coordinator); a call's own error is raised as the unary RPC would
have raised it. A coordinator without Calls (UNIMPLEMENTED) gets unary RPCs
from then on, and so does a call made while the stream is full.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from keel.v1 import client_service_pb2 as cpb
from keel.v1 import client_service_pb2_grpc as cgrpc

from ._errors import status_code
from ._transport import Endpoints

# Calls in flight on one stream (the coordinator answers RESOURCE_EXHAUSTED
# past 4096); a call beyond it is made as a unary RPC.
MAX_IN_FLIGHT = 2048
# A message of calls is closed at this size (the message limit is 4 MiB); a
# bigger call goes alone.
_BATCH_BYTES = 512 * 1024


class AnswerError(grpc.RpcError):
    """A call's error answer, or the end of its stream, as the unary RPC
    would have raised it (so CoordinatorError.from_rpc reads it alike)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self._code = code
        self._details = details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


class _Unsupported(Exception):
    """The coordinator has no Calls: use the unary RPC."""


class _Waiting:
    """One call waiting for its answer."""

    __slots__ = ("done", "answer", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: cpb.ClientAnswer | None = None
        self.error: BaseException | None = None


class _Link:
    """One Calls stream to one coordinator, its reader thread, its calls in flight."""

    def __init__(self, index: int, channel: grpc.Channel) -> None:
        self.index = index
        self.outgoing: queue.SimpleQueue[cpb.ClientCall | int | None] = queue.SimpleQueue()
        self.waiting: dict[int, _Waiting] = {}
        self.lock = threading.Lock()
        self.ended: BaseException | None = None
        self._ids = itertools.count(1)
        self._responses = cgrpc.ClientServiceStub(channel).Calls(self._requests())
        threading.Thread(target=self._read, name="keel-client-calls", daemon=True).start()

    def call(self, kind: str, request: Any, timeout: float | None) -> Any:
        """The response to `request` (a request of the unary RPC `kind` names),
        or None when the stream is full."""
        waiting = _Waiting()
        with self.lock:
            if self.ended is not None:
                raise self.ended
            if len(self.waiting) >= MAX_IN_FLIGHT:
                return None
            call_id = next(self._ids)
            self.waiting[call_id] = waiting
        call = cpb.ClientCall(id=call_id)
        getattr(call, kind).CopyFrom(request)
        self.outgoing.put(call)
        if not waiting.done.wait(timeout):
            with self.lock:
                gave_up = self.waiting.pop(call_id, None) is not None
            if gave_up:
                self.outgoing.put(call_id)  # cancel it: its answer is not wanted any more
                raise AnswerError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
            waiting.done.wait()  # answered meanwhile
        if waiting.error is not None:
            raise waiting.error
        answer = waiting.answer
        assert answer is not None
        if answer.WhichOneof("answer") == "error":
            raise AnswerError(status_code(answer.error.code), answer.error.message)
        return getattr(answer, kind)

    def _requests(self) -> Iterator[cpb.CallsRequest]:
        """What gRPC sends: every call and cancel queued, in as few messages as fit."""
        while (item := self.outgoing.get()) is not None:
            batch, size = cpb.CallsRequest(), 0
            while item is not None:
                if isinstance(item, int):
                    batch.cancel.append(item)
                else:
                    batch.calls.append(item)
                    size += item.ByteSize()
                if size >= _BATCH_BYTES:
                    break
                try:
                    item = self.outgoing.get_nowait()
                except queue.Empty:
                    break
            yield batch
            if item is None:
                return

    def _read(self) -> None:
        ended: BaseException
        try:
            for response in self._responses:
                for answer in response.answers:
                    with self.lock:
                        waiting = self.waiting.pop(answer.id, None)
                    if waiting is not None:
                        waiting.answer = answer
                        waiting.done.set()
            ended = AnswerError(grpc.StatusCode.UNAVAILABLE, "the coordinator ended the call stream")
        except grpc.RpcError as err:
            code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
            details = err.details() if hasattr(err, "details") else str(err)
            ended = _Unsupported() if code == grpc.StatusCode.UNIMPLEMENTED else AnswerError(code, details)
        except BaseException as err:  # keep the callers from waiting for ever
            ended = AnswerError(grpc.StatusCode.UNKNOWN, f"the call stream failed: {err!r}")
        with self.lock:
            self.ended = ended
            stranded, self.waiting = list(self.waiting.values()), {}
        for waiting in stranded:
            waiting.error = ended
            waiting.done.set()
        self.outgoing.put(None)

    def close(self) -> None:
        """Send no more; the calls in flight are still answered."""
        self.outgoing.put(None)

    def cancel(self) -> None:
        self._responses.cancel()


class CallStream:
    """The client's Calls stream to the current coordinator, opened at the
    first call, opened again after it ended or the current coordinator changed."""

    def __init__(self, endpoints: Endpoints) -> None:
        self._endpoints = endpoints
        self._lock = threading.Lock()
        self._link: _Link | None = None
        self._supported = True

    def method(self, kind: str, unary: Callable[..., Any]) -> Callable[..., Any]:
        """A callable like a unary stub method, `(request, timeout=)`, making the
        call `kind` (the field of ClientCall) on the stream, else with `unary`."""

        def invoke(request: Any, timeout: float | None = None) -> Any:
            link = self._current()
            if link is not None:
                try:
                    response = link.call(kind, request, timeout)
                except _Unsupported:
                    with self._lock:
                        self._supported = False
                except AnswerError as err:
                    if err.code() == grpc.StatusCode.UNAVAILABLE:
                        self._endpoints.failed(link.index)
                    raise
                else:
                    if response is not None:
                        return response
            return unary(request, timeout=timeout)

        return invoke

    def _current(self) -> _Link | None:
        with self._lock:
            if not self._supported:
                return None
            index, channel = self._endpoints.current()
            link = self._link
            if link is None or link.ended is not None or link.index != index:
                if link is not None:
                    link.close()
                link = self._link = _Link(index, channel)
            return link

    def close(self) -> None:
        with self._lock:
            link, self._link = self._link, None
        if link is not None:
            link.close()
            link.cancel()
