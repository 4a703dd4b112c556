"""The operating RPCs of ClientService (resume, fork, schedules): a base of
ClientServicer, translating as it does; checks in api/requests_ops.py."""

from __future__ import annotations

import grpc
from keel.v1 import client_service_pb2 as cpb

from ..core.engine import Engine
from . import convert, requests, requests_ops


class OperationsServicer:
    engine: Engine  # ClientServicer's
    max_bytes: int

    async def ResumeWorkflow(
        self, request: cpb.ResumeWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> cpb.ResumeWorkflowResponse:
        wf = await self.engine.resume_workflow(requests.check_id(request.workflow_id))
        return cpb.ResumeWorkflowResponse(workflow=convert.workflow_info(wf))

    async def ForkWorkflow(
        self, request: cpb.ForkWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> cpb.ForkWorkflowResponse:
        wf = await self.engine.fork_workflow(*requests_ops.fork_workflow(request))
        return cpb.ForkWorkflowResponse(workflow=convert.workflow_info(wf))

    async def SetSchedule(
        self, request: cpb.SetScheduleRequest, context: grpc.aio.ServicerContext
    ) -> cpb.SetScheduleResponse:
        schedule = await self.engine.set_schedule(*requests_ops.set_schedule(request, self.max_bytes))
        return cpb.SetScheduleResponse(schedule=convert.schedule(schedule))

    async def DeleteSchedule(
        self, request: cpb.DeleteScheduleRequest, context: grpc.aio.ServicerContext
    ) -> cpb.DeleteScheduleResponse:
        await self.engine.delete_schedule(requests_ops.schedule_name(request.name))
        return cpb.DeleteScheduleResponse()

    async def ListSchedules(
        self, request: cpb.ListSchedulesRequest, context: grpc.aio.ServicerContext
    ) -> cpb.ListSchedulesResponse:
        schedules = await self.engine.list_schedules()
        return cpb.ListSchedulesResponse(schedules=[convert.schedule(s) for s in schedules])

    async def PauseSchedule(
        self, request: cpb.PauseScheduleRequest, context: grpc.aio.ServicerContext
    ) -> cpb.PauseScheduleResponse:
        schedule = await self.engine.pause_schedule(requests_ops.schedule_name(request.name), True)
        return cpb.PauseScheduleResponse(schedule=convert.schedule(schedule))

    async def ResumeSchedule(
        self, request: cpb.ResumeScheduleRequest, context: grpc.aio.ServicerContext
    ) -> cpb.ResumeScheduleResponse:
        schedule = await self.engine.pause_schedule(requests_ops.schedule_name(request.name), False)
        return cpb.ResumeScheduleResponse(schedule=convert.schedule(schedule))
