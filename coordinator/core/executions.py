"""Operations of a running workflow execution: record a step's outcome, run a
step on some worker, finish (a select is decided in selects.py). Each is
fenced by the epoch."""

from __future__ import annotations

import asyncio

from .context import Context
from .errors import FailedPrecondition, NotFound
from .records import (
    Effect,
    NewStep,
    NewTask,
    Outcome,
    RecordResult,
    StepRecord,
    Value,
    WorkflowRecord,
    WorkflowStatus,
)
from .tokens import stamp


class Executions:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def record_step(self, step: NewStep, effect: Effect | None = None) -> StepRecord:
        """Record an outcome (and its effect); the first committed wins."""
        ctx = self.ctx
        if step.attempt > 0:
            return await self._complete_task(stamp(step))  # audit: which worker token ran it
        ctx.check_not_stale(step.workflow_id, step.epoch)
        step = stamp(step)  # audit: which worker token recorded it
        result, record = await ctx.store.record_step(step, effect)
        if result is RecordResult.STALE:
            raise await ctx.stale(step.workflow_id, step.epoch)
        if result is RecordResult.NOT_FOUND:
            raise NotFound(f"no workflow with ID {getattr(effect, 'message', step).workflow_id!r}")
        assert record is not None
        if result is RecordResult.RECORDED:
            ctx.wakeups.step_recorded(step.workflow_id, step.step_number, record)
        return record

    async def _complete_task(self, step: NewStep) -> StepRecord:
        """The outcome of a step task's attempt: only the current attempt may
        report (checked here for tasks we run, and in the store for all)."""
        ctx = self.ctx
        task = ctx.dispatch.task(step.workflow_id, step.step_number)
        if task is not None and task.attempt != step.attempt:
            raise self._fenced(step, f"attempt {task.attempt} is current")
        result, record = await ctx.store.complete_task(step)
        if task is not None:
            ctx.dispatch.forget_task(task)
            ctx.work.slot_freed()  # its step slot is free
        if record is None:
            current = await ctx.store.get_task(step.workflow_id, step.step_number)
            raise self._fenced(step, f"attempt {current.attempt} is current" if current
                               else "no attempt is in flight")
        if result is RecordResult.RECORDED:
            ctx.wakeups.step_recorded(step.workflow_id, step.step_number, record)
        return record

    @staticmethod
    def _fenced(step: NewStep, current: str) -> FailedPrecondition:
        return FailedPrecondition(
            f"workflow {step.workflow_id} step {step.step_number}: execution {step.epoch} "
            f"attempt {step.attempt} was fenced off ({current})"
        )

    async def schedule_step(
        self, workflow_id: str, epoch: int, step_number: int, name: str, input: Value
    ) -> StepRecord:
        """Run a step on whichever worker serves it, through this coordinator or
        another: the step becomes a task in the store, created already claimed
        when one of our workers has a free slot. Returns its recorded outcome."""
        ctx = self.ctx
        ctx.check_not_stale(workflow_id, epoch)
        reservation = ctx.dispatch.reserve_step(name, workflow_id)
        # Registered before the task exists: no outcome committed later is missed.
        woken = ctx.wakeups.add_step_waiters(workflow_id, step_number)
        try:
            try:
                task, recorded = await ctx.store.create_task(NewTask(
                    workflow_id, step_number, name, input, epoch, ctx.clock.now_ms(),
                    owner=ctx.config.node_id if reservation else None,
                    lease_until=ctx.lease_until() if reservation else None,
                ))
            finally:
                if reservation is not None:
                    ctx.dispatch.release(reservation)
            if recorded is not None:
                return recorded
            assert task is not None
            if reservation is not None and task.owner == ctx.config.node_id and task.attempt == 1:
                if ctx.dispatch.is_live(reservation.session):
                    ctx.dispatch.assign_task(reservation.session, task)
                else:  # the worker left meanwhile: let any coordinator claim it
                    await ctx.store.release_tasks(ctx.config.node_id, [task.key])
                    ctx.work.more_tasks()
            elif task.owner is None:
                ctx.work.more_tasks()
            look = False  # it was not recorded when the task was created
            while True:
                if look:
                    recorded = await ctx.store.get_step(workflow_id, step_number)
                    if recorded is not None:
                        return recorded
                execution = ctx.dispatch.execution(workflow_id)
                if execution is None or execution.epoch != epoch:
                    raise FailedPrecondition(f"workflow {workflow_id} execution {epoch} was stopped")
                await asyncio.wait(woken, timeout=ctx.config.poll_interval,
                                   return_when=asyncio.FIRST_COMPLETED)
                mine, anyone = (f.result() if f.done() else None for f in woken)
                if isinstance(mine, StepRecord):
                    return mine  # recorded through this coordinator: no read
                # Look unless all that happened is another step's record: a note
                # from another coordinator, the execution stopped, or the poll.
                look = woken[0].done() or not isinstance(anyone, StepRecord)
                ctx.wakeups.discard_step_waiters(workflow_id, step_number, woken)
                woken = ctx.wakeups.add_step_waiters(workflow_id, step_number)
        finally:
            ctx.wakeups.discard_step_waiters(workflow_id, step_number, woken)

    async def finish_workflow(self, workflow_id: str, epoch: int, outcome: Outcome) -> WorkflowRecord:
        ctx = self.ctx
        ctx.check_not_stale(workflow_id, epoch)
        status = WorkflowStatus.ERROR if outcome.error is not None else WorkflowStatus.SUCCESS
        wf = await ctx.store.finish_workflow(workflow_id, epoch, status, outcome, ctx.clock.now_ms())
        if wf is None:
            current = await ctx.store.get_workflow(workflow_id)
            if current is not None and current.epoch == epoch and current.status == status:
                return current  # a retried call whose first try committed
            raise await ctx.stale(workflow_id, epoch)
        ctx.ended(wf, "")
        return wf

    async def get_history(self, workflow_id: str, after: int, limit: int) -> tuple[list[StepRecord], bool]:
        steps = await self.ctx.store.list_steps(workflow_id, after, limit + 1)
        return steps[:limit], len(steps) > limit
