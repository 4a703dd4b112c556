"""The worker stream (WorkerService.Connect): registration, the link the core
dispatches through, the read loop, and replies to requests sent on the stream.

One `WorkerStream` serves one Connect call. The core writes to the worker only
through `StreamLink` (its `WorkerLink` port), which queues messages; only the
stream's response generator writes to the wire, numbering them by seq.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Mapping
from typing import Any

import grpc
from keel.v1 import worker_service_pb2 as wpb

from ..core.dispatch import StepTask, WorkerSession
from ..core.engine import Engine
from ..core.errors import InvalidArgument, Unavailable
from ..core.records import WorkflowRecord
from . import convert, requests
from .errors import status_logged

log = logging.getLogger(__name__)

_CLOSE = object()  # queued to end the stream from the coordinator's side

# A request that may also be sent on the stream (answered by a Reply with its
# seq): the body's field name -> the handler that serves its unary twin.
StreamCall = Callable[[Any], Awaitable[Any]]


class StreamLink:
    """Queues messages for one worker's stream; only the stream's handler writes.

    Flow control: the bytes queued and not yet written to the wire are counted;
    past `limit_bytes` the link is `congested` (the core assigns it nothing and
    the stream's reader stops reading requests) until the worker reads enough."""

    def __init__(self, limit_bytes: int = 4 * 1024 * 1024,
                 on_writable: Callable[[], None] | None = None) -> None:
        self.queue: asyncio.Queue[tuple[object, int]] = asyncio.Queue()
        self.close_reason = ""
        self.error: Exception | None = None  # ends the stream with its status
        self.limit_bytes = limit_bytes
        self.pending_bytes = 0
        self.on_writable = on_writable
        self._writable = asyncio.Event()
        self._writable.set()

    @property
    def congested(self) -> bool:
        return self.pending_bytes >= self.limit_bytes

    def _put(self, msg: wpb.CoordinatorMessage) -> None:
        size = msg.ByteSize()
        self.pending_bytes += size
        if self.congested:
            self._writable.clear()
        self.queue.put_nowait((msg, size))

    def written(self, size: int) -> None:
        """A message of `size` bytes went to the wire."""
        was = self.congested
        self.pending_bytes -= size
        if was and not self.congested:
            self._writable.set()
            if self.on_writable is not None:
                self.on_writable()

    async def wait_writable(self) -> None:
        await self._writable.wait()

    def send_workflow(self, wf: WorkflowRecord) -> None:
        self._put(convert.run_workflow(wf))

    def send_step(self, task: StepTask) -> None:
        self._put(convert.run_step(task))

    def send_revoke(self, workflow_id: str, epoch: int, reason: str) -> None:
        self._put(convert.revoke(workflow_id, epoch, reason))

    def close(self, reason: str) -> None:
        self.close_reason = reason
        self.queue.put_nowait((_CLOSE, 0))

    def fail(self, error: Exception) -> None:
        """End the stream with `error`'s status (the worker sent something bad)."""
        self.error = error
        self.queue.put_nowait((_CLOSE, 0))

    def reply(self, msg: wpb.CoordinatorMessage) -> None:
        """A CoordinatorMessage holding a Reply (built in place: no copy)."""
        self._put(msg)

    def end(self) -> None:
        """The worker closed its side: end ours too, unless the coordinator already did."""
        if not self.close_reason:
            self.queue.put_nowait((_CLOSE, 0))


# A batch is closed once it holds this much; a bigger message goes alone.
_BATCH_BYTES = 256 * 1024


class _Outbox:
    """What the stream writes next: the link's queued messages, numbered by
    seq, several in one CoordinatorBatch when the worker reads batches and
    more than one is ready (the replies of one group commit, say): one write
    and one read on each side instead of many."""

    def __init__(self, link: StreamLink, batches: bool) -> None:
        self.link = link
        self.batches = batches
        self.seq = 0
        self.sent_bytes = 0  # of the message `next` returned last
        self._held: tuple[object, int] | None = None  # taken off the queue, not yet sent

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    async def next(self) -> wpb.CoordinatorMessage | None:
        """The next message to write, or None once the stream is to end."""
        first, size = self._held or await self.link.queue.get()
        self._held = None
        if first is _CLOSE:
            return None
        assert isinstance(first, wpb.CoordinatorMessage)
        first.seq = self.next_seq()
        self.sent_bytes = size
        queue = self.link.queue
        if not self.batches or queue.empty() or size >= _BATCH_BYTES:
            return first
        batch = wpb.CoordinatorMessage()
        batch.batch.messages.append(first)
        while not queue.empty():
            msg, size = queue.get_nowait()
            if msg is _CLOSE or self.sent_bytes + size > _BATCH_BYTES:
                self._held = (msg, size)
                break
            assert isinstance(msg, wpb.CoordinatorMessage)
            msg.seq = self.next_seq()
            batch.batch.messages.append(msg)
            self.sent_bytes += size
        return batch


class WorkerStream:
    """Serves Connect calls for one engine."""

    def __init__(self, engine: Engine, coordinator_id: str, heartbeat_interval: float,
                 worker_timeout: float, calls: Mapping[str, StreamCall],
                 buffer_bytes: int = 4 * 1024 * 1024) -> None:
        self.engine = engine
        self.buffer_bytes = buffer_bytes
        self.coordinator_id = coordinator_id
        self.heartbeat_interval = heartbeat_interval
        self.worker_timeout = worker_timeout
        self.calls = calls
        self._tasks: set[asyncio.Task[None]] = set()  # referenced until done

    async def serve(
        self, messages: AsyncIterator[wpb.WorkerMessage]
    ) -> AsyncIterator[wpb.CoordinatorMessage]:
        """The coordinator's side of one stream; domain errors end it with their status."""
        try:
            # A silent peer must not hold a stream open forever before registering.
            first = await asyncio.wait_for(messages.__anext__(), self.worker_timeout)
        except (asyncio.TimeoutError, StopAsyncIteration):
            raise InvalidArgument("expected a register message first") from None
        link = StreamLink(self.buffer_bytes)
        reg = requests.register(first)
        session = requests.worker_session(reg, link)
        link.on_writable = lambda: self.engine.stream_writable(session)
        self.engine.register(session)
        reader = asyncio.create_task(self._read(messages, session, link, first.seq))
        out = _Outbox(link, reg.batches)
        try:
            yield wpb.CoordinatorMessage(seq=out.next_seq(), registered=convert.registered(
                self.coordinator_id, self.heartbeat_interval, self.worker_timeout))
            while (msg := await out.next()) is not None:
                yield msg  # returns once gRPC took it: a worker that does not read stalls here
                link.written(out.sent_bytes)
        finally:
            reader.cancel()
            self.engine.unregister(session)
        if link.error is not None:
            raise link.error
        if link.close_reason:
            raise Unavailable(f"stream closed: {link.close_reason}")

    async def _read(self, messages: AsyncIterator[wpb.WorkerMessage], session: WorkerSession,
                    link: StreamLink, last_seq: int) -> None:
        try:
            async for msg in messages:
                # Answers the worker does not read hold their requests back.
                await link.wait_writable()
                # Any message proves the worker alive, not only heartbeats.
                self.engine.heartbeat(session)
                if msg.WhichOneof("body") != "batch":
                    last_seq = self._handle(msg, session, link, last_seq)
                    continue
                for inner in msg.batch.messages:
                    if inner.WhichOneof("body") == "batch":
                        raise InvalidArgument("a batch may not hold a batch")
                    last_seq = self._handle(inner, session, link, last_seq)
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            pass
        except InvalidArgument as exc:  # a message that does not decode
            link.fail(exc)
        except Exception:
            log.exception("worker stream of %s failed", session.worker_id)
        finally:
            link.end()

    def _handle(self, msg: wpb.WorkerMessage, session: WorkerSession, link: StreamLink,
                last_seq: int) -> int:
        """Act on one message from the worker; the highest seq seen after it."""
        if msg.seq and msg.seq <= last_seq:
            return last_seq  # a resend we already handled
        body = msg.WhichOneof("body")
        if body in self.calls:
            # Served concurrently: a slow commit must not stall the heartbeats behind it.
            self._start(self._reply(link, msg, body))
        elif body == "drain":
            self.engine.drain(session)
        elif body == "register":
            raise InvalidArgument("register may only be the first message of a stream; "
                                  "open a new stream to register again")
        return msg.seq or last_seq

    def _start(self, call: Coroutine[Any, Any, None]) -> None:
        """Run `call` at once, up to its first wait, and in a task from there.

        A step's record on SQLite commits without waiting (group_commit.py):
        it is served whole here, without a task and a turn of the loop."""
        try:
            waiting_on = call.send(None)
        except StopIteration:
            return
        task = asyncio.ensure_future(_Resumed(call, waiting_on))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reply(self, link: StreamLink, msg: wpb.WorkerMessage, body: str) -> None:
        """Serve a request sent on the stream; answer with a Reply after the commit."""
        out = wpb.CoordinatorMessage()
        reply = out.reply
        reply.request_seq = msg.seq
        try:
            getattr(reply, body).CopyFrom(await self.calls[body](getattr(msg, body)))
        except Exception as exc:  # every failure becomes the status a unary call would get
            code, message = status_logged(exc, f"stream {body}")
            reply.error.code = code.value[0]
            reply.error.message = message
        link.reply(out)


class _Resumed(Coroutine[Any, Any, None]):
    """The rest of a call that `_start` ran up to its first wait, for a task to
    run: its first step hands the task what the call waits on; after that the
    task's sends (the wait is over) and throws (cancelled) go to the call."""

    def __init__(self, call: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        self._call = call
        self._first: Any = waiting_on
        self._started = False

    def send(self, value: Any) -> Any:
        if not self._started:
            self._started = True
            return self._first
        return self._call.send(value)

    def throw(self, *exc: Any) -> Any:
        if not self._started:  # cancelled before its first step: as a task cancels its wait
            self._started = True
            if isinstance(self._first, asyncio.Future):
                self._first.cancel()
        return self._call.throw(*exc)

    def close(self) -> None:
        self._call.close()

    def __await__(self) -> Generator[Any, None, None]:
        raise TypeError("run by a task only")
