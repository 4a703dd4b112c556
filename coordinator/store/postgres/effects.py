"""PostgreSQL transactions that write more than a step: record_step with a
Send (in the caller's transaction, rolled back unless RECORDED), with a
SetEvent (one function of the schema, keel_set_event), and a client's send
(statements the group commit runs, batcher.py)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import psycopg

from ...core.records import (
    NewMessage,
    NewStep,
    RecordResult,
    Send,
    SetEvent,
    StepRecord,
    WorkflowStatus,
    event_wait_key,
    message_wait_key,
)
from ..sql.queries import POSTGRES, Queries
from ..sql.rows import step_params
from .direct import fetch_one
from .script import Statement
from .wakeups import CHANNEL, LOCK_AND_FIND, wait_lock, waking

Q = Queries(POSTGRES)
_WAKE_MESSAGE_WAITER = waking(Q.wake_message_waiter)


async def record_with_effect(
    conn: psycopg.AsyncConnection[Any], step: NewStep, effect: Send
) -> tuple[RecordResult, StepRecord | None]:
    """record_step with a Send, inside the caller's transaction. (A Recv is
    one statement of its own: RECORD_RECV in batcher.py.)"""
    # The row lock, held until commit, serialises the workflow's step commits
    # (completion_seq is commit order), its recvs and its set_events; each
    # statement after it reads a fresh snapshot, so sees the previous holder's.
    cur = await conn.execute(Q.next_step_seq, (step.workflow_id, step.epoch))
    row = await cur.fetchone()
    if row is None:
        return RecordResult.STALE, None
    seq = row[0]
    cur = await conn.execute(Q.insert_step, (*step_params(step), seq))
    if await cur.fetchone() is None:
        return RecordResult.DUPLICATE, None
    result = await send(conn, effect.message)
    if result is not RecordResult.RECORDED:
        return result, None
    return RecordResult.RECORDED, step.recorded(seq)


# record_step with SetEvent: one call of a function (schema versions 15-17).
_SET_EVENT = "SELECT matched, completion_seq, event_seq, woken FROM keel_set_event(" \
             + ", ".join(["%s"] * 16) + ")"


async def record_set_event(
    conn: psycopg.AsyncConnection[Any], step: NewStep, effect: SetEvent, notify: bool = True
) -> tuple[RecordResult, StepRecord | None, int | None, bool]:
    """record_step with SetEvent in one round trip and one transaction: the
    step (the workflow's row lock first), the wait lock, the event and the
    wake-up of parked selects and readers (see wakeups.py, selects.py), each
    statement after the locks before it, in keel_set_event (schema versions
    15-17). A duplicate or stale step writes nothing. Without `notify`, no
    note tells other coordinators. Returns the result, the step's record,
    the event's seq and whether a workflow parked on the event was woken
    (True unless recorded: it cannot tell)."""
    output = step.outcome.output
    assert output is not None and step.select_index is None, "set_event records a value, no select"
    wait_key = event_wait_key(step.workflow_id, effect.key)
    row = await fetch_one(conn, _SET_EVENT, (
        step.workflow_id, step.epoch, step.step_number, step.name, step.kind.value, output.encoding,
        output.data, step.attempt, step.started_at, step.completed_at, step.worker_token, step.worker_id,
        effect.key, wait_lock(wait_key, step.workflow_id), wait_key, notify))
    assert row is not None, "the function always returns one row"
    matched, seq, event_seq, woken = row
    if seq is not None:
        return RecordResult.RECORDED, step.recorded(seq), int(event_seq), bool(woken)
    return (RecordResult.DUPLICATE if matched else RecordResult.STALE), None, None, True


async def send(conn: psycopg.AsyncConnection[Any], m: NewMessage) -> RecordResult:
    """Deliver a message from a workflow inside the caller's transaction;
    rolled back unless RECORDED. The statements do not wait for each other's
    results (in a pipeline they go out together): what a missing workflow or
    a duplicate wrote is rolled back with the rest."""
    wait_key = message_wait_key(m.topic)
    # The lock first, so the wake-up UPDATE below reads after it (wakeups.py).
    find = await conn.execute(LOCK_AND_FIND, (wait_lock(wait_key, m.workflow_id), m.workflow_id))
    params = (m.workflow_id, m.topic, m.value.encoding, m.value.data, m.idempotency_key, m.created_at)
    inserted = await conn.execute(Q.insert_message, params)
    await conn.execute(_WAKE_MESSAGE_WAITER,
                       (m.created_at, m.workflow_id, wait_key, m.created_at, f"msg:{m.workflow_id}"))
    row = await find.fetchone()
    assert row is not None
    if row[1] is None:  # no status: no such workflow
        return RecordResult.NOT_FOUND
    if await inserted.fetchone() is None:
        return RecordResult.DUPLICATE
    return RecordResult.RECORDED


# A client's send as statements of one transaction (group-committed with the
# steps, batcher.py), each with its own snapshot, so the wake-up (or the
# claim) reads after the wait lock as in send() above. The message is inserted only if its
# workflow exists; the statements after it act only if this transaction
# inserted it (a duplicate writes nothing).
# (A final workflow is refused: nothing written, STALE.)
_INSERT_IF_FOUND = POSTGRES.render(
    "INSERT INTO messages (workflow_id, topic, encoding, data, idempotency_key, created_at) "
    "SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM workflows WHERE workflow_id = ? "
    "AND status IN ('PENDING', 'ENQUEUED')) ON CONFLICT DO NOTHING RETURNING 1")
_SENT = ("EXISTS (SELECT 1 FROM messages WHERE workflow_id = %s AND topic = %s AND consumed_at IS NULL "
         "AND xmin = pg_current_xact_id()::xid)")
_WAKE_IF_SENT = (
    f"WITH woken AS ({Q.wake_message_waiter} AND {_SENT} RETURNING 1) "
    f"SELECT pg_notify('{CHANNEL}', %s), "
    f"(SELECT pg_notify('{CHANNEL}', 'work') WHERE EXISTS (SELECT 1 FROM woken)) WHERE {_SENT}")
_WAKE_IF_SENT_QUIETLY = (f"WITH woken AS ({Q.wake_message_waiter} AND {_SENT} RETURNING 1) "
                         "SELECT count(*) FROM woken")
_NOTE_IF_SENT = f"SELECT pg_notify('{CHANNEL}', %s) WHERE {_SENT}"
# With a claimer: a workflow of a name it does not take is woken instead.
_WAKE_OTHERS = f"WITH woken AS ({Q.wake_message_waiter} AND {_SENT} AND name <> ALL(%s) RETURNING 1) "
_WAKE_OTHERS_IF_SENT = (f"{_WAKE_OTHERS}SELECT pg_notify('{CHANNEL}', 'work') "
                        "WHERE EXISTS (SELECT 1 FROM woken)")
_WAKE_OTHERS_IF_SENT_QUIETLY = f"{_WAKE_OTHERS}SELECT count(*) FROM woken"
_CLAIM_IF_SENT = Q.claim_message_waiter.replace(" RETURNING ", f" AND {_SENT} AND name = ANY(%s) RETURNING ",
                                                1)
assert _CLAIM_IF_SENT != Q.claim_message_waiter


def send_statements(m: NewMessage, owner: str | None = None, lease_until: int = 0, notify: bool = True,
                    names: Collection[str] = ()) -> list[Statement]:
    """A client's send as statements to run in order in one transaction
    (group-committed, batcher.py): wake its waiter, or with an `owner` claim
    it instead if it is parked on the topic and a workflow of one of `names`.
    Without `notify`, no note tells other coordinators. send_outcome reads
    their rows."""
    wait_key = message_wait_key(m.topic)
    sent = (m.workflow_id, m.topic)
    note = f"msg:{m.workflow_id}"
    statements: list[Statement] = [
        (LOCK_AND_FIND, (wait_lock(wait_key, m.workflow_id), m.workflow_id)),
        (_INSERT_IF_FOUND, (m.workflow_id, m.topic, m.value.encoding, m.value.data, m.idempotency_key,
                            m.created_at, m.workflow_id)),
    ]
    wake = (m.created_at, m.workflow_id, wait_key, m.created_at, *sent)
    if owner is None:
        statements.append((_WAKE_IF_SENT, (*wake, note, *sent)) if notify else (_WAKE_IF_SENT_QUIETLY, wake))
    else:
        if notify:
            statements.append((_NOTE_IF_SENT, (note, *sent)))
        statements.append((_WAKE_OTHERS_IF_SENT if notify else _WAKE_OTHERS_IF_SENT_QUIETLY,
                           (*wake, list(names))))
        statements.append((_CLAIM_IF_SENT, (owner, lease_until, m.created_at, m.workflow_id, wait_key,
                                            m.created_at, *sent, list(names))))
    return statements


def send_outcome(m: NewMessage, rows: list[Any], claiming: bool) -> tuple[RecordResult, Any]:
    """What send_statements did: the result, and the claimed workflow's row
    (None if not claimed, or not `claiming`)."""
    found, inserted, *_, claimed = rows
    assert found is not None
    if inserted is not None:
        return RecordResult.RECORDED, claimed if claiming else None
    status = found[1]
    if status is None:
        return RecordResult.NOT_FOUND, None
    # Not inserted: final, or a key seen before (or, without a key, it ended
    # between the two statements).
    if WorkflowStatus(status).final or m.idempotency_key is None:
        return RecordResult.STALE, None
    return RecordResult.DUPLICATE, None
