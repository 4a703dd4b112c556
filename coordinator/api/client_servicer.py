"""ClientService: translates applications' calls (start workflows, read what
happened to them) into engine calls; checks in api/requests.py, errors mapped
by api/errors.py. Calls, many of them on one stream: api/client_calls.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from keel.v1 import client_service_pb2 as cpb
from keel.v1 import client_service_pb2_grpc as cgrpc

from ..core.engine import Engine
from ..settings import Settings
from . import convert, queue_requests, requests, requests_ops
from .client_calls import ClientCalls
from .limits import Gauge
from .ops_servicer import OperationsServicer


class ClientServicer(OperationsServicer, cgrpc.ClientServiceServicer):
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.max_bytes = settings.max_payload_bytes
        self.watches = Gauge("open event watches", settings.max_watch_streams, "--max-watch-streams")
        # Pages of lists stay well within the message limit.
        self.page_budget = settings.max_message_bytes - settings.MESSAGE_RESERVE
        self.calls = ClientCalls({
            "start_workflow": self.StartWorkflow, "get_workflow": self.GetWorkflow,
            "await_workflow": self.AwaitWorkflow, "get_event": self.GetEvent, "send": self.Send,
            "enqueue": self.Enqueue,
        })

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
        parent = requests.list_parent(request)
        if parent is not None:  # the children a workflow started: one page
            wfs = await self.engine.list_workflows(*requests.list_workflows(request), parent=parent)
            return convert.workflow_list(wfs, self.page_budget)
        status, name, limit, keywords = requests_ops.list_workflows_page(request)
        wfs = await self.engine.list_workflows(status, name, limit + 1, **keywords)
        return convert.workflow_page(wfs[:limit], len(wfs) > limit, self.page_budget,
                                     lambda w: requests_ops.page_token(w.created_at, w.workflow_id))

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

    async def Calls(
        self, request_iterator: AsyncIterator[cpb.CallsRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[cpb.CallsResponse]:
        async for answers in self.calls.serve(request_iterator):
            yield answers

    # -- queues ------------------------------------------------------------

    async def SetQueue(
        self, request: cpb.SetQueueRequest, context: grpc.aio.ServicerContext
    ) -> cpb.SetQueueResponse:
        state = await self.engine.set_queue(queue_requests.set_queue(request))
        return cpb.SetQueueResponse(queue=convert.queue_info(state))

    async def GetQueue(
        self, request: cpb.GetQueueRequest, context: grpc.aio.ServicerContext
    ) -> cpb.GetQueueResponse:
        state = await self.engine.get_queue(requests.check_name(request.name, "queue name"))
        return cpb.GetQueueResponse(queue=convert.queue_info(state))

    async def ListQueues(
        self, request: cpb.ListQueuesRequest, context: grpc.aio.ServicerContext
    ) -> cpb.ListQueuesResponse:
        states = await self.engine.list_queues()
        return cpb.ListQueuesResponse(queues=[convert.queue_info(s) for s in states])

    async def Enqueue(
        self, request: cpb.EnqueueRequest, context: grpc.aio.ServicerContext
    ) -> cpb.EnqueueResponse:
        wf, created = await self.engine.enqueue(*queue_requests.enqueue(request, self.max_bytes))
        return cpb.EnqueueResponse(workflow=convert.workflow_info(wf), created=created)

