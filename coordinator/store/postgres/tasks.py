"""Step tasks and coordinator nodes on PostgreSQL: any coordinator with a live
worker serving a step's name claims its task (SKIP LOCKED), and NOTIFY tells
the others when a task becomes claimable ("task") or is recorded ("step:<n>:<id>").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...core.records import NewStep, NewTask, RecordResult, StepRecord, TaskRecord
from ..sql.queries import POSTGRES, Queries, task_params
from ..sql.rows import STEP_INSERT, TASK, step_from_row, step_params, task_from_row
from .batcher import StepBatcher
from .pool import Pool
from .presence import NODE_LOCK_SQL
from .wakeups import CHANNEL

Q = Queries(POSTGRES)

# Queued unless its step is recorded; one that nobody claimed yet is announced.
_CREATE = POSTGRES.render(
    "INSERT INTO step_tasks (workflow_id, step_number, name, input_encoding, input, epoch, attempt, "
    "owner, lease_until, created_at, timeout_ms, max_attempts, attempt_deadline) "
    "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS "
    "(SELECT 1 FROM steps WHERE workflow_id = ? AND step_number = ?) "
    f"ON CONFLICT (workflow_id, step_number) DO NOTHING RETURNING {TASK.sql}")
_CREATE_NOTIFYING = (f"WITH u AS ({_CREATE}) SELECT {TASK.of('u')}, pg_notify('{CHANNEL}', 'task') FROM u")

# One round trip: the workflow's row lock (any epoch: the outcome of a step
# does not depend on which execution asked for it), the task taken only on its
# current attempt, the step inserted with the next completion_seq, and the
# workflow's coordinator told. Returns (workflow pending, task taken, new seq).
_COMPLETE = POSTGRES.render(f"""
WITH wf AS (
    SELECT step_seq FROM workflows WHERE workflow_id = ? AND status = 'PENDING' FOR UPDATE
), task AS (
    DELETE FROM step_tasks WHERE workflow_id = ? AND step_number = ? AND attempt = ?
    AND (attempt_deadline IS NULL OR attempt_deadline > ?)
    AND EXISTS (SELECT 1 FROM wf) RETURNING 1
), ins AS (
    INSERT INTO steps ({STEP_INSERT.sql})
    SELECT {", ".join("?" * (len(STEP_INSERT.names) - 1))}, wf.step_seq + 1 FROM wf, task
    ON CONFLICT (workflow_id, step_number) DO NOTHING
    RETURNING completion_seq
), bump AS (
    UPDATE workflows w SET step_seq = ins.completion_seq
    FROM ins WHERE w.workflow_id = ?
    RETURNING w.step_seq
), note AS (
    SELECT pg_notify('{CHANNEL}', 'step:' || ? || ':' || ?) FROM ins
)
SELECT (SELECT count(*) FROM wf), (SELECT count(*) FROM task), (SELECT step_seq FROM bump),
       (SELECT count(*) FROM note)
""")

_KEYS = "(workflow_id, step_number) IN (SELECT * FROM unnest(%s::text[], %s::int[]))"
_RELEASE = (f"WITH u AS (UPDATE step_tasks SET owner = NULL, lease_until = NULL WHERE owner = %s "
            f"AND {_KEYS} RETURNING 1) SELECT pg_notify('{CHANNEL}', 'task') WHERE EXISTS (SELECT 1 FROM u)")
_RELEASE_ALL = (f"WITH u AS (UPDATE step_tasks SET owner = NULL, lease_until = NULL WHERE owner = %s "
                f"RETURNING 1) SELECT pg_notify('{CHANNEL}', 'task') WHERE EXISTS (SELECT 1 FROM u)")
_RENEW = f"UPDATE step_tasks SET lease_until = %s WHERE owner = %s AND {_KEYS}"
_REAP_RELEASE = (
    "WITH wf AS (UPDATE workflows SET owner = NULL, lease_until = NULL "
    "WHERE status = 'PENDING' AND owner = ANY(%s) RETURNING 1), "
    "tk AS (UPDATE step_tasks SET owner = NULL, lease_until = NULL WHERE owner = ANY(%s) RETURNING 1) "
    f"SELECT pg_notify('{CHANNEL}', 'work'), pg_notify('{CHANNEL}', 'task'), "
    "(SELECT count(*) FROM wf), (SELECT count(*) FROM tk)")
# Silent for too long, or its process is gone: nobody holds its presence lock
# (presence.py). The try-locks taken here are released at commit.
_DEAD_NODES = (f"DELETE FROM nodes WHERE heartbeat_at < %s OR pg_try_advisory_xact_lock({NODE_LOCK_SQL}) "
               "RETURNING node_id")
_CLOCK = "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint"


def _keys(keys: list[tuple[str, int]]) -> tuple[list[str], list[int]]:
    return [k[0] for k in keys], [k[1] for k in keys]


class Tasks:
    def __init__(self, pool: Pool, batcher: StepBatcher) -> None:
        self._pool = pool
        # Creating and completing tasks are as hot as recording steps (every
        # `go`): they are group-committed with them.
        self._batcher = batcher

    async def create(self, task: NewTask) -> tuple[TaskRecord | None, StepRecord | None]:
        sql = _CREATE_NOTIFYING if task.owner is None else _CREATE
        key = (task.workflow_id, task.step_number)
        row = await self._batcher.run(sql, (*task_params(task), *key), key)
        if row is not None:
            return task_from_row(row), None
        # Recorded, or queued already: a new statement sees whichever committed.
        for _ in range(3):
            recorded = await self._pool.fetchone(Q.get_step, key)
            if recorded is not None:
                return None, step_from_row(recorded)
            existing = await self._pool.fetchone(Q.get_task, key)
            if existing is not None:
                return task_from_row(existing), None
        raise AssertionError(f"task {key} neither queued nor recorded")

    async def claim(self, owner: str, names: list[str], limit: int, now: int,
                    lease_until: int) -> list[TaskRecord]:
        if not names or limit <= 0:
            return []
        rows = await self._pool.fetchall(Q.claim_tasks, (list(names), now, limit, owner, lease_until, now))
        return sorted((task_from_row(r) for r in rows), key=lambda t: (t.created_at, t.key))

    async def release(self, owner: str, keys: list[tuple[str, int]] | None) -> None:
        if keys is None:
            await self._pool.fetchall(_RELEASE_ALL, (owner,))
        elif keys:
            await self._pool.fetchall(_RELEASE, (owner, *_keys(keys)))

    async def renew(self, owner: str, keys: list[tuple[str, int]], lease_until: int) -> int:
        return await self._pool.execute(_RENEW, (lease_until, owner, *_keys(keys))) if keys else 0

    async def complete(self, step: NewStep) -> tuple[RecordResult, StepRecord | None]:
        params: tuple[Any, ...] = (
            step.workflow_id, step.workflow_id, step.step_number, step.attempt, step.completed_at,
            *step_params(step),
            step.workflow_id, step.step_number, step.workflow_id)
        row = await self._batcher.run(_COMPLETE, params, (step.workflow_id, step.step_number))
        assert row is not None, "the statement always returns one row"
        if row[2] is not None:
            return RecordResult.RECORDED, step.recorded(row[2])
        row = await self._pool.fetchone(Q.get_step, (step.workflow_id, step.step_number))
        recorded = step_from_row(row) if row else None
        # A retry of the attempt that won gets its record; another is fenced off.
        if recorded is not None and recorded.attempt == step.attempt:
            return RecordResult.DUPLICATE, recorded
        return RecordResult.STALE, None

    async def get(self, workflow_id: str, step_number: int) -> TaskRecord | None:
        row = await self._pool.fetchone(Q.get_task, (workflow_id, step_number))
        return task_from_row(row) if row else None

    async def reap_nodes(self, silent_since: int) -> list[str]:
        async with self._pool.connection() as conn:
            async with conn.transaction():
                cur = await conn.execute(_DEAD_NODES, (silent_since,))
                dead = [node_id for (node_id,) in await cur.fetchall()]
                if dead:
                    await conn.execute(_REAP_RELEASE, (dead, dead))
                    await conn.execute(Q.delete_dead_tasks)
        return dead

    async def clock_ms(self) -> int:
        row = await self._pool.fetchone(_CLOCK, ())
        return int(row[0])

    # -- step timeouts (issue 15) ------------------------------------------------

    async def expire_attempts(self, now: int, failure: Callable[[TaskRecord], NewStep]
                              ) -> list[tuple[TaskRecord, StepRecord | None]]:
        """Release or fail the claimed attempts past their deadline, in one
        transaction (the tasks locked, SKIP LOCKED: coordinators share the work)."""
        done: list[tuple[TaskRecord, StepRecord | None]] = []
        async with self._pool.connection() as conn:
            async with conn.transaction():
                cur = await conn.execute(Q.expired_tasks, (now,))
                for task in [task_from_row(r) for r in await cur.fetchall()]:
                    key = (task.workflow_id, task.step_number)
                    if task.attempt < task.max_attempts:
                        await conn.execute(Q.release_expired, (*key, task.attempt))
                        await conn.execute(f"SELECT pg_notify('{CHANNEL}', 'task')")
                        done.append((task, None))
                        continue
                    step = failure(task)
                    cur = await conn.execute(Q.next_step_seq_any_epoch, (task.workflow_id,))
                    seq = await cur.fetchone()
                    if seq is None:
                        continue
                    await conn.execute(Q.drop_task, (*key, task.attempt))
                    cur = await conn.execute(Q.insert_step, (*step_params(step), seq[0]))
                    if await cur.fetchone() is not None:
                        await conn.execute(f"SELECT pg_notify('{CHANNEL}', %s)",
                                           (f"step:{task.step_number}:{task.workflow_id}",))
                        done.append((task, step.recorded(seq[0])))
        return done
