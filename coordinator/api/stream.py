"""The worker stream (WorkerService.Connect): registration, the link the core
dispatches through, the read loop, and replies to requests sent on the stream.

One `WorkerStream` serves one Connect call. The core writes to the worker only
through `StreamLink` (its `WorkerLink` port), which queues messages; only the
stream's response generator writes to the wire, numbering them by seq.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
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
    """Queues messages for one worker's stream; only the stream's handler writes."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.close_reason = ""

    def send_workflow(self, wf: WorkflowRecord) -> None:
        self.queue.put_nowait(convert.run_workflow(wf))

    def send_step(self, task: StepTask) -> None:
        self.queue.put_nowait(convert.run_step(task))

    def send_revoke(self, workflow_id: str, epoch: int, reason: str) -> None:
        self.queue.put_nowait(convert.revoke(workflow_id, epoch, reason))

    def close(self, reason: str) -> None:
        self.close_reason = reason
        self.queue.put_nowait(_CLOSE)

    def reply(self, reply: wpb.Reply) -> None:
        self.queue.put_nowait(wpb.CoordinatorMessage(reply=reply))

    def end(self) -> None:
        """The worker closed its side: end ours too, unless the coordinator already did."""
        if not self.close_reason:
            self.queue.put_nowait(_CLOSE)


class WorkerStream:
    """Serves Connect calls for one engine."""

    def __init__(self, engine: Engine, coordinator_id: str, heartbeat_interval: float,
                 worker_timeout: float, calls: Mapping[str, StreamCall]) -> None:
        self.engine = engine
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
        link = StreamLink()
        session = requests.worker_session(requests.register(first), link)
        self.engine.register(session)
        reader = asyncio.create_task(self._read(messages, session, link, first.seq))
        seq = 1
        try:
            yield wpb.CoordinatorMessage(seq=seq, registered=convert.registered(
                self.coordinator_id, self.heartbeat_interval, self.worker_timeout))
            while True:
                msg = await link.queue.get()
                if msg is _CLOSE:
                    break
                assert isinstance(msg, wpb.CoordinatorMessage)
                seq += 1
                msg.seq = seq
                yield msg
        finally:
            reader.cancel()
            self.engine.unregister(session)
        if link.close_reason:
            raise Unavailable(f"stream closed: {link.close_reason}")

    async def _read(self, messages: AsyncIterator[wpb.WorkerMessage], session: WorkerSession,
                    link: StreamLink, last_seq: int) -> None:
        try:
            async for msg in messages:
                if msg.seq and msg.seq <= last_seq:
                    continue  # a resend we already handled
                last_seq = msg.seq or last_seq
                # Any message proves the worker alive, not only heartbeats.
                self.engine.heartbeat(session)
                body = msg.WhichOneof("body")
                if body in self.calls:
                    # Served concurrently: a slow commit must not stall the heartbeats behind it.
                    task = asyncio.create_task(self._reply(link, msg, body))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                elif body == "drain":
                    self.engine.drain(session)
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            pass
        except Exception:
            log.exception("worker stream of %s failed", session.worker_id)
        finally:
            link.end()

    async def _reply(self, link: StreamLink, msg: wpb.WorkerMessage, body: str) -> None:
        """Serve a request sent on the stream; answer with a Reply after the commit."""
        reply = wpb.Reply(request_seq=msg.seq)
        try:
            getattr(reply, body).CopyFrom(await self.calls[body](getattr(msg, body)))
        except Exception as exc:  # every failure becomes the status a unary call would get
            code, message = status_logged(exc, f"stream {body}")
            reply.error.CopyFrom(wpb.CallError(code=code.value[0], message=message))
        link.reply(reply)
