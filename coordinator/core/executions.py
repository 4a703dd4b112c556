"""Operations of a running workflow execution: record a step's outcome, run a
step on some worker, decide a select, finish. Each is fenced by the epoch."""

from __future__ import annotations

import asyncio
import json

from .context import Context
from .dispatch import StepTask
from .errors import FailedPrecondition, NotFound
from .records import (
    Effect,
    NewStep,
    Outcome,
    RecordResult,
    StepKind,
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
        task = ctx.dispatch.task(step.workflow_id, step.step_number)
        if step.attempt > 0:
            # An assigned step: only the current attempt may report.
            if task is None or task.attempt != step.attempt or task.epoch != step.epoch:
                current = (f"execution {task.epoch} attempt {task.attempt} is current" if task
                           else "no attempt is in flight")
                raise FailedPrecondition(
                    f"workflow {step.workflow_id} step {step.step_number}: execution {step.epoch} "
                    f"attempt {step.attempt} was fenced off ({current})"
                )
        else:
            ctx.check_not_stale(step.workflow_id, step.epoch)
        step = stamp(step)  # audit: which worker token recorded it
        result, record = await ctx.store.record_step(step, effect)
        if result is RecordResult.STALE:
            raise await ctx.stale(step.workflow_id, step.epoch)
        if result is RecordResult.NOT_FOUND:
            raise NotFound(f"no workflow with ID {getattr(effect, 'message', step).workflow_id!r}")
        assert record is not None
        if result is RecordResult.RECORDED:
            ctx.wakeups.steps.wake(step.workflow_id)
        if task is not None and step.attempt > 0:
            ctx.dispatch.forget_task(task)
            if not task.result.done():
                task.result.set_result(record)
            ctx.dispatch.dispatch_steps()
        return record

    async def schedule_step(
        self, workflow_id: str, epoch: int, step_number: int, name: str, input: Value
    ) -> StepRecord:
        """Run a step on some worker that serves it; return its recorded outcome."""
        ctx = self.ctx
        ctx.check_not_stale(workflow_id, epoch)
        task = ctx.dispatch.task(workflow_id, step_number)
        if task is None or task.epoch != epoch:
            if task is not None:
                ctx.dispatch.forget_task(task)
            recorded = await ctx.store.get_step(workflow_id, step_number)
            if recorded is not None:
                return recorded
            task = StepTask(
                workflow_id, epoch, step_number, name, input, ctx.clock.now_ms(),
                asyncio.get_running_loop().create_future(),
            )
            ctx.dispatch.add_task(task)
        return await asyncio.shield(task.result)

    async def select(
        self, workflow_id: str, epoch: int, step_number: int, candidates: list[int]
    ) -> StepRecord:
        """Record which candidate step completed first, by commit order."""
        ctx = self.ctx
        started = ctx.clock.now_ms()
        while True:
            execution = ctx.dispatch.execution(workflow_id)
            if execution is None or execution.epoch != epoch:
                raise await ctx.stale(workflow_id, epoch)
            with ctx.wakeups.steps.waiting(workflow_id) as woken:
                done = await ctx.store.get_steps(workflow_id, [*candidates, step_number])
                decided = [s for s in done if s.step_number == step_number]
                if decided:
                    return decided[0]  # a replay or a retried call: the first decision
                if done:
                    break
                await asyncio.wait([woken], timeout=ctx.config.poll_interval)
        winner = min(done, key=lambda s: s.completion_seq)
        index = candidates.index(winner.step_number)
        return await self.record_step(NewStep(
            workflow_id=workflow_id,
            epoch=epoch,
            step_number=step_number,
            name="select",
            kind=StepKind.SELECT,
            outcome=Outcome(output=Value("json", json.dumps(
                {"index": index, "step_number": winner.step_number}).encode())),
            attempt=0,
            started_at=started,
            completed_at=ctx.clock.now_ms(),
            select_index=index,
            select_step_number=winner.step_number,
        ))

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
