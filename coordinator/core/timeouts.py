"""Timeouts that must fire on time: attempts of dispatched steps that ran past
their timeout (fenced off, then retried or failed), and workflow deadlines
(a timer per workflow started here, so a deadline does not wait for the next
poll of the store)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from .context import Context
from .records import Failure, NewStep, Outcome, StepKind, StepRecord, TaskRecord

log = logging.getLogger(__name__)

STEP_TIMEOUT = "StepTimeout"


def timeout_failure(task: TaskRecord, now: int) -> NewStep:
    """The outcome recorded for a step whose last allowed attempt timed out."""
    seconds = (task.timeout_ms or 0) / 1000
    return NewStep(
        workflow_id=task.workflow_id, epoch=task.epoch, step_number=task.step_number, name=task.name,
        kind=StepKind.STEP,
        outcome=Outcome(error=Failure(STEP_TIMEOUT, (
            f"step {task.step_number} ({task.name}) of workflow {task.workflow_id}: attempt "
            f"{task.attempt} ran past its timeout of {seconds:g} s, and {task.max_attempts} "
            f"attempt(s) were allowed"))),
        attempt=task.attempt, started_at=now, completed_at=now,
    )


async def expire_step_attempts(ctx: Context) -> list[tuple[TaskRecord, StepRecord | None]]:
    """Fence off every attempt past its deadline (in the store, for every
    coordinator): retried by any node, or failed with StepTimeout."""
    now = ctx.clock.now_ms()
    done = await ctx.store.expire_task_attempts(now, lambda task: timeout_failure(task, now))
    for task, record in done:
        local = ctx.dispatch.task(task.workflow_id, task.step_number)
        if local is not None and local.attempt == task.attempt:
            ctx.dispatch.forget_task(local)  # its slot is free; its outcome will be refused
            ctx.work.slot_freed()
        if record is not None:
            log.warning("workflow %s step %d (%s) failed: attempt %d timed out, the last allowed",
                        task.workflow_id, task.step_number, task.name, task.attempt)
            ctx.wakeups.step_recorded(task.workflow_id, task.step_number, record)
        else:
            log.info("workflow %s step %d (%s): attempt %d timed out; dispatched again",
                     task.workflow_id, task.step_number, task.name, task.attempt)
            ctx.work.more_tasks()
    return done


class DeadlineTimers:
    """One timer per workflow deadline started through this coordinator: at the
    deadline it runs `expire` (the store's deadline sweep). Deadlines of other
    coordinators' workflows, or from before a restart, are caught by the poll."""

    def __init__(self, expire: Callable[[], Awaitable[object]]) -> None:
        self._expire = expire
        self._handles: set[asyncio.TimerHandle] = set()
        self._running: set[asyncio.Task[object]] = set()
        self.enabled = False

    def arm(self, delay_s: float) -> asyncio.TimerHandle | None:
        if not self.enabled:
            return None
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._handles.discard(handle)
            task = asyncio.ensure_future(self._run())
            self._running.add(task)
            task.add_done_callback(self._running.discard)

        handle = asyncio.get_running_loop().call_later(max(delay_s, 0.0), fire)
        self._handles.add(handle)
        return handle

    async def _run(self) -> object:
        try:
            return await self._expire()
        except Exception as e:  # the poll tries again
            log.warning("deadline check failed: %s", e)
            return None

    def cancel(self) -> None:
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()
