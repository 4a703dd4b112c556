"""ClientService: translates applications' calls (start workflows, read what
happened to them) into engine calls; checks in api/requests.py, errors mapped
by the interceptor in api/errors.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from keel.v1 import client_service_pb2 as cpb
from keel.v1 import client_service_pb2_grpc as cgrpc

from ..core.engine import Engine
from ..settings import Settings
from . import convert, requests
from .limits import Gauge


class ClientServicer(cgrpc.ClientServiceServicer):
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.max_bytes = settings.max_payload_bytes
        self.watches = Gauge("open event watches", settings.max_watch_streams, "--max-watch-streams")
        # Pages of lists stay well within the message limit.
        self.page_budget = settings.max_message_bytes - settings.MESSAGE_RESERVE

    async def StartWorkflow(
        self, request: cpb.StartWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> cpb.StartWorkflowResponse:
        wf, created = await self.engine.start_workflow(*requests.start_workflow(request, self.max_bytes))
        return cpb.StartWorkflowResponse(workflow=convert.workflow_info(wf), created=created)

    async def GetWorkflow(
        self, request: cpb.GetWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> cpb.GetWorkflowResponse:
        wf = await self.engine.get_workflow(requests.check_id(request.workflow_id))
        return cpb.GetWorkflowResponse(workflow=convert.workflow_info(wf))

    async def AwaitWorkflow(
        self, request: cpb.AwaitWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> cpb.AwaitWorkflowResponse:
        wf = await self.engine.await_workflow(*requests.await_workflow(request))
        return cpb.AwaitWorkflowResponse(workflow=convert.workflow_info(wf))

    async def ListWorkflows(
        self, request: cpb.ListWorkflowsRequest, context: grpc.aio.ServicerContext
    ) -> cpb.ListWorkflowsResponse:
        wfs = await self.engine.list_workflows(*requests.list_workflows(request),
                                               parent=requests.list_parent(request))
        return convert.workflow_list(wfs, self.page_budget)

    async def ListSteps(
        self, request: cpb.ListStepsRequest, context: grpc.aio.ServicerContext
    ) -> cpb.ListStepsResponse:
        workflow_id, first, limit = requests.list_steps(request)
        steps = await self.engine.list_steps(workflow_id, first - 1, limit + 1)
        return convert.steps_page(steps[:limit], len(steps) > limit, self.page_budget)

    async def GetEvent(
        self, request: cpb.GetEventRequest, context: grpc.aio.ServicerContext
    ) -> cpb.GetEventResponse:
        event = await self.engine.get_event(*requests.get_event(request))
        if event is None:
            return cpb.GetEventResponse(found=False)
        return cpb.GetEventResponse(found=True, event=convert.event(event))

    async def WatchEvents(
        self, request: cpb.WatchEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[cpb.Event]:
        with self.watches.held():
            async for event in self.engine.watch_events(*requests.watch_events(request)):
                yield convert.event(event)

    async def Send(
        self, request: cpb.SendRequest, context: grpc.aio.ServicerContext
    ) -> cpb.SendResponse:
        delivered = await self.engine.send(*requests.send(request, self.max_bytes))
        return cpb.SendResponse(delivered=delivered)

    async def CancelWorkflow(
        self, request: cpb.CancelWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> cpb.CancelWorkflowResponse:
        wf = await self.engine.cancel_workflow(requests.check_id(request.workflow_id))
        return cpb.CancelWorkflowResponse(workflow=convert.workflow_info(wf))
