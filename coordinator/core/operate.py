"""What an operator does to workflows: resume a cancelled or failed one, fork
one from a step, sweep finished ones past the retention, and run schedules
(each tick starts one workflow, whatever the number of coordinators)."""

from __future__ import annotations

import asyncio
import logging
import uuid

from . import cron
from .context import Context
from .errors import AlreadyExists, FailedPrecondition, NotFound
from .records import NewWorkflow, ScheduleRecord, Tick, Value, WorkflowRecord

log = logging.getLogger(__name__)

# Workflows deleted per transaction by the retention sweep: small, so a sweep
# never holds the store (SQLite's one writer) for long.
COLLECT_BATCH = 200
# Schedules fired per transaction.
FIRE_BATCH = 50
# A schedule whose expression no longer reads (stored by a newer version, say) is
# looked at again after this long, without starting anything.
BROKEN_RETRY_MS = 60_000


def schedule_workflow_id(name: str, tick_ms: int) -> str:
    """The ID of the workflow a tick starts: the same on every coordinator and
    every retry, so a tick never starts two."""
    return f"sched-{name}-{cron.iso(tick_ms)}"


class Operations:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def resume(self, workflow_id: str) -> WorkflowRecord:
        ctx = self.ctx
        wf, resumed = await ctx.store.resume_workflow(workflow_id, ctx.clock.now_ms())
        if wf is None:
            raise NotFound(f"no workflow with ID {workflow_id!r}")
        if not resumed:
            raise FailedPrecondition(
                f"workflow {workflow_id} is {wf.status.value}: only a CANCELLED or ERROR workflow "
                "can be resumed")
        # An execution of it still running here is fenced off by the new epoch.
        execution = ctx.drop(workflow_id)
        if execution is not None:
            execution.session.link.send_revoke(workflow_id, execution.epoch, "resumed elsewhere")
        log.info("workflow %s resumed", workflow_id)
        ctx.work.more()
        ctx.work.more_tasks()
        return wf

    async def fork(self, source_id: str, start_step: int, workflow_id: str | None) -> WorkflowRecord:
        ctx = self.ctx
        new_id = workflow_id or str(uuid.uuid4())
        wf, created = await ctx.store.fork_workflow(source_id, start_step, new_id, ctx.clock.now_ms())
        if wf is None:
            raise NotFound(f"no workflow with ID {source_id!r}")
        if not created:
            if wf.forked_from != source_id:
                raise AlreadyExists(f"workflow ID {new_id!r} is taken (not by a fork of {source_id})")
            return wf  # a retried fork: the one made the first time
        log.info("workflow %s forked from %s at step %d", new_id, source_id, start_step)
        ctx.work.more()
        return wf

    async def collect(self, retention_ms: int, dry_run: bool = False) -> int:
        """Delete finished workflows last updated more than `retention_ms` ago,
        batch by batch; returns how many (with `dry_run`, how many would be)."""
        store, cut = self.ctx.store, self.ctx.clock.now_ms() - retention_ms
        if dry_run:
            return await store.collect_workflows(cut, 0, dry_run=True)
        total = 0
        while True:
            deleted = await store.collect_workflows(cut, COLLECT_BATCH)
            total += deleted
            if deleted < COLLECT_BATCH:
                return total
            await asyncio.sleep(0.01)  # let the others at the store between batches

    # -- schedules ---------------------------------------------------------------

    async def set_schedule(self, name: str, workflow_name: str, expression: str, timezone: str,
                           input: Value) -> ScheduleRecord:
        cron.check(expression, timezone)
        now = self.ctx.clock.now_ms()
        return await self.ctx.store.put_schedule(ScheduleRecord(
            name=name, workflow_name=workflow_name, cron=expression, timezone=timezone, input=input,
            paused=False, next_tick_at=cron.next_after(expression, timezone, now), created_at=now,
            updated_at=now))

    async def delete_schedule(self, name: str) -> None:
        if not await self.ctx.store.delete_schedule(name):
            raise NotFound(f"no schedule named {name!r}")

    async def pause_schedule(self, name: str, paused: bool) -> ScheduleRecord:
        store, now = self.ctx.store, self.ctx.clock.now_ms()
        schedule = await store.get_schedule(name)
        if schedule is None:
            raise NotFound(f"no schedule named {name!r}")
        # Resumed: from the next tick on (those missed while paused are not replayed).
        next_tick = 0 if paused else self._next_after(schedule, now)
        updated = await store.pause_schedule(name, paused, next_tick, now)
        if updated is None:
            raise NotFound(f"no schedule named {name!r}")
        return updated

    async def fire_schedules(self) -> list[WorkflowRecord]:
        ctx = self.ctx
        now = ctx.clock.now_ms()
        started = await ctx.store.fire_schedules(now, FIRE_BATCH, lambda s: self._plan(s, now))
        for wf in started:
            log.info("schedule started workflow %s", wf.workflow_id)
        if started:
            ctx.work.more()
        return started

    def _plan(self, schedule: ScheduleRecord, now: int) -> Tick:
        """Fire the latest tick that has passed (earlier missed ones are not
        replayed) and wait for the first one after now."""
        try:
            tick = max(cron.latest(schedule.cron, schedule.timezone, now), schedule.next_tick_at)
            next_tick = cron.next_after(schedule.cron, schedule.timezone, now)
        except Exception:  # a stored expression this version cannot read
            log.exception("schedule %s: cannot read %r", schedule.name, schedule.cron)
            return Tick(None, None, now + BROKEN_RETRY_MS)
        return Tick(NewWorkflow(schedule_workflow_id(schedule.name, tick), schedule.workflow_name,
                                schedule.input, now, None), tick, next_tick)

    @staticmethod
    def _next_after(schedule: ScheduleRecord, now: int) -> int:
        return cron.next_after(schedule.cron, schedule.timezone, now)
