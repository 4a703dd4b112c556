"""Column lists and row-to-record mapping shared by both SQL stores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..core.records import (
    EventRecord,
    Failure,
    NewStep,
    Outcome,
    StepKind,
    StepRecord,
    Value,
    Wait,
    WorkflowRecord,
    WorkflowStatus,
)

WF_COLS = (
    "workflow_id, name, status, input_encoding, input, output_encoding, output, "
    "error_type, error_message, error_details, created_at, updated_at, epoch, step_seq, "
    "deadline_at, owner"
)

STEP_COLS = (
    "workflow_id, step_number, name, kind, output_encoding, output, error_type, "
    "error_message, error_details, attempt, epoch, started_at, completed_at, completion_seq, "
    "select_index, select_step_number"
)


EVENT_COLS = "workflow_id, seq, key, value_encoding, value, step_number, created_at"


def event_from_row(r: Sequence[Any]) -> EventRecord:
    return EventRecord(r[0], r[1], r[2], Value(r[3], bytes(r[4])), r[5], r[6])


def _outcome(
    enc: str | None, data: Any, etype: str | None, emsg: str | None, edet: str | None
) -> Outcome | None:
    if etype is not None:
        return Outcome(error=Failure(etype, emsg or "", edet or ""))
    if enc is not None:
        return Outcome(output=Value(enc, bytes(data)))
    return None


def workflow_from_row(r: Sequence[Any]) -> WorkflowRecord:
    return WorkflowRecord(
        workflow_id=r[0],
        name=r[1],
        status=WorkflowStatus(r[2]),
        input=Value(r[3], bytes(r[4])),
        outcome=_outcome(r[5], r[6], r[7], r[8], r[9]),
        created_at=r[10],
        updated_at=r[11],
        epoch=r[12],
        step_seq=r[13],
        deadline_at=r[14],
        owner=r[15],
    )


def step_from_row(r: Sequence[Any]) -> StepRecord:
    outcome = _outcome(r[4], r[5], r[6], r[7], r[8])
    assert outcome is not None, "a recorded step always has an outcome"
    return StepRecord(
        workflow_id=r[0],
        step_number=r[1],
        name=r[2],
        kind=StepKind(r[3]),
        outcome=outcome,
        attempt=r[9],
        epoch=r[10],
        started_at=r[11],
        completed_at=r[12],
        completion_seq=r[13],
        select_index=r[14],
        select_step_number=r[15],
    )


def outcome_params(o: Outcome) -> tuple[str | None, bytes | None, str | None, str | None, str | None]:
    """(output_encoding, output, error_type, error_message, error_details)."""
    if o.error is not None:
        return None, None, o.error.type, o.error.message, o.error.details
    assert o.output is not None
    return o.output.encoding, o.output.data, None, None, None


def step_params(s: NewStep, seq: int) -> tuple[Any, ...]:
    """Values for STEP_COLS, in order."""
    return (
        s.workflow_id,
        s.step_number,
        s.name,
        s.kind.value,
        *outcome_params(s.outcome),
        s.attempt,
        s.epoch,
        s.started_at,
        s.completed_at,
        seq,
        s.select_index,
        s.select_step_number,
    )


def record_from_new(s: NewStep, seq: int) -> StepRecord:
    return StepRecord(
        workflow_id=s.workflow_id,
        step_number=s.step_number,
        name=s.name,
        kind=s.kind,
        outcome=s.outcome,
        attempt=s.attempt,
        epoch=s.epoch,
        started_at=s.started_at,
        completed_at=s.completed_at,
        completion_seq=seq,
        select_index=s.select_index,
        select_step_number=s.select_step_number,
    )


def park_sql(workflow_id: str, epoch: int, resume_at: int, wait: Wait, now: int,
             mark: str) -> tuple[str, tuple[Any, ...]]:
    """The UPDATE that parks a workflow (with `mark` as the placeholder). What
    it waits for may have arrived already: then it resumes at once."""
    ready: tuple[str, tuple[str, ...]]
    if wait.kind == "recv":
        ready = (f"EXISTS (SELECT 1 FROM messages WHERE workflow_id = {mark} AND topic = {mark} "
                 "AND consumed_at IS NULL)", (workflow_id, wait.topic))
    elif wait.kind == "event":
        ready = (f"EXISTS (SELECT 1 FROM events WHERE workflow_id = {mark} AND key = {mark})",
                 (wait.target, wait.key))
    else:
        ready = ("1 = 0", ())
    sql = (
        f"UPDATE workflows SET owner = NULL, lease_until = NULL, wait_key = {mark}, "
        f"epoch = epoch + 1, resume_at = CASE WHEN {ready[0]} THEN {mark} ELSE {mark} END "
        f"WHERE workflow_id = {mark} AND epoch = {mark} AND status = 'PENDING'"
    )
    return sql, (wait.wait_key, *ready[1], now, resume_at, workflow_id, epoch)
