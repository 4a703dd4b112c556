"""The client's operating verbs: resume and fork workflows, schedules. A base
of Client (worker/_client.py), calling through its `_call`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from keel.v1 import client_service_pb2 as cpb

from . import _codec
from ._registry import workflow_name_of
from ._results import ScheduleInfo, schedule_info

if TYPE_CHECKING:
    from ._client import WorkflowHandle


class Operations:
    _stub: Any

    def _call(self, method: Callable[..., Any], request: Any, doing: str,
              workflow_id: str | None = None, timeout: float | None = None) -> Any:
        raise NotImplementedError  # Client's

    def _handle(self, workflow_id: str) -> WorkflowHandle:
        raise NotImplementedError  # Client's

    def resume_workflow(self, workflow_id: str) -> WorkflowHandle:
        """Make a CANCELLED or ERROR workflow PENDING again: it continues after
        its last recorded successful step (a failed step runs again). Raises
        WorkflowNotFound, or CoordinatorError with code FAILED_PRECONDITION for
        a workflow that is PENDING or SUCCESS."""
        self._call(self._stub.ResumeWorkflow, cpb.ResumeWorkflowRequest(workflow_id=workflow_id),
                   f"resuming workflow {workflow_id}", workflow_id)
        return self._handle(workflow_id)

    def fork_workflow(self, source_id: str, start_step: int,
                      workflow_id: str | None = None) -> WorkflowHandle:
        """Start a new workflow with the same name and input as `source_id`,
        whose recorded steps before `start_step` are copied: steps from
        `start_step` on run again (0: a restart). The fork gets `workflow_id`
        (or a new ID); its `info().forked_from` names the source. Raises
        WorkflowNotFound for an unknown source, CoordinatorError with code
        ALREADY_EXISTS if `workflow_id` is taken by another workflow."""
        # An ID chosen here makes retries after a lost answer harmless.
        new_id = workflow_id or str(uuid.uuid4())
        resp = self._call(
            self._stub.ForkWorkflow,
            cpb.ForkWorkflowRequest(workflow_id=source_id, start_step=start_step, new_workflow_id=new_id),
            f"forking workflow {source_id} from step {start_step}", source_id)
        return self._handle(resp.workflow.workflow_id)

    def set_schedule(self, name: str, workflow: Callable[..., Any] | str, cron: str, *args: Any,
                     timezone: str = "UTC") -> ScheduleInfo:
        """Create or replace the schedule `name`: each tick of `cron` (five
        fields, or six with seconds last; read in `timezone`) starts `workflow`
        with `args` once, with the ID `sched-<name>-<tick, ISO 8601 UTC>`."""
        request = cpb.SetScheduleRequest(name=name, workflow_name=workflow_name_of(workflow), cron=cron,
                                         timezone=timezone, input=_codec.encode_args(args, {}))
        resp = self._call(self._stub.SetSchedule, request, f"setting schedule {name}")
        return schedule_info(resp.schedule)

    def delete_schedule(self, name: str) -> None:
        """Delete a schedule (the workflows it started stay)."""
        self._call(self._stub.DeleteSchedule, cpb.DeleteScheduleRequest(name=name),
                   f"deleting schedule {name}")

    def list_schedules(self) -> list[ScheduleInfo]:
        """Every schedule, by name."""
        resp = self._call(self._stub.ListSchedules, cpb.ListSchedulesRequest(), "listing schedules")
        return [schedule_info(s) for s in resp.schedules]

    def pause_schedule(self, name: str) -> ScheduleInfo:
        """Stop a schedule's ticks until resume_schedule."""
        resp = self._call(self._stub.PauseSchedule, cpb.PauseScheduleRequest(name=name),
                          f"pausing schedule {name}")
        return schedule_info(resp.schedule)

    def resume_schedule(self, name: str) -> ScheduleInfo:
        """Tick again from the next tick (those missed while paused are not replayed)."""
        resp = self._call(self._stub.ResumeSchedule, cpb.ResumeScheduleRequest(name=name),
                          f"resuming schedule {name}")
        return schedule_info(resp.schedule)
