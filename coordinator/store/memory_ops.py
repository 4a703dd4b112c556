"""The in-memory store's operating verbs (resume, fork, retention, schedules):
a base of MemoryStore, on its `_db` (see memory.py), kept apart to keep each
file to one job."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..core.ports import Store
from ..core.records import NewWorkflow, ScheduleRecord, Tick, WorkflowRecord, WorkflowStatus, event_wait_key

if TYPE_CHECKING:
    from .memory import _Database

_FINAL = (WorkflowStatus.SUCCESS, WorkflowStatus.ERROR, WorkflowStatus.CANCELLED)


class MemoryOperations(Store):
    _db: _Database

    def _wake_selects(self, wait_key: str, at: int, only: str | None = None) -> None: ...

    # -- operating: resume, fork, retention, schedules -------------------------

    async def resume_workflow(self, workflow_id: str, now: int) -> tuple[WorkflowRecord | None, bool]:
        db, row = self._db, self._db.workflows.get(workflow_id)
        if row is None:
            return None, False
        if row.record.status not in (WorkflowStatus.CANCELLED, WorkflowStatus.ERROR):
            return row.record, False
        steps = db.steps.get(workflow_id, {})
        good = max((n for n, s in steps.items() if s.outcome.error is None), default=-1)
        for n in [n for n in steps if n > good]:
            del steps[n]
        for key in [k for k in db.waits if k[0] == workflow_id and k[1] > good]:
            del db.waits[key]
        for key, t in list(db.tasks.items()):
            if key[0] == workflow_id:  # a new claim bumps the attempt: old ones are fenced
                db.tasks[key] = dataclasses.replace(t, owner=None, lease_until=None)
        row.record = dataclasses.replace(
            row.record, status=WorkflowStatus.PENDING, outcome=None, owner=None,
            epoch=row.record.epoch + 1, deadline_at=None, updated_at=now)
        row.lease_until = row.resume_at = row.wait_key = None
        return row.record, True

    async def fork_workflow(
        self, source_id: str, start_step: int, workflow_id: str, now: int
    ) -> tuple[WorkflowRecord | None, bool]:
        db, source = self._db, self._db.workflows.get(source_id)
        if source is None:
            return None, False
        existing = db.workflows.get(workflow_id)
        if existing is not None:
            return existing.record, False
        copied = {n: dataclasses.replace(s, workflow_id=workflow_id)
                  for n, s in db.steps.get(source_id, {}).items() if n < start_step}
        db.steps[workflow_id] = copied
        db.events[workflow_id] = [dataclasses.replace(e, workflow_id=workflow_id)
                                  for e in db.events.get(source_id, []) if e.step_number < start_step]
        record, _ = await self.create_workflow(
            NewWorkflow(workflow_id, source.record.name, source.record.input, now, None))
        row = db.workflows[workflow_id]
        row.record = dataclasses.replace(
            record, forked_from=source_id,
            step_seq=max((s.completion_seq for s in copied.values()), default=0))
        for key in {e.key for e in db.events[workflow_id]}:  # as if set now
            self._wake_selects(event_wait_key(workflow_id, key), now)
        return row.record, True

    async def collect_workflows(self, finished_before: int, limit: int, dry_run: bool = False) -> int:
        db = self._db
        old = sorted((row.record for row in db.workflows.values()
                      if row.record.status in _FINAL and row.record.updated_at < finished_before),
                     key=lambda w: w.updated_at)
        if dry_run:
            return len(old)
        gone = {w.workflow_id for w in old[:max(limit, 0)]}
        for wid in gone:
            del db.workflows[wid]
            db.steps.pop(wid, None)
            db.events.pop(wid, None)
        db.queues = {k: v for k, v in db.queues.items() if k[0] not in gone}
        db.waits = {k: v for k, v in db.waits.items() if k[0] not in gone}
        db.tasks = {k: v for k, v in db.tasks.items() if k[0] not in gone}
        db.message_keys = {k for k in db.message_keys if k[0] not in gone}
        return len(gone)

    async def put_schedule(self, schedule: ScheduleRecord) -> ScheduleRecord:
        old = self._db.schedules.get(schedule.name)
        if old is not None:
            schedule = dataclasses.replace(schedule, created_at=old.created_at, last_tick_at=old.last_tick_at)
        self._db.schedules[schedule.name] = schedule
        return schedule

    async def delete_schedule(self, name: str) -> bool:
        return self._db.schedules.pop(name, None) is not None

    async def list_schedules(self) -> list[ScheduleRecord]:
        return [self._db.schedules[name] for name in sorted(self._db.schedules)]

    async def get_schedule(self, name: str) -> ScheduleRecord | None:
        return self._db.schedules.get(name)

    async def pause_schedule(
        self, name: str, paused: bool, next_tick_at: int, now: int
    ) -> ScheduleRecord | None:
        s = self._db.schedules.get(name)
        if s is None:
            return None
        s = dataclasses.replace(s, paused=paused, updated_at=now,
                                next_tick_at=s.next_tick_at if paused else next_tick_at)
        self._db.schedules[name] = s
        return s

    async def fire_schedules(
        self, now: int, limit: int, plan: Callable[[ScheduleRecord], Tick]
    ) -> list[WorkflowRecord]:
        due = sorted((s for s in self._db.schedules.values() if not s.paused and s.next_tick_at <= now),
                     key=lambda s: (s.next_tick_at, s.name))[:max(limit, 0)]
        created = []
        for s in due:
            tick = plan(s)
            if tick.workflow is not None:
                wf, new = await self.create_workflow(tick.workflow)
                if new:
                    created.append(wf)
            self._db.schedules[s.name] = dataclasses.replace(
                s, next_tick_at=tick.next_tick_at, updated_at=now,
                last_tick_at=tick.tick_at if tick.tick_at is not None else s.last_tick_at)
        return created


