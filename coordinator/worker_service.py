"""WorkerService: the assignment stream and the calls of running workflows."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from keel.v1 import worker_service_pb2 as wpb
from keel.v1 import worker_service_pb2_grpc as wgrpc

from . import convert
from .core.dispatch import StepTask, WorkerSession
from .core.engine import Engine
from .core.records import NewStep, StepKind, Value, Wait, WaitKind, WorkflowRecord
from .errors import CoordinatorError, InvalidArgument, status_of, unary
from .settings import Settings
from .validation import (
    check_arguments,
    check_name,
    check_payload,
    check_topic,
    check_workflow_id,
    duration_ms,
)

log = logging.getLogger(__name__)

MAX_SLOTS = 100_000
_CLOSE = object()  # queued to end the stream from the coordinator's side


class StreamLink:
    """Queues messages for one worker's stream; only the stream's handler writes."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.close_reason = ""

    def send_workflow(self, wf: WorkflowRecord) -> None:
        self.queue.put_nowait(wpb.CoordinatorMessage(run_workflow=wpb.WorkflowAssignment(
            workflow_id=wf.workflow_id,
            name=wf.name,
            input=convert.payload(wf.input),
            epoch=wf.epoch,
            has_history=wf.step_seq > 0,
            created_at=convert.timestamp(wf.created_at),
        )))

    def send_step(self, task: StepTask) -> None:
        self.queue.put_nowait(wpb.CoordinatorMessage(run_step=wpb.StepAssignment(
            workflow_id=task.workflow_id,
            epoch=task.epoch,
            step_number=task.step_number,
            name=task.name,
            input=convert.payload(task.input),
            attempt=task.attempt,
        )))

    def send_revoke(self, workflow_id: str, epoch: int, reason: str) -> None:
        self.queue.put_nowait(wpb.CoordinatorMessage(
            revoke=wpb.Revoke(workflow_id=workflow_id, epoch=epoch, reason=reason)))

    def close(self, reason: str) -> None:
        self.close_reason = reason
        self.queue.put_nowait(_CLOSE)


MAX_HOLD_MS = 60_000


def _check_step_call(request: Any) -> None:
    """Fields every durable operation of a running workflow carries."""
    check_workflow_id(request.workflow_id)
    if request.step_number < 0:
        raise InvalidArgument("step_number must not be negative")


def _duration(seconds: float) -> Duration:
    d = Duration()
    d.FromMilliseconds(int(seconds * 1000))
    return d


class WorkerServicer(wgrpc.WorkerServiceServicer):
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._tasks: set[asyncio.Task[None]] = set()

    def _session(self, reg: wpb.Register, link: StreamLink) -> WorkerSession:
        check_workflow_id(reg.worker_id, "register.worker_id")
        for name in [*reg.workflows, *reg.steps]:
            check_name(name, "registered name")
        if not 0 <= reg.workflow_slots <= MAX_SLOTS or not 0 <= reg.step_slots <= MAX_SLOTS:
            raise InvalidArgument(f"slots must be between 0 and {MAX_SLOTS}")
        if reg.workflows and reg.workflow_slots < 1:
            raise InvalidArgument("a worker that serves workflows needs workflow_slots >= 1")
        if reg.steps and reg.step_slots < 1:
            raise InvalidArgument("a worker that serves steps needs step_slots >= 1")
        return WorkerSession(
            worker_id=reg.worker_id,
            workflows=frozenset(reg.workflows),
            steps=frozenset(reg.steps),
            workflow_slots=reg.workflow_slots,
            step_slots=reg.step_slots,
            link=link,
        )

    async def Connect(
        self, request_iterator: AsyncIterator[wpb.WorkerMessage], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[wpb.CoordinatorMessage]:
        try:
            first = await asyncio.wait_for(request_iterator.__anext__(), self.settings.worker_timeout)
        except (asyncio.TimeoutError, StopAsyncIteration):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "expected a register message first")
            return
        if first.WhichOneof("body") != "register":
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"the first message must be register, got {first.WhichOneof('body')}",
            )
        link = StreamLink()
        try:
            session = self._session(first.register, link)
        except InvalidArgument as e:
            await context.abort(*status_of(e))
            return
        self.engine.register(session)
        reader = asyncio.create_task(self._read(request_iterator, session, link, first.seq))
        seq = 1
        try:
            yield wpb.CoordinatorMessage(seq=seq, registered=wpb.Registered(
                coordinator_id=self.settings.node_id,
                heartbeat_interval=_duration(self.settings.heartbeat_interval),
                lease_timeout=_duration(self.settings.worker_timeout),
            ))
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
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"stream closed: {link.close_reason}")

    async def _read(
        self, requests: AsyncIterator[wpb.WorkerMessage], session: WorkerSession,
        link: StreamLink, last_seq: int,
    ) -> None:
        try:
            async for msg in requests:
                if msg.seq and msg.seq <= last_seq:
                    continue  # a resend we already handled
                last_seq = msg.seq or last_seq
                self.engine.heartbeat(session)
                body = msg.WhichOneof("body")
                if body in ("record_step", "finish_workflow", "set_event"):
                    task = asyncio.create_task(self._reply(link, msg.seq, msg))
                    self._tasks.add(task)  # keep a reference until it is done
                    task.add_done_callback(self._tasks.discard)
                elif body == "drain":
                    self.engine.drain(session)
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            pass
        except Exception:
            log.exception("worker stream of %s failed", session.worker_id)
        finally:
            # The worker closed its side: end ours too, which unregisters it.
            if not link.close_reason:
                link.queue.put_nowait(_CLOSE)

    @unary
    async def GetHistory(
        self, request: wpb.GetHistoryRequest, context: grpc.aio.ServicerContext
    ) -> wpb.GetHistoryResponse:
        check_workflow_id(request.workflow_id)
        limit = request.page_size if 0 < request.page_size <= 1000 else 1000
        steps, more = await self.engine.get_history(request.workflow_id, request.after_step_number, limit)
        response = wpb.GetHistoryResponse()
        budget = self.settings.max_message_bytes // 2
        for step in steps:
            msg = convert.step_record(step)
            budget -= msg.ByteSize()
            if budget < 0 and response.steps:
                more = True
                break
            response.steps.append(msg)
        response.more = more
        return response

    @unary
    async def RecordStep(
        self, request: wpb.RecordStepRequest, context: grpc.aio.ServicerContext
    ) -> wpb.RecordStepResponse:
        return await self.record_step(request)

    async def record_step(self, request: wpb.RecordStepRequest) -> wpb.RecordStepResponse:
        """RecordStep, served as a unary call and on the stream."""
        check_workflow_id(request.workflow_id)
        check_name(request.name, "step name")
        if request.step_number < 0 or request.attempt < 0:
            raise InvalidArgument("step_number and attempt must not be negative")
        now = self.engine.clock.now_ms()
        started = request.started_at.ToMilliseconds() if request.HasField("started_at") else now
        record = await self.engine.record_step(NewStep(
            workflow_id=request.workflow_id,
            epoch=request.epoch,
            step_number=request.step_number,
            name=request.name,
            kind=StepKind.STEP,
            outcome=convert.outcome_from(request, self.settings.max_payload_bytes),
            attempt=request.attempt,
            started_at=started,
            completed_at=now,
        ))
        return wpb.RecordStepResponse(step=convert.step_record(record))

    @unary
    async def ScheduleStep(
        self, request: wpb.ScheduleStepRequest, context: grpc.aio.ServicerContext
    ) -> wpb.ScheduleStepResponse:
        check_workflow_id(request.workflow_id)
        check_name(request.name, "step name")
        if request.step_number < 0:
            raise InvalidArgument("step_number must not be negative")
        value = check_arguments(
            request.input.encoding, request.input.data, "input", self.settings.max_payload_bytes
        )
        record = await self.engine.schedule_step(
            request.workflow_id, request.epoch, request.step_number, request.name, value
        )
        return wpb.ScheduleStepResponse(step=convert.step_record(record))

    @unary
    async def Select(
        self, request: wpb.SelectRequest, context: grpc.aio.ServicerContext
    ) -> wpb.SelectResponse:
        check_workflow_id(request.workflow_id)
        candidates = list(request.candidates)
        if not candidates:
            raise InvalidArgument("select needs at least one candidate step")
        if len(set(candidates)) != len(candidates):
            raise InvalidArgument(f"select candidates repeat a step number: {candidates[:20]}")
        if not all(0 <= c < request.step_number for c in candidates):
            raise InvalidArgument(
                f"select candidates must be earlier steps (0..{request.step_number - 1}), "
                f"got {candidates[:20]}"
            )
        record = await self.engine.select(
            request.workflow_id, request.epoch, request.step_number, candidates
        )
        return wpb.SelectResponse(step=convert.step_record(record))

    def _value(self, p: Any, what: str) -> Value:
        return check_payload(p.encoding, p.data, what, self.settings.max_payload_bytes)

    @unary
    async def SetEvent(
        self, request: wpb.SetEventRequest, context: grpc.aio.ServicerContext
    ) -> wpb.SetEventResponse:
        return await self.set_event(request)

    async def set_event(self, request: wpb.SetEventRequest) -> wpb.SetEventResponse:
        """SetEvent, served as a unary call and on the stream."""
        _check_step_call(request)
        record = await self.engine.set_event(
            request.workflow_id, request.epoch, request.step_number,
            check_workflow_id(request.key, "key"), self._value(request.value, "value"),
        )
        return wpb.SetEventResponse(step=convert.step_record(record))

    @unary
    async def ReadEvent(
        self, request: wpb.ReadEventRequest, context: grpc.aio.ServicerContext
    ) -> wpb.ReadEventResponse:
        _check_step_call(request)
        result = await self.engine.read_event(
            request.workflow_id, request.epoch, request.step_number,
            check_workflow_id(request.target_workflow_id, "target_workflow_id"),
            check_workflow_id(request.key, "key"),
            duration_ms(request.timeout, "timeout", request.HasField("timeout"), 60_000),
            duration_ms(request.hold, "hold", request.HasField("hold"), 0, MAX_HOLD_MS),
        )
        if isinstance(result, int):
            return wpb.ReadEventResponse(waiting_until=convert.timestamp(result))
        return wpb.ReadEventResponse(step=convert.step_record(result))

    @unary
    async def SendMessage(
        self, request: wpb.SendMessageRequest, context: grpc.aio.ServicerContext
    ) -> wpb.SendMessageResponse:
        _check_step_call(request)
        record = await self.engine.send_from_workflow(
            request.workflow_id, request.epoch, request.step_number,
            check_workflow_id(request.destination_workflow_id, "destination_workflow_id"),
            check_topic(request.topic), self._value(request.message, "message"),
        )
        return wpb.SendMessageResponse(step=convert.step_record(record))

    @unary
    async def ReceiveMessage(
        self, request: wpb.ReceiveMessageRequest, context: grpc.aio.ServicerContext
    ) -> wpb.ReceiveMessageResponse:
        _check_step_call(request)
        result = await self.engine.receive(
            request.workflow_id, request.epoch, request.step_number, check_topic(request.topic),
            duration_ms(request.timeout, "timeout", request.HasField("timeout"), 60_000),
            duration_ms(request.hold, "hold", request.HasField("hold"), 0, MAX_HOLD_MS),
        )
        if isinstance(result, int):
            return wpb.ReceiveMessageResponse(waiting_until=convert.timestamp(result))
        return wpb.ReceiveMessageResponse(step=convert.step_record(result))

    @unary
    async def Sleep(
        self, request: wpb.SleepRequest, context: grpc.aio.ServicerContext
    ) -> wpb.SleepResponse:
        _check_step_call(request)
        ms = duration_ms(request.duration, "duration", request.HasField("duration"), 0)
        record = await self.engine.sleep(request.workflow_id, request.epoch, request.step_number, ms)
        return wpb.SleepResponse(step=convert.step_record(record))

    @unary
    async def Park(
        self, request: wpb.ParkRequest, context: grpc.aio.ServicerContext
    ) -> wpb.ParkResponse:
        check_workflow_id(request.workflow_id)
        which = request.WhichOneof("wait")
        if which == "topic":
            wait = Wait(WaitKind.RECV, topic=check_topic(request.topic))
        elif which == "event":
            wait = Wait(WaitKind.EVENT,
                        target=check_workflow_id(request.event.workflow_id, "event.workflow_id"),
                        key=check_workflow_id(request.event.key, "event.key"))
        else:
            wait = Wait(WaitKind.SLEEP)
        resume_at = (request.resume_at.ToMilliseconds() if request.HasField("resume_at")
                     else self.engine.clock.now_ms())
        await self.engine.park(request.workflow_id, request.epoch, resume_at, wait)
        return wpb.ParkResponse()

    @unary
    async def FinishWorkflow(
        self, request: wpb.FinishWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> wpb.FinishWorkflowResponse:
        return await self.finish_workflow(request)

    async def finish_workflow(self, request: wpb.FinishWorkflowRequest) -> wpb.FinishWorkflowResponse:
        """FinishWorkflow, served as a unary call and on the stream."""
        check_workflow_id(request.workflow_id)
        outcome = convert.outcome_from(request, self.settings.max_payload_bytes)
        wf = await self.engine.finish_workflow(request.workflow_id, request.epoch, outcome)
        return wpb.FinishWorkflowResponse(
            status=convert.STATUS_TO_PB[wf.status], completed_at=convert.timestamp(wf.updated_at)
        )

    async def _reply(self, link: StreamLink, seq: int, msg: wpb.WorkerMessage) -> None:
        """Serve a request sent on the stream; answer with a Reply after the commit."""
        reply = wpb.Reply(request_seq=seq)
        try:
            body = msg.WhichOneof("body")
            if body == "record_step":
                reply.record_step.CopyFrom(await self.record_step(msg.record_step))
            elif body == "set_event":
                reply.set_event.CopyFrom(await self.set_event(msg.set_event))
            else:
                reply.finish_workflow.CopyFrom(await self.finish_workflow(msg.finish_workflow))
        except Exception as exc:  # every failure becomes the status a unary call would get
            if not isinstance(exc, CoordinatorError):
                log.exception("bug serving a stream request")
            code, message = status_of(exc)
            reply.error.CopyFrom(wpb.CallError(code=code.value[0], message=message))
        link.queue.put_nowait(wpb.CoordinatorMessage(reply=reply))
