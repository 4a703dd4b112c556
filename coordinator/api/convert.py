"""Record -> protobuf: every message the coordinator sends is built here from core values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from keel.v1 import client_service_pb2 as cpb
from keel.v1 import common_pb2 as pb
from keel.v1 import worker_service_pb2 as wpb

from ..core.dispatch import StepTask
from ..core.records import (
    EventRecord,
    Failure,
    Outcome,
    QueueState,
    ScheduleRecord,
    StepKind,
    StepRecord,
    Value,
    WorkflowRecord,
    WorkflowStatus,
)

STATUS_TO_PB = {
    WorkflowStatus.PENDING: pb.WORKFLOW_STATUS_PENDING,
    WorkflowStatus.SUCCESS: pb.WORKFLOW_STATUS_SUCCESS,
    WorkflowStatus.ERROR: pb.WORKFLOW_STATUS_ERROR,
    WorkflowStatus.CANCELLED: pb.WORKFLOW_STATUS_CANCELLED,
    WorkflowStatus.ENQUEUED: pb.WORKFLOW_STATUS_ENQUEUED,
}
# The reverse, for requests that filter by status (api/requests.py).
STATUS_FROM_PB = {v: k for k, v in STATUS_TO_PB.items()}
KIND_TO_PB = {kind: pb.StepKind.Value(f"STEP_KIND_{kind.value}") for kind in StepKind}


# The range of a protobuf Timestamp, in milliseconds: 0001-01-01 .. 9999-12-31.
MIN_TIMESTAMP_MS = -62_135_596_800_000
MAX_TIMESTAMP_MS = 253_402_300_799_999
# In a listing, an error's message is cut to this many characters.
LIST_MESSAGE_CHARS = 200


def timestamp(ms: int) -> Timestamp:
    """A Timestamp; a stored time outside its range (kept by an older version)
    is clamped to it, so no stored value can break a read."""
    ts = Timestamp()
    _set_time(ts, ms)
    return ts


def _set_time(ts: Timestamp, ms: int) -> None:
    """timestamp(ms), set in place (from its fields: FromMilliseconds costs twice as much)."""
    ts.seconds, millis = divmod(min(max(ms, MIN_TIMESTAMP_MS), MAX_TIMESTAMP_MS), 1000)
    ts.nanos = millis * 1_000_000


def duration(seconds: float) -> Duration:
    d = Duration()
    d.FromMilliseconds(int(seconds * 1000))
    return d


def payload(v: Value) -> pb.Payload:
    return pb.Payload(encoding=v.encoding, data=v.data)


def error_info(f: Failure) -> pb.ErrorInfo:
    return pb.ErrorInfo(type=f.type, message=f.message, details=f.details)


def outcome_fields(o: Outcome | None) -> dict[str, Any]:
    """Keyword arguments that set a message's `outcome` oneof."""
    if o is None:
        return {}
    if o.error is not None:
        return {"error": error_info(o.error)}
    assert o.output is not None
    return {"output": payload(o.output)}


def step_record(s: StepRecord) -> pb.StepRecord:
    return fill_step_record(pb.StepRecord(), s)


def fill_step_record(msg: pb.StepRecord, s: StepRecord) -> pb.StepRecord:
    """Set `msg` (empty: a response's field, say) to the record, in place:
    a third of the cost of building it from parts and copying them in."""
    msg.step_number = s.step_number
    msg.name = s.name
    msg.kind = KIND_TO_PB[s.kind]
    msg.attempt = s.attempt
    _set_time(msg.started_at, s.started_at)
    _set_time(msg.completed_at, s.completed_at)
    msg.completion_seq = s.completion_seq
    msg.worker_token = s.worker_token
    outcome = s.outcome
    if outcome is not None and outcome.error is not None:
        e = outcome.error
        msg.error.type, msg.error.message, msg.error.details = e.type, e.message, e.details
    elif outcome is not None and outcome.output is not None:
        msg.output.encoding, msg.output.data = outcome.output.encoding, outcome.output.data
    # Optional fields: set only for a select, so readers can tell "none" from 0.
    if s.select_index is not None:
        msg.select_index = s.select_index
    if s.select_step_number is not None:
        msg.select_step_number = s.select_step_number
    return msg


def workflow_info(w: WorkflowRecord) -> cpb.WorkflowInfo:
    msg = cpb.WorkflowInfo(
        workflow_id=w.workflow_id,
        name=w.name,
        status=STATUS_TO_PB[w.status],
        input=payload(w.input),
        created_at=timestamp(w.created_at),
        updated_at=timestamp(w.updated_at),
        # `executions` is the older name of `epoch`; both stay set for old clients.
        executions=w.epoch,
        epoch=w.epoch,
        forked_from=w.forked_from or "",
        **outcome_fields(w.outcome),
    )
    if w.deadline_at is not None:
        msg.deadline.CopyFrom(timestamp(w.deadline_at))
    _queue_fields(msg, w)
    if w.parent_workflow_id:
        msg.parent_workflow_id = w.parent_workflow_id
    return msg


def _queue_fields(msg: cpb.WorkflowInfo, w: WorkflowRecord) -> None:
    if w.queue is not None:
        msg.queue = w.queue
    if w.started_at is not None:
        msg.started_at.CopyFrom(timestamp(w.started_at))


def workflow_summary(w: WorkflowRecord) -> cpb.WorkflowInfo:
    """A workflow as listed: no input or output, an error's type and the start of its message."""
    msg = cpb.WorkflowInfo(
        workflow_id=w.workflow_id,
        name=w.name,
        status=STATUS_TO_PB[w.status],
        input=pb.Payload(encoding=w.input.encoding),
        created_at=timestamp(w.created_at),
        updated_at=timestamp(w.updated_at),
        executions=w.epoch,
        epoch=w.epoch,
        payloads_omitted=True,
        forked_from=w.forked_from or "",
    )
    o = w.outcome
    if o is not None and o.error is not None:
        msg.error.CopyFrom(pb.ErrorInfo(type=o.error.type, message=o.error.message[:LIST_MESSAGE_CHARS]))
    elif o is not None and o.output is not None:
        msg.output.CopyFrom(pb.Payload(encoding=o.output.encoding))
    if w.deadline_at is not None:
        msg.deadline.CopyFrom(timestamp(w.deadline_at))
    _queue_fields(msg, w)
    if w.parent_workflow_id:
        msg.parent_workflow_id = w.parent_workflow_id
    return msg


def workflow_list(wfs: list[WorkflowRecord], budget_bytes: int) -> cpb.ListWorkflowsResponse:
    """A listing that fits the budget (summaries are small: only a huge page is cut)."""
    response = cpb.ListWorkflowsResponse()
    for w in wfs:
        msg = workflow_summary(w)
        budget_bytes -= msg.ByteSize() + 8
        if budget_bytes < 0:
            break
        response.workflows.append(msg)
    return response


def event(e: EventRecord) -> cpb.Event:
    return cpb.Event(
        workflow_id=e.workflow_id, seq=e.seq, key=e.key, value=payload(e.value),
        step_number=e.step_number, created_at=timestamp(e.created_at),
    )


def history_page(steps: list[StepRecord], more: bool, budget_bytes: int) -> wpb.GetHistoryResponse:
    """A page of history that fits the budget (at least one step, so paging always advances)."""
    return _step_page(wpb.GetHistoryResponse(), steps, more, budget_bytes)


def steps_page(steps: list[StepRecord], more: bool, budget_bytes: int) -> cpb.ListStepsResponse:
    """A page of ListSteps that fits the budget, like history_page."""
    return _step_page(cpb.ListStepsResponse(), steps, more, budget_bytes)


def _step_page(response: Any, steps: list[StepRecord], more: bool, budget_bytes: int) -> Any:
    for step in steps:
        msg = step_record(step)
        budget_bytes -= msg.ByteSize()
        if budget_bytes < 0 and response.steps:
            more = True
            break
        response.steps.append(msg)
    response.more = more
    return response


def finished(wf: WorkflowRecord) -> wpb.FinishWorkflowResponse:
    return wpb.FinishWorkflowResponse(status=STATUS_TO_PB[wf.status], completed_at=timestamp(wf.updated_at))


def waiting_or_step(result: StepRecord | int, parked: bool = False) -> dict[str, Any]:
    """Fields of a read/receive answer: the recorded step, or the time to park
    until (and whether it is parked already)."""
    if isinstance(result, int):
        return {"waiting_until": timestamp(result), **({"parked": True} if parked else {})}
    return {"step": step_record(result)}


# -- worker stream messages ----------------------------------------------------


def registered(coordinator_id: str, heartbeat_interval: float, lease_timeout: float) -> wpb.Registered:
    return wpb.Registered(
        coordinator_id=coordinator_id,
        heartbeat_interval=duration(heartbeat_interval),
        lease_timeout=duration(lease_timeout),
        batches=True,  # the stream reads WorkerBatch
    )


# A history read with the claim goes with the assignment up to this size;
# past it the worker pages it with GetHistory.
ASSIGNED_HISTORY_BYTES = 256 * 1024


def run_workflow(wf: WorkflowRecord) -> wpb.CoordinatorMessage:
    assignment = wpb.WorkflowAssignment(
        workflow_id=wf.workflow_id,
        name=wf.name,
        input=payload(wf.input),
        epoch=wf.epoch,
        has_history=wf.step_seq > 0,
        created_at=timestamp(wf.created_at),
    )
    if wf.history is not None:
        steps = [step_record(step) for step in wf.history]
        if sum(step.ByteSize() for step in steps) <= ASSIGNED_HISTORY_BYTES:
            assignment.history.extend(steps)
            assignment.history_complete = True
    return wpb.CoordinatorMessage(run_workflow=assignment)


def run_step(task: StepTask) -> wpb.CoordinatorMessage:
    return wpb.CoordinatorMessage(run_step=wpb.StepAssignment(
        workflow_id=task.workflow_id,
        epoch=task.epoch,
        step_number=task.step_number,
        name=task.name,
        input=payload(task.input),
        attempt=task.attempt,
        timeout=duration(task.timeout_ms / 1000) if task.timeout_ms else None,
    ))


def revoke(workflow_id: str, epoch: int, reason: str) -> wpb.CoordinatorMessage:
    return wpb.CoordinatorMessage(revoke=wpb.Revoke(workflow_id=workflow_id, epoch=epoch, reason=reason))


# -- operating: pages of workflows, schedules ----------------------------------


def workflow_page(wfs: list[WorkflowRecord], more: bool, budget_bytes: int,
                  token: Callable[[WorkflowRecord], str]) -> cpb.ListWorkflowsResponse:
    """A page of a listing that fits the budget, with the token of the next page
    if more may follow (also when the budget cut it short)."""
    response = workflow_list(wfs, budget_bytes)
    if response.workflows and (more or len(response.workflows) < len(wfs)):
        response.next_page_token = token(wfs[len(response.workflows) - 1])
    return response


def schedule(s: ScheduleRecord) -> cpb.Schedule:
    msg = cpb.Schedule(name=s.name, workflow_name=s.workflow_name, cron=s.cron, timezone=s.timezone,
                       input=payload(s.input), paused=s.paused, created_at=timestamp(s.created_at))
    if not s.paused:
        msg.next_tick.CopyFrom(timestamp(s.next_tick_at))
    if s.last_tick_at is not None:
        msg.last_tick.CopyFrom(timestamp(s.last_tick_at))
    return msg
# -- queues ------------------------------------------------------------------


def queue_info(state: QueueState) -> cpb.QueueInfo:
    q = state.queue
    limits = cpb.QueueLimits(
        concurrency=q.concurrency or 0, worker_concurrency=q.worker_concurrency or 0,
        rate_limit=q.rate_limit or 0, partition_concurrency=q.partition_concurrency or 0)
    if q.rate_period_ms:
        limits.rate_period.FromMilliseconds(q.rate_period_ms)
    return cpb.QueueInfo(name=q.name, limits=limits, enqueued=state.enqueued, running=state.running,
                         created_at=timestamp(q.created_at), updated_at=timestamp(q.updated_at))

