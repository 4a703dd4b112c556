"""WorkerService: translates the calls of workers and running workflows into engine calls.

Parsing and checks are in api/requests.py, messages built in api/convert.py,
the stream in api/stream.py, and errors mapped by the interceptor in api/errors.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from keel.v1 import worker_service_pb2 as wpb
from keel.v1 import worker_service_pb2_grpc as wgrpc

from ..core.engine import Engine
from ..settings import Settings
from . import convert, queue_requests, requests, requests_select
from .limits import Gauge
from .stream import WorkerStream


class WorkerServicer(wgrpc.WorkerServiceServicer):
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.max_bytes = settings.max_payload_bytes
        self.streams = Gauge("connected workers", settings.max_workers, "--max-workers")
        # Half the message limit: a page of history always fits with room to spare.
        self.history_budget = settings.max_message_bytes // 2
        self.stream = WorkerStream(
            engine, settings.node_id, settings.heartbeat_interval, settings.worker_timeout,
            # These may also be sent on the stream, answered by a Reply.
            {"record_step": self.record_step, "set_event": self.set_event,
             "finish_workflow": self.finish_workflow, "receive_message": self.receive_message,
             "read_event": self.read_event},
            # Flow control: at most about one message's worth waits unwritten per stream.
            buffer_bytes=settings.max_message_bytes,
        )

    async def Connect(
        self, request_iterator: AsyncIterator[wpb.WorkerMessage], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[wpb.CoordinatorMessage]:
        with self.streams.held():
            async for msg in self.stream.serve(request_iterator):
                yield msg

    async def GetHistory(
        self, request: wpb.GetHistoryRequest, context: grpc.aio.ServicerContext
    ) -> wpb.GetHistoryResponse:
        steps, more = await self.engine.get_history(*requests.get_history(request))
        return convert.history_page(steps, more, self.history_budget)

    async def RecordStep(
        self, request: wpb.RecordStepRequest, context: grpc.aio.ServicerContext
    ) -> wpb.RecordStepResponse:
        return await self.record_step(request)

    async def record_step(self, request: wpb.RecordStepRequest) -> wpb.RecordStepResponse:
        step = requests.record_step(request, self.max_bytes, self.engine.clock.now_ms())
        response = wpb.RecordStepResponse()
        convert.fill_step_record(response.step, await self.engine.record_step(step))
        return response

    async def ScheduleStep(
        self, request: wpb.ScheduleStepRequest, context: grpc.aio.ServicerContext
    ) -> wpb.ScheduleStepResponse:
        record = await self.engine.schedule_step(*requests.schedule_step(request, self.max_bytes))
        return wpb.ScheduleStepResponse(step=convert.step_record(record))

    async def Select(
        self, request: wpb.SelectRequest, context: grpc.aio.ServicerContext
    ) -> wpb.SelectResponse:
        result = await self.engine.select_any(*requests_select.select_any(request))
        return wpb.SelectResponse(**convert.waiting_or_step(result))

    async def StartChildWorkflow(
        self, request: wpb.StartChildWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> wpb.StartChildWorkflowResponse:
        record = await self.engine.start_child(*requests_select.start_child(request, self.max_bytes))
        return wpb.StartChildWorkflowResponse(step=convert.step_record(record))

    async def StartWait(
        self, request: wpb.StartWaitRequest, context: grpc.aio.ServicerContext
    ) -> wpb.StartWaitResponse:
        record = await self.engine.start_wait(*requests_select.start_wait(request))
        return wpb.StartWaitResponse(step=convert.step_record(record))

    async def SetEvent(
        self, request: wpb.SetEventRequest, context: grpc.aio.ServicerContext
    ) -> wpb.SetEventResponse:
        return await self.set_event(request)

    async def set_event(self, request: wpb.SetEventRequest) -> wpb.SetEventResponse:
        record = await self.engine.set_event(*requests.set_event(request, self.max_bytes))
        return wpb.SetEventResponse(step=convert.step_record(record))

    async def ReadEvent(
        self, request: wpb.ReadEventRequest, context: grpc.aio.ServicerContext
    ) -> wpb.ReadEventResponse:
        return await self.read_event(request)

    async def read_event(self, request: wpb.ReadEventRequest) -> wpb.ReadEventResponse:
        result = await self.engine.read_event(*requests.read_event(request))
        return wpb.ReadEventResponse(**convert.waiting_or_step(result, request.park))

    async def SendMessage(
        self, request: wpb.SendMessageRequest, context: grpc.aio.ServicerContext
    ) -> wpb.SendMessageResponse:
        record = await self.engine.send_from_workflow(*requests.send_from_workflow(request, self.max_bytes))
        return wpb.SendMessageResponse(step=convert.step_record(record))

    async def ReceiveMessage(
        self, request: wpb.ReceiveMessageRequest, context: grpc.aio.ServicerContext
    ) -> wpb.ReceiveMessageResponse:
        return await self.receive_message(request)

    async def receive_message(self, request: wpb.ReceiveMessageRequest) -> wpb.ReceiveMessageResponse:
        result = await self.engine.receive(*requests.receive(request))
        return wpb.ReceiveMessageResponse(**convert.waiting_or_step(result, request.park))

    async def Sleep(
        self, request: wpb.SleepRequest, context: grpc.aio.ServicerContext
    ) -> wpb.SleepResponse:
        record = await self.engine.sleep(*requests.sleep(request))
        return wpb.SleepResponse(step=convert.step_record(record))

    async def Park(
        self, request: wpb.ParkRequest, context: grpc.aio.ServicerContext
    ) -> wpb.ParkResponse:
        if request.WhichOneof("wait") == "select":
            await self.engine.park_select(*requests_select.park_select(request))
        else:
            await self.engine.park(*requests.park(request, self.engine.clock.now_ms()))
        return wpb.ParkResponse()

    async def FinishWorkflow(
        self, request: wpb.FinishWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> wpb.FinishWorkflowResponse:
        return await self.finish_workflow(request)

    async def finish_workflow(self, request: wpb.FinishWorkflowRequest) -> wpb.FinishWorkflowResponse:
        wf = await self.engine.finish_workflow(*requests.finish_workflow(request, self.max_bytes))
        return convert.finished(wf)

    async def EnqueueWorkflow(
        self, request: wpb.EnqueueWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> wpb.EnqueueWorkflowResponse:
        record = await self.engine.enqueue_from_workflow(
            *queue_requests.enqueue_from_workflow(request, self.max_bytes))
        return wpb.EnqueueWorkflowResponse(step=convert.step_record(record))

