"""Group commit on PostgreSQL for the hot paths (workflows created and
finished, plain step records and recvs, wait deadlines, step tasks created
and completed): statements in flight are committed together in one
transaction (a script, script.py), one round trip and one commit for many."""

from __future__ import annotations

import asyncio
from typing import Any

from ...core.errors import StoreUnavailable
from ...core.records import NewStep, Value
from ..sql.queries import POSTGRES
from ..sql.rows import STEP_INSERT, step_params
from .direct import fetch_one
from .pool import Pool
from .script import Statement, run_script

_MAX_BATCH = 200
# Above this many bytes of values, a batch goes as a pipeline rather than a
# script (whose text spells each value out, bytes as hex).
_SCRIPT_MAX_BYTES = 256 * 1024


def _payload_bytes(params: tuple[Any, ...]) -> int:
    return sum(len(p) for p in params if isinstance(p, (bytes, str)))

# One statement, one round trip. Lock the workflow row (epoch and status
# checked on its newest version), insert the step with the next sequence
# number, and bump step_seq only if the insert happened. The row lock is held
# until commit, so completion_seq order is commit order for a workflow.
# Returns (whether the workflow matched, the new completion_seq or NULL).
RECORD_STEP = POSTGRES.render(f"""
WITH wf AS (
    SELECT step_seq FROM workflows
    WHERE workflow_id = ? AND epoch = ? AND status = 'PENDING'
    FOR UPDATE
), ins AS (
    INSERT INTO steps ({STEP_INSERT.sql})
    SELECT {", ".join("?" * (len(STEP_INSERT.names) - 1))}, wf.step_seq + 1 FROM wf
    ON CONFLICT (workflow_id, step_number) DO NOTHING
    RETURNING completion_seq
), bump AS (
    UPDATE workflows w SET step_seq = ins.completion_seq
    FROM ins WHERE w.workflow_id = ?
    RETURNING w.step_seq
)
SELECT (SELECT count(*) FROM wf), (SELECT step_seq FROM bump)
""")


def record_step_params(step: NewStep) -> tuple[Any, ...]:
    return (step.workflow_id, step.epoch, *step_params(step), step.workflow_id)


# A recv in one statement, as RECORD_STEP: the workflow's row lock, its
# oldest message of the topic, the step holding that message's value, the
# message consumed and step_seq bumped only if the step was inserted. The
# reads share the statement's snapshot, taken before the row lock: a message
# committed meanwhile is missed as if it came just after, which the wait that
# follows handles (park looks again). Returns (whether the workflow matched,
# the new completion_seq or NULL, whether the step was recorded before, the
# message's encoding and data or NULLs).
_RECV_VALUES = ", ".join("msg." + ("encoding" if name == "output_encoding" else "data")
                         if name in ("output_encoding", "output") else "?"
                         for name in STEP_INSERT.names[:-1])
RECORD_RECV = POSTGRES.render(f"""
WITH wf AS (
    SELECT step_seq FROM workflows
    WHERE workflow_id = ? AND epoch = ? AND status = 'PENDING'
    FOR UPDATE
), msg AS (
    SELECT message_id, encoding, data FROM messages
    WHERE workflow_id = ? AND topic = ? AND consumed_at IS NULL AND EXISTS (SELECT 1 FROM wf)
    ORDER BY message_id LIMIT 1
    FOR UPDATE SKIP LOCKED
), ins AS (
    INSERT INTO steps ({STEP_INSERT.sql})
    SELECT {_RECV_VALUES}, wf.step_seq + 1 FROM wf, msg
    ON CONFLICT (workflow_id, step_number) DO NOTHING
    RETURNING completion_seq
), used AS (
    UPDATE messages m SET consumed_at = ?, consumed_step = ?
    FROM msg, ins WHERE m.message_id = msg.message_id
    RETURNING 1
), bump AS (
    UPDATE workflows w SET step_seq = ins.completion_seq
    FROM ins WHERE w.workflow_id = ?
    RETURNING w.step_seq
)
SELECT (SELECT count(*) FROM wf), (SELECT step_seq FROM bump),
    EXISTS (SELECT 1 FROM steps WHERE workflow_id = ? AND step_number = ?),
    (SELECT encoding FROM msg), (SELECT data FROM msg)
""")


def record_recv_params(step: NewStep, topic: str) -> tuple[Any, ...]:
    outcome_at = STEP_INSERT.names.index("output_encoding")
    values = step_params(step)
    values = values[:outcome_at] + values[outcome_at + 2:]  # the message's instead
    return (step.workflow_id, step.epoch, step.workflow_id, topic, *values,
            step.completed_at, step.step_number, step.workflow_id,
            step.workflow_id, step.step_number)


# The statements of one caller (committed together, in this order, within a
# batch), what orders them in it (workflow, step number), its future.
Item = tuple[list[Statement], tuple[str, int], "asyncio.Future[list[Any]]"]


class StepBatcher:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._queue: list[Item] = []
        self._flushing = False
        self._flush_task: asyncio.Task[None] | None = None  # keeps the task referenced

    async def record(self, step: NewStep) -> tuple[int, int | None]:
        """Queue a plain step record: (1 if the workflow is PENDING on the
        epoch else 0, its completion_seq if recorded)."""
        row = await self.run(RECORD_STEP, record_step_params(step), (step.workflow_id, step.step_number))
        assert row is not None, "the statement always returns one row"
        return row[0], row[1]

    async def record_recv(self, step: NewStep, topic: str) -> tuple[int, int | None, bool, Value | None]:
        """Queue a recv's record (RECORD_RECV): (1 if the workflow is PENDING
        on the epoch else 0, its completion_seq if recorded, whether the step
        was recorded before, the message consumed, if any)."""
        row = await self.run(RECORD_RECV, record_recv_params(step, topic),
                             (step.workflow_id, step.step_number))
        assert row is not None, "the statement always returns one row"
        matched, seq, existed, encoding, data = row
        return matched, seq, existed, None if encoding is None else Value(encoding, bytes(data))

    async def run(self, sql: str, params: tuple[Any, ...], key: tuple[str, int]) -> Any:
        """Queue one statement about step `key` (workflow, step number); its
        first row (or None) once committed."""
        return (await self.run_all([(sql, params)], key))[0]

    async def run_all(self, statements: list[Statement], key: tuple[str, int]) -> list[Any]:
        """Queue statements about `key`, to run one after the other in the
        same transaction; each one's first row (or None) once committed.
        Whoever flushes commits everything queued in one transaction, callers
        in key order (one lock order for every batch and every coordinator:
        no deadlocks between them). With nothing in flight the caller flushes
        its own at once, so a lone one pays no extra hop."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._queue.append((statements, key, future))
        if not self._flushing:
            self._flushing = True
            try:
                while not future.done():
                    await self._flush_batch()
            finally:
                self._flushing = False
            if self._queue:  # arrived meanwhile: hand them to a task
                self._flush_task = asyncio.create_task(self._flush_rest())
        return await future

    async def _flush_rest(self) -> None:
        if self._flushing:
            return
        self._flushing = True
        try:
            while self._queue:
                await self._flush_batch()
        finally:
            self._flushing = False

    async def _flush_batch(self) -> None:
        batch, self._queue = self._queue[:_MAX_BATCH], self._queue[_MAX_BATCH:]
        batch.sort(key=lambda item: item[1])
        try:
            rows = await self._commit(batch)
        except Exception as e:
            if len(batch) > 1 and not isinstance(e, StoreUnavailable):
                # One statement failed (a value the database refused, or a
                # bug) and rolled the batch back: commit them one by one, so
                # only its caller hears of it.
                for item in batch:
                    await self._commit_alone(item)
                return
            for *_, future in batch:  # every caller hears of it (and retries)
                if not future.done():
                    future.set_exception(e)
            return
        for (*_, future), item_rows in zip(batch, rows, strict=True):
            if not future.done():
                future.set_result(item_rows)

    async def _commit(self, batch: list[Item]) -> list[list[Any]]:
        """Commit the batch in one transaction: each item's rows."""
        statements = [statement for item in batch for statement in item[0]]
        async with self._pool.connection() as conn:
            if len(statements) == 1:  # alone: one autocommitted statement is quickest
                rows = [await fetch_one(conn, *statements[0])]
            elif sum(_payload_bytes(params) for _, params in statements) <= _SCRIPT_MAX_BYTES:
                # One script (script.py): one write, one wake-up of the server
                # and of our loop for the whole batch, where a pipeline waited
                # on the socket once per statement.
                rows = await run_script(conn, statements)
            else:  # big values: bound as parameters, not spelled out in the script's text
                async with conn.pipeline(), conn.transaction():
                    cursors = [await conn.execute(sql, params) for sql, params in statements]
                    rows = [await cur.fetchone() for cur in cursors]
        out, at = [], 0
        for item in batch:
            out.append(rows[at:at + len(item[0])])
            at += len(item[0])
        return out

    async def _commit_alone(self, item: Item) -> None:
        future = item[2]
        try:
            [rows] = await self._commit([item])
        except Exception as e:
            if not future.done():
                future.set_exception(e)
            return
        if not future.done():
            future.set_result(rows)
