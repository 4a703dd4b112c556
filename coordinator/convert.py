"""Conversions between protobuf messages and store records, with input checks."""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from keel.v1 import client_service_pb2 as cpb
from keel.v1 import common_pb2 as pb

from .core.records import (
    EventRecord,
    Failure,
    Outcome,
    StepKind,
    StepRecord,
    Value,
    WorkflowRecord,
    WorkflowStatus,
)
from .errors import InvalidArgument
from .validation import check_error, check_payload

STATUS_TO_PB = {
    WorkflowStatus.PENDING: pb.WORKFLOW_STATUS_PENDING,
    WorkflowStatus.SUCCESS: pb.WORKFLOW_STATUS_SUCCESS,
    WorkflowStatus.ERROR: pb.WORKFLOW_STATUS_ERROR,
    WorkflowStatus.CANCELLED: pb.WORKFLOW_STATUS_CANCELLED,
}
STATUS_FROM_PB = {v: k for k, v in STATUS_TO_PB.items()}
KIND_TO_PB = {kind: pb.StepKind.Value(f"STEP_KIND_{kind.value}") for kind in StepKind}


def timestamp(ms: int) -> Timestamp:
    ts = Timestamp()
    ts.FromMilliseconds(ms)
    return ts


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


def outcome_from(msg: Any, max_bytes: int) -> Outcome:
    """Read and check the `outcome` oneof of a request."""
    which = msg.WhichOneof("outcome")
    if which == "output":
        return Outcome(output=check_payload(msg.output.encoding, msg.output.data, "output", max_bytes))
    if which == "error":
        e = msg.error
        return Outcome(error=check_error(e.type, e.message, e.details, max_bytes))
    raise InvalidArgument("an outcome is required: set output or error")


def step_record(s: StepRecord) -> pb.StepRecord:
    msg = pb.StepRecord(
        step_number=s.step_number,
        name=s.name,
        kind=KIND_TO_PB[s.kind],
        attempt=s.attempt,
        started_at=timestamp(s.started_at),
        completed_at=timestamp(s.completed_at),
        completion_seq=s.completion_seq,
        **outcome_fields(s.outcome),
    )
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
        executions=w.epoch,
        epoch=w.epoch,
        **outcome_fields(w.outcome),
    )
    if w.deadline_at is not None:
        msg.deadline.CopyFrom(timestamp(w.deadline_at))
    return msg


def event(e: EventRecord) -> cpb.Event:
    return cpb.Event(
        workflow_id=e.workflow_id, seq=e.seq, key=e.key, value=payload(e.value),
        step_number=e.step_number, created_at=timestamp(e.created_at),
    )
