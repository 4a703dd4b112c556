"""PostgreSQL transactions that write more than a step: record_step with an
effect (Recv, Send; SetEvent pipelined), and message delivery. Each runs in
the caller's transaction, which rolls back unless the result is RECORDED."""

from __future__ import annotations

import dataclasses
from typing import Any

import psycopg

from ...core.records import (
    NewMessage,
    NewStep,
    Outcome,
    RecordResult,
    Recv,
    Send,
    SetEvent,
    StepRecord,
    event_wait_key,
    message_wait_key,
)
from ..sql.queries import POSTGRES, Queries
from ..sql.rows import message_from_row, step_params
from .wakeups import LOCK, LOCK_AND_FIND, notify, wait_lock, waking

Q = Queries(POSTGRES)
_WAKE_EVENT_WAITERS = waking(Q.wake_event_waiters)
_WAKE_MESSAGE_WAITER = waking(Q.wake_message_waiter)


async def record_with_effect(
    conn: psycopg.AsyncConnection[Any], step: NewStep, effect: Recv | Send
) -> tuple[RecordResult, StepRecord | None]:
    """record_step with a Recv or Send, inside the caller's transaction."""
    # The row lock, held until commit, serialises the workflow's step commits
    # (completion_seq is commit order), its recvs and its set_events; each
    # statement after it reads a fresh snapshot, so sees the previous holder's.
    cur = await conn.execute(Q.next_step_seq, (step.completed_at, step.workflow_id, step.epoch))
    row = await cur.fetchone()
    if row is None:
        return RecordResult.STALE, None
    seq = row[0]
    message_id = None
    if isinstance(effect, Recv):
        # The oldest message. The row lock already keeps recvs of this
        # workflow apart; SKIP LOCKED would still never hand out a message
        # another transaction is consuming. (Asked together, in a pipeline:
        # whether the step is recorded already, which wins over "no message".)
        cur = await conn.execute(Q.oldest_message, (step.workflow_id, effect.topic))
        exists = await conn.execute(Q.step_exists, (step.workflow_id, step.step_number))
        msg = await cur.fetchone()
        if msg is None:
            return (RecordResult.DUPLICATE if await exists.fetchone() else RecordResult.EMPTY), None
        message_id, value = message_from_row(msg)
        step = dataclasses.replace(step, outcome=Outcome(output=value))
    cur = await conn.execute(Q.insert_step, (*step_params(step), seq))
    if message_id is not None:
        # Consumed in the same go as the insert; a duplicate rolls both back.
        await conn.execute(Q.consume_message, (step.completed_at, step.step_number, message_id))
    if await cur.fetchone() is None:
        return RecordResult.DUPLICATE, None
    if isinstance(effect, Send):
        result = await send(conn, effect.message)
        if result is not RecordResult.RECORDED:
            return result, None
    return RecordResult.RECORDED, step.recorded(seq)


async def claim_waiter(conn: psycopg.AsyncConnection[Any], m: NewMessage, owner: str,
                       lease_until: int) -> psycopg.AsyncCursor[Any]:
    """After send(..., claim=True), in its transaction (so after its lock and
    insert: see wakeups.py): claim the workflow the message wakes, if it is
    parked on its topic (the cursor returns its row). Other coordinators hear
    of the message as after a wake-up, not of new work."""
    await notify(conn, f"msg:{m.workflow_id}")
    return await conn.execute(Q.claim_message_waiter, (owner, lease_until, m.created_at, m.workflow_id,
                                                       message_wait_key(m.topic), m.created_at))


async def record_set_event(
    conn: psycopg.AsyncConnection[Any], step: NewStep, effect: SetEvent
) -> tuple[RecordResult, StepRecord | None]:
    """record_step with SetEvent, in a pipelined transaction: the statements
    after the workflow row lock go out together; if the step insert turns out
    to be a duplicate, the caller rolls everything back."""
    output = step.outcome.output
    assert output is not None, "set_event records a value"
    cur = await conn.execute(Q.next_step_seq, (step.completed_at, step.workflow_id, step.epoch))
    row = await cur.fetchone()
    if row is None:
        return RecordResult.STALE, None
    seq = row[0]
    inserted = await conn.execute(Q.insert_step, (*step_params(step), seq))
    wait_key = event_wait_key(step.workflow_id, effect.key)
    # Own row, then the wait lock, then the event, then the wake-up of parked
    # readers (see wakeups.py).
    await conn.execute(LOCK, (wait_lock(wait_key, step.workflow_id),))
    await conn.execute(Q.insert_event, (step.workflow_id, effect.key, output.encoding, output.data,
                                        step.step_number, step.completed_at, step.workflow_id))
    await conn.execute(_WAKE_EVENT_WAITERS,
                       (step.completed_at, wait_key, step.completed_at, f"event:{step.workflow_id}"))
    if await inserted.fetchone() is None:
        return RecordResult.DUPLICATE, None
    return RecordResult.RECORDED, step.recorded(seq)


async def send(conn: psycopg.AsyncConnection[Any], m: NewMessage, claim: bool = False) -> RecordResult:
    """Deliver a message inside the caller's transaction; rolled back unless
    RECORDED. The statements do not wait for each other's results (in a
    pipeline they go out together): what a missing workflow or a duplicate
    wrote is rolled back with the rest. With `claim` the waiter is not woken:
    the caller claims it next (claim_waiter)."""
    wait_key = message_wait_key(m.topic)
    # The lock first, so the wake-up UPDATE below reads after it (wakeups.py).
    find = await conn.execute(LOCK_AND_FIND, (wait_lock(wait_key, m.workflow_id), m.workflow_id))
    params = (m.workflow_id, m.topic, m.value.encoding, m.value.data, m.idempotency_key, m.created_at)
    inserted = await conn.execute(Q.insert_message, params)
    if not claim:
        await conn.execute(_WAKE_MESSAGE_WAITER,
                           (m.created_at, m.workflow_id, wait_key, m.created_at, f"msg:{m.workflow_id}"))
    row = await find.fetchone()
    assert row is not None
    if not row[1]:
        return RecordResult.NOT_FOUND
    if await inserted.fetchone() is None:
        return RecordResult.DUPLICATE
    return RecordResult.RECORDED
