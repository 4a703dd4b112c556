"""The typed results the client returns, and their conversion from the wire messages."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from keel.v1 import client_service_pb2 as cpb
from keel.v1 import common_pb2 as pb

from . import _codec

KIND_NAMES = {v: pb.StepKind.Name(v).removeprefix("STEP_KIND_") for v in pb.StepKind.values()}


class WorkflowStatus(str, enum.Enum):
    """A workflow's status. A `str`, so `status == "SUCCESS"` works and it
    prints as its name."""

    PENDING = "PENDING"
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"
    # On a queue, waiting for a slot; then PENDING.
    ENQUEUED = "ENQUEUED"

    @property
    def final(self) -> bool:
        """SUCCESS, ERROR or CANCELLED: it will not change any more."""
        return self not in (WorkflowStatus.PENDING, WorkflowStatus.ENQUEUED)

    # A str mixed into an Enum formats as "WorkflowStatus.SUCCESS" on some
    # Python versions; users print statuses, so they print as their names.
    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @classmethod
    def from_proto(cls, value: int) -> WorkflowStatus:
        return cls(pb.WorkflowStatus.Name(value).removeprefix("WORKFLOW_STATUS_"))

    @classmethod
    def parse(cls, status: WorkflowStatus | str) -> WorkflowStatus:
        """A WorkflowStatus from itself or its name ("SUCCESS"); ValueError otherwise."""
        try:
            return cls(status)
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown workflow status {status!r}: use one of {names}") from None

    def to_proto(self) -> int:
        return int(pb.WorkflowStatus.Value(f"WORKFLOW_STATUS_{self.value}"))


@dataclass(frozen=True)
class ErrorInfo:
    """The error a workflow ended with: the original exception's type name and message."""

    type: str
    message: str

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


@dataclass(frozen=True)
class WorkflowInfo:
    """A workflow as the coordinator has it, from `Client.list_workflows`,
    `Client.get_workflow` or `WorkflowHandle.info()`. A listing carries no
    payloads: there `input` and `output` are None and an error has only the
    start of its message; `get_workflow` reads them."""

    workflow_id: str
    name: str
    status: WorkflowStatus
    # The input as started, decoded: {"args": [...], "kwargs": {...}}.
    input: Any
    # Set once SUCCESS: the value returned.
    output: Any
    # Set once ERROR or CANCELLED.
    error: ErrorInfo | None
    created_at: datetime
    # When it last started running (each claim for a worker) or ended; a
    # recorded step leaves it alone.
    updated_at: datetime
    # The fencing epoch: bumped each time an execution is handed out (a claim,
    # a recovery, a resume after a park); 0 until the first claim.
    epoch: int
    # When it is cancelled if still pending; None for no timeout.
    deadline: datetime | None
    # The workflow it was forked from (Client.fork_workflow), if any.
    forked_from: str | None = None
    # The queue it was enqueued on (None if started directly), and when it
    # left the queue and started (None while ENQUEUED).
    queue: str | None = None
    started_at: datetime | None = None
    # The workflow that started it with start_workflow; None for a top-level one.
    parent_workflow_id: str | None = None


@dataclass(frozen=True)
class StepInfo:
    """A recorded step, as `WorkflowHandle.steps()` lists it."""

    step_number: int
    name: str
    kind: str
    status: str  # "SUCCESS" or "ERROR"
    output: Any
    error: str | None
    attempt: int
    started_at: datetime
    completed_at: datetime
    completion_seq: int
    # For a select: which of its futures won, by position and by step number.
    select_index: int | None
    select_step_number: int | None
    # Audit: the worker token that recorded it ("" when the coordinator needs none).
    worker_token: str = ""


@dataclass(frozen=True)
class Event:
    """One value set for a workflow's event key, as `Client.watch_events` yields it."""

    workflow_id: str
    seq: int
    key: str
    value: Any
    step_number: int
    created_at: datetime


def utc(ts: Any) -> datetime:
    return datetime.fromtimestamp(ts.ToMilliseconds() / 1000, tz=timezone.utc)


def _lenient(payload: pb.Payload) -> Any:
    # A listing must not fail on one workflow whose input another SDK encoded
    # in a way this one cannot read: such a value is given as its raw bytes.
    try:
        return _codec.decode(payload)
    except ValueError:
        return bytes(payload.data)


def workflow_info(w: cpb.WorkflowInfo) -> WorkflowInfo:
    outcome = w.WhichOneof("outcome")
    return WorkflowInfo(
        workflow_id=w.workflow_id,
        name=w.name,
        status=WorkflowStatus.from_proto(w.status),
        input=None if w.payloads_omitted else _lenient(w.input),
        output=_lenient(w.output) if outcome == "output" and not w.payloads_omitted else None,
        error=ErrorInfo(w.error.type, w.error.message) if outcome == "error" else None,
        created_at=utc(w.created_at),
        updated_at=utc(w.updated_at),
        epoch=w.epoch,
        deadline=utc(w.deadline) if w.HasField("deadline") else None,
        forked_from=w.forked_from or None,
        queue=w.queue or None,
        started_at=utc(w.started_at) if w.HasField("started_at") else None,
        parent_workflow_id=w.parent_workflow_id or None,
    )


def event(e: cpb.Event) -> Event:
    return Event(e.workflow_id, e.seq, e.key, _codec.decode(e.value), e.step_number, utc(e.created_at))


def step_info(s: pb.StepRecord) -> StepInfo:
    failed = s.WhichOneof("outcome") == "error"
    return StepInfo(
        step_number=s.step_number,
        name=s.name,
        kind=KIND_NAMES[s.kind],
        status="ERROR" if failed else "SUCCESS",
        output=None if failed else _codec.decode(s.output),
        error=f"{s.error.type}: {s.error.message}" if failed else None,
        attempt=s.attempt,
        started_at=utc(s.started_at),
        completed_at=utc(s.completed_at),
        completion_seq=s.completion_seq,
        select_index=s.select_index if s.HasField("select_index") else None,
        select_step_number=s.select_step_number if s.HasField("select_step_number") else None,
        worker_token=s.worker_token,
    )


class WorkflowPage(list[WorkflowInfo]):
    """One page of `Client.list_workflows`: a list of WorkflowInfo, newest
    first, and `next_page_token` (None on the last page), to pass as
    `page_token` for the next one."""

    def __init__(self, workflows: list[WorkflowInfo], next_page_token: str | None) -> None:
        super().__init__(workflows)
        self.next_page_token = next_page_token

    @property
    def workflows(self) -> list[WorkflowInfo]:
        return list(self)


@dataclass(frozen=True)
class ScheduleInfo:
    """A cron schedule, from `Client.set_schedule` or `Client.list_schedules`."""

    name: str
    workflow_name: str
    cron: str
    timezone: str
    # The arguments each workflow it starts is given: {"args": [...], "kwargs": {...}}.
    input: Any
    paused: bool
    # The next tick (None while paused) and the last one that started a workflow.
    next_tick: datetime | None
    last_tick: datetime | None
    created_at: datetime


def schedule_info(s: cpb.Schedule) -> ScheduleInfo:
    return ScheduleInfo(
        name=s.name, workflow_name=s.workflow_name, cron=s.cron, timezone=s.timezone,
        input=_lenient(s.input), paused=s.paused,
        next_tick=utc(s.next_tick) if s.HasField("next_tick") else None,
        last_tick=utc(s.last_tick) if s.HasField("last_tick") else None,
        created_at=utc(s.created_at),
    )
