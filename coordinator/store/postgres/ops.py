"""The operating verbs on PostgreSQL (resume, fork, retention, schedules): a
base of PostgresStore. Each verb is one transaction; schedules are claimed
with row locks (SKIP LOCKED), so coordinators sharing the database fire each
tick once, and the workflow a tick starts commits with the schedule's next tick."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...core.ports import Store
from ...core.records import ScheduleRecord, Tick, WorkflowRecord
from ..sql.queries import POSTGRES, Queries, workflow_params
from ..sql.rows import schedule_from_row, schedule_params, workflow_from_row
from .claim_floor import ClaimFloor
from .pool import Pool
from .wakeups import notify

Q = Queries(POSTGRES)
# A fork's copied events, as set_event would: wake the selects parked on
# them (keel_set_event does it for events set; schema version 16). The wait
# key spelled as core/records.event_wait_key spells it.
_WAKE_SELECTS_ON_COPIED = (
    "SELECT keel_wake_selects('event:' || length(%s) || ':' || %s || ':' || key, NULL, %s) "
    "FROM (SELECT DISTINCT key FROM events WHERE workflow_id = %s) AS copied")


class PostgresOperations(Store):
    _pool: Pool  # PostgresStore's
    _floor: ClaimFloor

    async def resume_workflow(self, workflow_id: str, now: int) -> tuple[WorkflowRecord | None, bool]:
        async with self._pool.connection() as conn, conn.transaction():
            row = await (await conn.execute(Q.lock_workflow, (workflow_id,))).fetchone()
            if row is None:
                return None, False
            wf = workflow_from_row(row)
            if wf.status.value not in ("CANCELLED", "ERROR"):
                return wf, False
            good = (await (await conn.execute(Q.last_good_step, (workflow_id,))).fetchone() or (-1,))[0]
            await conn.execute(Q.delete_steps_after, (workflow_id, good))
            await conn.execute(Q.delete_waits_after, (workflow_id, good))
            await conn.execute(Q.release_workflow_tasks, (workflow_id,))
            row = await (await conn.execute(Q.resume_workflow, (now, workflow_id))).fetchone()
            assert row is not None, "locked, CANCELLED or ERROR: it resumes"
            await notify(conn, "work", "task")
        self._floor.reset()  # committed: claimable again, however old
        return workflow_from_row(row), True

    async def fork_workflow(
        self, source_id: str, start_step: int, workflow_id: str, now: int
    ) -> tuple[WorkflowRecord | None, bool]:
        async with self._pool.connection() as conn, conn.transaction():
            # The source's row lock: no step of it is recorded while we copy.
            if await (await conn.execute(Q.lock_workflow, (source_id,))).fetchone() is None:
                return None, False
            inserted = await (await conn.execute(
                Q.fork_workflow, (workflow_id, now, now, source_id))).fetchone()
            if inserted is None:
                row = await (await conn.execute(Q.get_workflow, (workflow_id,))).fetchone()
                assert row is not None, "the insert conflicted with it"
                return workflow_from_row(row), False
            await conn.execute(Q.copy_steps, (workflow_id, source_id, start_step))
            await conn.execute(Q.copy_events, (workflow_id, source_id, start_step))
            await conn.execute(_WAKE_SELECTS_ON_COPIED, (workflow_id, workflow_id, now, workflow_id))
            row = await (await conn.execute(Q.fork_step_seq, (workflow_id, workflow_id))).fetchone()
            assert row is not None, "inserted above"
            await notify(conn, "work")
            return workflow_from_row(row), True

    async def collect_workflows(self, finished_before: int, limit: int, dry_run: bool = False) -> int:
        if dry_run:
            row = await self._pool.fetchone(Q.count_finished, (finished_before,))
            return int(row[0])
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(Q.pick_finished, (finished_before, limit))
            ids = [wid for (wid,) in await cur.fetchall()]
            if ids:
                for sql in Q.delete_rows_of.values():  # the workflows last
                    await conn.execute(sql, (ids,))
            return len(ids)

    async def put_schedule(self, schedule: ScheduleRecord) -> ScheduleRecord:
        return schedule_from_row(await self._pool.fetchone(Q.put_schedule, schedule_params(schedule)))

    async def delete_schedule(self, name: str) -> bool:
        return await self._pool.fetchone(Q.delete_schedule, (name,)) is not None

    async def list_schedules(self) -> list[ScheduleRecord]:
        return [schedule_from_row(r) for r in await self._pool.fetchall(Q.list_schedules, ())]

    async def get_schedule(self, name: str) -> ScheduleRecord | None:
        row = await self._pool.fetchone(Q.get_schedule, (name,))
        return schedule_from_row(row) if row else None

    async def pause_schedule(
        self, name: str, paused: bool, next_tick_at: int, now: int
    ) -> ScheduleRecord | None:
        sql, params = ((Q.pause_schedule, (now, name)) if paused
                       else (Q.unpause_schedule, (next_tick_at, now, name)))
        row = await self._pool.fetchone(sql, params)
        return schedule_from_row(row) if row else None

    async def fire_schedules(
        self, now: int, limit: int, plan: Callable[[ScheduleRecord], Tick]
    ) -> list[WorkflowRecord]:
        created: list[WorkflowRecord] = []
        async with self._pool.connection() as conn, conn.transaction():
            rows = await (await conn.execute(Q.due_schedules, (now, limit))).fetchall()
            for row in rows:
                schedule = schedule_from_row(row)
                tick = plan(schedule)
                if tick.workflow is not None:
                    new = await _create(conn, tick)
                    if new is not None:
                        created.append(new)
                await conn.execute(Q.schedule_ticked, (tick.next_tick_at, tick.tick_at, now, schedule.name))
            if created:
                await notify(conn, "work")
        return created


async def _create(conn: Any, tick: Tick) -> WorkflowRecord | None:
    w = tick.workflow
    assert w is not None
    cur = await conn.execute(Q.create_workflow, workflow_params(w))
    row = await cur.fetchone()
    return workflow_from_row(row) if row else None
