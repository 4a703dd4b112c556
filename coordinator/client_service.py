"""ClientService: start workflows and read what happened to them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from keel.v1 import client_service_pb2 as cpb
from keel.v1 import client_service_pb2_grpc as cgrpc

from . import convert
from .core.engine import Engine
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

MAX_AWAIT_SECONDS = 60.0


class ClientServicer(cgrpc.ClientServiceServicer):
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    @unary
    async def StartWorkflow(
        self, request: cpb.StartWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> cpb.StartWorkflowResponse:
        check_name(request.name, "workflow name")
        if request.workflow_id:
            check_workflow_id(request.workflow_id)
        value = check_arguments(
            request.input.encoding, request.input.data, "input", self.settings.max_payload_bytes
        )
        timeout_ms = None
        if request.HasField("timeout"):
            timeout_ms = request.timeout.ToMilliseconds()
            if timeout_ms <= 0:
                raise InvalidArgument(f"timeout must be positive, got {timeout_ms} ms")
        wf, created = await self.engine.start_workflow(
            request.name, value, request.workflow_id or None, timeout_ms
        )
        return cpb.StartWorkflowResponse(workflow=convert.workflow_info(wf), created=created)

    @unary
    async def GetWorkflow(
        self, request: cpb.GetWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> cpb.GetWorkflowResponse:
        wf = await self.engine.get_workflow(check_workflow_id(request.workflow_id))
        return cpb.GetWorkflowResponse(workflow=convert.workflow_info(wf))

    @unary
    async def AwaitWorkflow(
        self, request: cpb.AwaitWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> cpb.AwaitWorkflowResponse:
        check_workflow_id(request.workflow_id)
        timeout = duration_ms(request.timeout, "timeout", request.HasField("timeout"),
                              int(MAX_AWAIT_SECONDS * 1000)) / 1000
        wf = await self.engine.await_workflow(request.workflow_id, min(timeout, MAX_AWAIT_SECONDS))
        return cpb.AwaitWorkflowResponse(workflow=convert.workflow_info(wf))

    @unary
    async def ListWorkflows(
        self, request: cpb.ListWorkflowsRequest, context: grpc.aio.ServicerContext
    ) -> cpb.ListWorkflowsResponse:
        if request.limit < 0 or request.limit > 1000:
            raise InvalidArgument("limit must be between 0 and 1000")
        status = convert.STATUS_FROM_PB.get(request.status)
        if request.status and status is None:
            raise InvalidArgument(f"unknown status {request.status}")
        wfs = await self.engine.list_workflows(status, request.name or None, request.limit or 100)
        return cpb.ListWorkflowsResponse(workflows=[convert.workflow_info(w) for w in wfs])

    @unary
    async def ListSteps(
        self, request: cpb.ListStepsRequest, context: grpc.aio.ServicerContext
    ) -> cpb.ListStepsResponse:
        steps = await self.engine.list_steps(check_workflow_id(request.workflow_id))
        return cpb.ListStepsResponse(steps=[convert.step_record(s) for s in steps])

    @unary
    async def GetEvent(
        self, request: cpb.GetEventRequest, context: grpc.aio.ServicerContext
    ) -> cpb.GetEventResponse:
        check_workflow_id(request.workflow_id)
        check_workflow_id(request.key, "key")
        timeout = duration_ms(request.timeout, "timeout", request.HasField("timeout"), 0,
                              int(MAX_AWAIT_SECONDS * 1000))
        event = await self.engine.get_event(request.workflow_id, request.key, timeout / 1000)
        if event is None:
            return cpb.GetEventResponse(found=False)
        return cpb.GetEventResponse(found=True, event=convert.event(event))

    async def WatchEvents(
        self, request: cpb.WatchEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[cpb.Event]:
        try:
            check_workflow_id(request.workflow_id)
            async for event in self.engine.watch_events(request.workflow_id, request.after_seq):
                yield convert.event(event)
        except CoordinatorError as e:
            await context.abort(*status_of(e))

    @unary
    async def Send(
        self, request: cpb.SendRequest, context: grpc.aio.ServicerContext
    ) -> cpb.SendResponse:
        check_workflow_id(request.workflow_id)
        if request.idempotency_key:
            check_workflow_id(request.idempotency_key, "idempotency_key")
        message = check_payload(request.message.encoding, request.message.data, "message",
                                self.settings.max_payload_bytes)
        delivered = await self.engine.send(request.workflow_id, check_topic(request.topic), message,
                                           request.idempotency_key or None)
        return cpb.SendResponse(delivered=delivered)

    @unary
    async def CancelWorkflow(
        self, request: cpb.CancelWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> cpb.CancelWorkflowResponse:
        wf = await self.engine.cancel_workflow(check_workflow_id(request.workflow_id))
        return cpb.CancelWorkflowResponse(workflow=convert.workflow_info(wf))
