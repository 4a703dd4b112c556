"""Operations of a running workflow execution: record a step's outcome, run a
step on some worker, finish (a select is decided in selects.py). Each is
fenced by the epoch."""

from __future__ import annotations

import asyncio
import dataclasses

from .context import Context
from .errors import FailedPrecondition, InvalidArgument, NotFound
from .records import (
    Effect,
    EventRecord,
    NewStep,
    NewTask,
    Outcome,
    RecordResult,
    SetEvent,
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
        if step.attempt > 0:
            return await self._complete_task(stamp(step))  # audit: which worker token ran it
        step = self._stamped(step)
        with ctx.observer.commit("record_step"):
            result, record = await ctx.store.record_step(step, effect)
        return await self._checked(step, effect, result, record)

    async def set_event(self, step: NewStep, key: str) -> tuple[StepRecord, EventRecord | None, bool]:
        """record_step with SetEvent(key); also the event appended, when
        recorded now and the store can tell, and whether a workflow parked
        on it may have been woken."""
        step = self._stamped(step)
        with self.ctx.observer.commit("record_step"):
            result, record, event, woken = await self.ctx.store.set_event(step, key)
        return await self._checked(step, SetEvent(key), result, record), event, woken

    def _stamped(self, step: NewStep) -> NewStep:
        """The step with who recorded it, for the audit trail: the worker token
        (stamp), and the workflow's worker when it runs here."""
        self.ctx.check_not_stale(step.workflow_id, step.epoch)
        execution = self.ctx.dispatch.execution(step.workflow_id)
        if execution is None or step.worker_id:
            return stamp(step)
        # One copy for both: this is on the path of every step.
        return stamp(step, worker_id=execution.session.worker_id)

    async def _checked(self, step: NewStep, effect: Effect | None, result: RecordResult,
                       record: StepRecord | None) -> StepRecord:
        """The record, once the store's answer is checked: stale and missing raise."""
        ctx = self.ctx
        if result is RecordResult.STALE:
            raise await ctx.stale(step.workflow_id, step.epoch)
        if result is RecordResult.NOT_FOUND:
            raise NotFound(f"no workflow with ID {getattr(effect, 'message', step).workflow_id!r}")
        assert record is not None
        if result is RecordResult.RECORDED:
            self._recorded(record)
        return record

    def _recorded(self, record: StepRecord) -> None:
        self.ctx.observer.step_recorded(record.name, record.kind,
                                        max(0, record.completed_at - record.started_at) / 1000)
        self.ctx.wakeups.step_recorded(record.workflow_id, record.step_number, record)

    async def _complete_task(self, step: NewStep) -> StepRecord:
        """The outcome of a step task's attempt: only the current attempt may
        report (checked here for tasks we run, and in the store for all)."""
        ctx = self.ctx
        task = ctx.dispatch.task(step.workflow_id, step.step_number)
        if task is not None and task.attempt != step.attempt:
            raise self._fenced(step, f"attempt {task.attempt} is current")
        if task is not None and not step.worker_id:
            step = dataclasses.replace(step, worker_id=task.worker.worker_id)
        with ctx.observer.commit("complete_task"):
            result, record = await ctx.store.complete_task(step)
        if task is not None:
            ctx.dispatch.forget_task(task)
            ctx.work.slot_freed()  # its step slot is free
        if record is None:
            raise self._fenced(step, await self._why_fenced(step))
        if result is RecordResult.RECORDED:
            self._recorded(record)
        return record

    async def _why_fenced(self, step: NewStep) -> str:
        """Why the store refused an attempt's outcome, for the worker's log."""
        store = self.ctx.store
        wf = await store.get_workflow(step.workflow_id)
        if wf is not None and wf.status.final:
            return f"the workflow is already {wf.status.value}"
        current = await store.get_task(step.workflow_id, step.step_number)
        if current is None:
            return "no attempt is in flight"
        if current.attempt != step.attempt:
            return f"attempt {current.attempt} is current"
        return "it ran past its timeout"

    @staticmethod
    def _fenced(step: NewStep, current: str) -> FailedPrecondition:
        return FailedPrecondition(
            f"workflow {step.workflow_id} step {step.step_number}: execution {step.epoch} "
            f"attempt {step.attempt} was fenced off ({current})"
        )

    async def schedule_step(
        self, workflow_id: str, epoch: int, step_number: int, name: str, input: Value,
        timeout_ms: int | None = None, max_attempts: int = 1,
    ) -> StepRecord:
        """Run a step on whichever worker serves it, through this coordinator or
        another: the step becomes a task in the store, created already claimed
        when one of our workers has a free slot. Returns its recorded outcome.
        Each attempt may run `timeout_ms` (default: the coordinator's) before it
        is fenced off and retried, up to `max_attempts`, then failed (timeouts.py)."""
        ctx = self.ctx
        timeout_ms = timeout_ms or int(ctx.config.step_timeout * 1000)
        ctx.check_not_stale(workflow_id, epoch)
        reservation = ctx.dispatch.reserve_step(name, workflow_id)
        # Registered before the task exists: no outcome committed later is missed.
        woken = ctx.wakeups.add_step_waiters(workflow_id, step_number)
        try:
            try:
                now = ctx.clock.now_ms()
                task, recorded = await ctx.store.create_task(NewTask(
                    workflow_id, step_number, name, input, epoch, now,
                    owner=ctx.config.node_id if reservation else None,
                    lease_until=ctx.lease_until() if reservation else None,
                    timeout_ms=timeout_ms, max_attempts=max(1, max_attempts),
                    attempt_deadline=now + timeout_ms if reservation else None,
                ))
            finally:
                if reservation is not None:
                    ctx.dispatch.release(reservation)
            if recorded is not None:
                return _same_step(recorded, step_number, name)
            assert task is not None
            if task.name != name:
                raise InvalidArgument(f"ScheduleStep of step {step_number} as {name!r}: it is already "
                                      f"scheduled as {task.name!r}; the workflow is not deterministic")
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
                        return _same_step(recorded, step_number, name)
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
        ctx.ending.add(workflow_id)
        try:
            with ctx.observer.commit("finish_workflow"):
                wf = await ctx.store.finish_workflow(workflow_id, epoch, status, outcome, ctx.clock.now_ms())
        finally:
            ctx.ending.discard(workflow_id)
        if wf is None:
            # Ended elsewhere (cancelled, say) while we tried: its note may
            # have come meanwhile and been passed over; wake its waiters now.
            ctx.wakeups.finished.wake(workflow_id)
            ctx.wakeups.events.wake(workflow_id)
            current = await ctx.store.get_workflow(workflow_id)
            if current is not None and current.epoch == epoch and current.status == status:
                return current  # a retried call whose first try committed
            raise await ctx.stale(workflow_id, epoch)
        ctx.ended(wf, "")
        return wf

    async def get_history(self, workflow_id: str, after: int, limit: int) -> tuple[list[StepRecord], bool]:
        steps = await self.ctx.store.list_steps(workflow_id, after, limit + 1)
        if not steps:
            await self.ctx.workflow(workflow_id)  # NOT_FOUND for a workflow that does not exist
        return steps[:limit], len(steps) > limit


def _same_step(recorded: StepRecord, step_number: int, name: str) -> StepRecord:
    """A recorded outcome answers a ScheduleStep only if it is a step of that name."""
    if recorded.kind is not StepKind.STEP or recorded.name != name:
        raise InvalidArgument(
            f"ScheduleStep of step {step_number} as {name!r}: step {step_number} is recorded as "
            f"{recorded.name!r} ({recorded.kind.value}); the workflow is not deterministic")
    return recorded
