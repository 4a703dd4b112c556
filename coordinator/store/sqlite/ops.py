"""The operating verbs on SQLite (resume, fork, retention, schedules): a base
of SqliteStore whose transaction bodies run on its writer thread."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ...core.ports import Store
from ...core.records import ScheduleRecord, Tick, WorkflowRecord
from ..sql.queries import SQLITE, Queries, workflow_params
from ..sql.rows import schedule_from_row, schedule_params, workflow_from_row

T = TypeVar("T")
Q = Queries(SQLITE)


class SqliteOperations(Store):
    _run: Callable[[Callable[[sqlite3.Connection], Any]], Awaitable[Any]]  # SqliteStore._run

    async def resume_workflow(self, workflow_id: str, now: int) -> tuple[WorkflowRecord | None, bool]:
        def tx(db: sqlite3.Connection) -> tuple[WorkflowRecord | None, bool]:
            row = db.execute(Q.lock_workflow, (workflow_id,)).fetchone()
            if row is None:
                return None, False
            wf = workflow_from_row(row)
            if wf.status.value not in ("CANCELLED", "ERROR"):
                return wf, False
            (good,) = db.execute(Q.last_good_step, (workflow_id,)).fetchone()
            db.execute(Q.delete_steps_after, (workflow_id, good))
            db.execute(Q.delete_waits_after, (workflow_id, good))
            db.execute(Q.release_workflow_tasks, (workflow_id,))
            return workflow_from_row(db.execute(Q.resume_workflow, (now, workflow_id)).fetchone()), True

        result: tuple[WorkflowRecord | None, bool] = await self._run(tx)
        return result

    async def fork_workflow(
        self, source_id: str, start_step: int, workflow_id: str, now: int
    ) -> tuple[WorkflowRecord | None, bool]:
        def tx(db: sqlite3.Connection) -> tuple[WorkflowRecord | None, bool]:
            if db.execute(Q.workflow_exists, (source_id,)).fetchone() is None:
                return None, False
            if db.execute(Q.fork_workflow, (workflow_id, now, now, source_id)).fetchone() is None:
                return workflow_from_row(db.execute(Q.get_workflow, (workflow_id,)).fetchone()), False
            db.execute(Q.copy_steps, (workflow_id, source_id, start_step))
            db.execute(Q.copy_events, (workflow_id, source_id, start_step))
            return workflow_from_row(db.execute(Q.fork_step_seq, (workflow_id, workflow_id)).fetchone()), True

        result: tuple[WorkflowRecord | None, bool] = await self._run(tx)
        return result

    async def collect_workflows(self, finished_before: int, limit: int, dry_run: bool = False) -> int:
        def tx(db: sqlite3.Connection) -> int:
            if dry_run:
                return int(db.execute(Q.count_finished, (finished_before,)).fetchone()[0])
            ids = [wid for (wid,) in db.execute(Q.pick_finished, (finished_before, limit))]
            if ids:
                for sql in Q.delete_rows_of.values():  # the workflows last
                    db.execute(sql, (SQLITE.list_param(ids),))
            return len(ids)

        count: int = await self._run(tx)
        return count

    async def put_schedule(self, schedule: ScheduleRecord) -> ScheduleRecord:
        params = schedule_params(schedule)
        row = await self._run(lambda db: db.execute(Q.put_schedule, params).fetchone())
        return schedule_from_row(row)

    async def delete_schedule(self, name: str) -> bool:
        return bool(await self._run(lambda db: db.execute(Q.delete_schedule, (name,)).fetchone() is not None))

    async def list_schedules(self) -> list[ScheduleRecord]:
        rows = await self._run(lambda db: db.execute(Q.list_schedules).fetchall())
        return [schedule_from_row(r) for r in rows]

    async def get_schedule(self, name: str) -> ScheduleRecord | None:
        row = await self._run(lambda db: db.execute(Q.get_schedule, (name,)).fetchone())
        return schedule_from_row(row) if row else None

    async def pause_schedule(
        self, name: str, paused: bool, next_tick_at: int, now: int
    ) -> ScheduleRecord | None:
        sql, params = ((Q.pause_schedule, (now, name)) if paused
                       else (Q.unpause_schedule, (next_tick_at, now, name)))
        row = await self._run(lambda db: db.execute(sql, params).fetchone())
        return schedule_from_row(row) if row else None

    async def fire_schedules(
        self, now: int, limit: int, plan: Callable[[ScheduleRecord], Tick]
    ) -> list[WorkflowRecord]:
        def tx(db: sqlite3.Connection) -> list[WorkflowRecord]:
            created = []
            for row in db.execute(Q.due_schedules, (now, limit)).fetchall():
                schedule = schedule_from_row(row)
                tick = plan(schedule)
                if tick.workflow is not None:
                    w = tick.workflow
                    new = db.execute(Q.create_workflow, workflow_params(w)).fetchone()
                    if new is not None:
                        created.append(workflow_from_row(new))
                db.execute(Q.schedule_ticked, (tick.next_tick_at, tick.tick_at, now, schedule.name))
            return created

        result: list[WorkflowRecord] = await self._run(tx)
        return result
