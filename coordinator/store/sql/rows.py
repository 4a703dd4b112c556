"""Column lists, and rows mapped to records by column name.

Each SELECT names its columns from a `Columns` list, and each mapper finds a
column's place in the row by its name, once, at import: a row costs a tuple
index per field, as before, and reordering a list cannot misplace a field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ...core.records import (
    EventRecord,
    Failure,
    NewStep,
    NodeRecord,
    Outcome,
    Role,
    ScheduleRecord,
    StepKind,
    StepRecord,
    TaskRecord,
    TokenRecord,
    Value,
    WorkflowRecord,
    WorkflowStatus,
)


class Columns:
    """The columns a query selects, in order."""

    def __init__(self, *names: str) -> None:
        self.names = names
        self.sql = ", ".join(names)
        self._index = {name: i for i, name in enumerate(names)}

    def of(self, table: str) -> str:
        """The list qualified by a table name or alias."""
        return ", ".join(f"{table}.{name}" for name in self.names)

    def at(self, *names: str) -> tuple[int, ...]:
        """Where these columns are in a row."""
        return tuple(self._index[name] for name in names)


WORKFLOW = Columns(
    "workflow_id", "name", "status", "input_encoding", "input", "output_encoding", "output",
    "error_type", "error_message", "error_details", "created_at", "updated_at", "epoch", "step_seq",
    "deadline_at", "owner", "forked_from", "queue_name", "started_at", "parent_workflow_id",
)
STEP = Columns(
    "workflow_id", "step_number", "name", "kind", "output_encoding", "output", "error_type",
    "error_message", "error_details", "attempt", "epoch", "started_at", "completed_at",
    "completion_seq", "select_index", "select_step_number", "worker_token", "worker_id",
)
TOKEN = Columns(
    "name", "role", "secret_hash", "created_at", "expires_at", "revoked_at", "last_used_at")
EVENT = Columns("workflow_id", "seq", "key", "value_encoding", "value", "step_number", "created_at")
TASK = Columns(
    "workflow_id", "step_number", "name", "input_encoding", "input", "epoch", "attempt", "owner",
    "lease_until", "created_at", "timeout_ms", "max_attempts", "attempt_deadline",
)
NODE = Columns("node_id", "incarnation", "started_at", "heartbeat_at")
# What a Recv consumes.
MESSAGE = Columns("message_id", "encoding", "data")

_OUTCOME = ("output_encoding", "output", "error_type", "error_message", "error_details")


def _text(value: Any) -> str:
    """An error text as stored: UTF-8 bytes (any string, NUL included), or TEXT
    (rows written before, or by SQL itself); a cut sequence becomes U+FFFD."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return bytes(value).decode("utf-8", "replace")


def _outcome(
    enc: str | None, data: Any, etype: Any, emsg: Any, edet: Any
) -> Outcome | None:
    if etype is not None:
        return Outcome(error=Failure(_text(etype), _text(emsg), _text(edet)))
    if enc is not None:
        return Outcome(output=Value(enc, bytes(data)))
    return None


def _workflow_mapper() -> Callable[[Sequence[Any]], WorkflowRecord]:
    (wid, name, status, in_enc, inp, created, updated, epoch, seq, deadline, owner,
     forked_from) = WORKFLOW.at(
        "workflow_id", "name", "status", "input_encoding", "input", "created_at", "updated_at",
        "epoch", "step_seq", "deadline_at", "owner", "forked_from")
    (parent,) = WORKFLOW.at("parent_workflow_id")
    o_enc, o_data, e_type, e_msg, e_det = WORKFLOW.at(*_OUTCOME)
    queue, started_at = WORKFLOW.at("queue_name", "started_at")

    def workflow_from_row(r: Sequence[Any]) -> WorkflowRecord:
        return WorkflowRecord(
            workflow_id=r[wid],
            name=r[name],
            status=WorkflowStatus(r[status]),
            input=Value(r[in_enc], bytes(r[inp])),
            outcome=_outcome(r[o_enc], r[o_data], r[e_type], r[e_msg], r[e_det]),
            created_at=r[created],
            updated_at=r[updated],
            epoch=r[epoch],
            step_seq=r[seq],
            deadline_at=r[deadline],
            owner=r[owner],
            forked_from=r[forked_from],
            queue=r[queue],
            started_at=r[started_at],
            parent_workflow_id=r[parent],
        )

    return workflow_from_row


def _step_mapper() -> Callable[[Sequence[Any]], StepRecord]:
    (wid, number, name, kind, attempt, epoch, started, completed, seq, sel_index,
     sel_number, token, worker) = STEP.at(
        "workflow_id", "step_number", "name", "kind", "attempt", "epoch", "started_at",
        "completed_at", "completion_seq", "select_index", "select_step_number", "worker_token",
        "worker_id")
    o_enc, o_data, e_type, e_msg, e_det = STEP.at(*_OUTCOME)

    def step_from_row(r: Sequence[Any]) -> StepRecord:
        outcome = _outcome(r[o_enc], r[o_data], r[e_type], r[e_msg], r[e_det])
        assert outcome is not None, "a recorded step always has an outcome"
        return StepRecord(
            workflow_id=r[wid],
            step_number=r[number],
            name=r[name],
            kind=StepKind(r[kind]),
            outcome=outcome,
            attempt=r[attempt],
            epoch=r[epoch],
            started_at=r[started],
            completed_at=r[completed],
            completion_seq=r[seq],
            select_index=r[sel_index],
            select_step_number=r[sel_number],
            worker_token=r[token],
            worker_id=r[worker],
        )

    return step_from_row


def _event_mapper() -> Callable[[Sequence[Any]], EventRecord]:
    wid, seq, key, enc, value, number, created = EVENT.at(
        "workflow_id", "seq", "key", "value_encoding", "value", "step_number", "created_at")

    def event_from_row(r: Sequence[Any]) -> EventRecord:
        return EventRecord(r[wid], r[seq], r[key], Value(r[enc], bytes(r[value])), r[number], r[created])

    return event_from_row


def token_from_row(r: Sequence[Any]) -> TokenRecord:
    """A TOKEN row (its columns in TOKEN's order)."""
    name, role, secret_hash, created, expires, revoked, used = r
    return TokenRecord(name, Role(role), secret_hash, created, expires, revoked, used)


def token_params(t: TokenRecord) -> tuple[Any, ...]:
    """Values of TOKEN, in order."""
    return (t.name, t.role.value, t.secret_hash, t.created_at, t.expires_at, t.revoked_at,
            t.last_used_at)


workflow_from_row = _workflow_mapper()
step_from_row = _step_mapper()
event_from_row = _event_mapper()


def histories(workflow_ids: list[str], rows: Iterable[Sequence[Any]]) -> dict[str, list[StepRecord]]:
    """Step rows (in workflow, step-number order) by workflow; every ID has an entry."""
    found: dict[str, list[StepRecord]] = {wid: [] for wid in workflow_ids}
    for row in rows:
        step = step_from_row(row)
        found[step.workflow_id].append(step)
    return found

_MSG_ID, _MSG_ENCODING, _MSG_DATA = MESSAGE.at("message_id", "encoding", "data")


def message_from_row(r: Sequence[Any]) -> tuple[int, Value]:
    """(message_id, value) of a MESSAGE row."""
    return r[_MSG_ID], Value(r[_MSG_ENCODING], bytes(r[_MSG_DATA]))


def _utf8(text: str) -> bytes:
    # surrogatepass: a lone surrogate cannot arrive in a protobuf string, but
    # storing must not be where that is found out.
    return text.encode("utf-8", "surrogatepass")


def outcome_params(
    o: Outcome,
) -> tuple[str | None, bytes | None, bytes | None, bytes | None, bytes | None]:
    """(output_encoding, output, error_type, error_message, error_details); error
    texts as UTF-8 bytes, so that any string round-trips (see _text)."""
    if o.error is not None:
        return None, None, _utf8(o.error.type), _utf8(o.error.message), _utf8(o.error.details)
    assert o.output is not None
    return o.output.encoding, o.output.data, None, None, None


# The columns a step insert writes, in the order of step_params, then
# completion_seq (a parameter, or computed in the statement).
STEP_INSERT = Columns(
    "workflow_id", "step_number", "name", "kind", *_OUTCOME, "attempt", "epoch", "started_at",
    "completed_at", "select_index", "select_step_number", "worker_token", "worker_id", "completion_seq",
)
assert sorted(STEP_INSERT.names) == sorted(STEP.names), "a step insert writes every step column"


def step_params(s: NewStep) -> tuple[Any, ...]:
    """Values of STEP_INSERT but the last (completion_seq), in order."""
    return (
        s.workflow_id, s.step_number, s.name, s.kind.value, *outcome_params(s.outcome), s.attempt,
        s.epoch, s.started_at, s.completed_at, s.select_index, s.select_step_number, s.worker_token,
        s.worker_id,
    )


def _task_mapper() -> Callable[[Sequence[Any]], TaskRecord]:
    wid, n, name, enc, inp, epoch, attempt, owner, lease, created, timeout, most, deadline = TASK.at(
        "workflow_id", "step_number", "name", "input_encoding", "input", "epoch", "attempt", "owner",
        "lease_until", "created_at", "timeout_ms", "max_attempts", "attempt_deadline")

    def task_from_row(r: Sequence[Any]) -> TaskRecord:
        return TaskRecord(r[wid], r[n], r[name], Value(r[enc], bytes(r[inp])), r[epoch], r[attempt],
                          r[owner], r[lease], r[created], r[timeout], r[most], r[deadline])

    return task_from_row


def _node_mapper() -> Callable[[Sequence[Any]], NodeRecord]:
    node_id, incarnation, started, heartbeat = NODE.at("node_id", "incarnation", "started_at", "heartbeat_at")

    def node_from_row(r: Sequence[Any]) -> NodeRecord:
        return NodeRecord(r[node_id], r[incarnation], r[started], r[heartbeat])

    return node_from_row


task_from_row = _task_mapper()
node_from_row = _node_mapper()


# -- operating: schedules ------------------------------------------------------

SCHEDULE = Columns(
    "name", "workflow_name", "cron", "timezone", "input_encoding", "input", "paused", "next_tick_at",
    "created_at", "updated_at", "last_tick_at",
)


def schedule_from_row(r: Sequence[Any]) -> ScheduleRecord:
    """A SCHEDULE row (its columns in SCHEDULE's order)."""
    name, workflow, cron, tz, enc, inp, paused, next_tick, created, updated, last = r
    return ScheduleRecord(name, workflow, cron, tz, Value(enc, bytes(inp)), bool(paused), next_tick,
                          created, updated, last)


def schedule_params(s: ScheduleRecord) -> tuple[Any, ...]:
    """Values of SCHEDULE, in order."""
    return (s.name, s.workflow_name, s.cron, s.timezone, s.input.encoding, s.input.data,
            1 if s.paused else 0, s.next_tick_at, s.created_at, s.updated_at, s.last_tick_at)
