"""Queues: named limits on how many workflows start, kept in the store.

A queued workflow is created ENQUEUED. The store starts it (PENDING, claimed
by this node for one of its workers) only within every limit of its queue,
in one transaction that no other coordinator's dequeue of that queue
overlaps, so the limits hold across all of them. Dequeues are pushed, not
polled: an enqueue, a queued workflow's end (here, or a "queue" note from
another coordinator), a worker with free slots or a rate window that opens
wake the dispatch loop, which dequeues at once for every worker with room.
"""

from __future__ import annotations

import asyncio
import json
import uuid

from .context import Context
from .dispatch import WorkerSession
from .errors import AlreadyExists, NotFound
from .executions import Executions
from .records import (
    EnqueueResult,
    NewQueued,
    NewStep,
    NewWorkflow,
    Outcome,
    QueueRecord,
    QueueState,
    StepKind,
    StepRecord,
    Value,
    WorkflowRecord,
)

# Workflows dequeued for one worker in one pass of the dispatch loop.
DEQUEUE_BATCH = 16


def enqueue_step_name(queue: str) -> str:
    """The name of the step recording an enqueue from a workflow."""
    return f"enqueue:{queue}"


class Queues:
    def __init__(self, ctx: Context, executions: Executions) -> None:
        self.ctx = ctx
        self._executions = executions
        # A wake-up when a rate window opens: (when, its handle).
        self._timer: tuple[int, asyncio.TimerHandle] | None = None

    # -- queues ------------------------------------------------------------

    async def set_queue(self, queue: QueueRecord) -> QueueState:
        now = self.ctx.clock.now_ms()
        record = await self.ctx.store.set_queue(
            QueueRecord(queue.name, queue.concurrency, queue.worker_concurrency, queue.rate_limit,
                        queue.rate_period_ms, queue.partition_concurrency, now, now))
        self.ctx.work.more_queued()  # raised limits may start some at once
        state = await self.ctx.store.get_queue(record.name)
        return state or QueueState(record, 0, 0)

    async def get_queue(self, name: str) -> QueueState:
        state = await self.ctx.store.get_queue(name)
        if state is None:
            raise NotFound(f"no queue named {name!r}")
        return state

    async def list_queues(self) -> list[QueueState]:
        return await self.ctx.store.list_queues()

    # -- enqueue -----------------------------------------------------------

    async def enqueue(
        self, queue: str, name: str, input: Value, workflow_id: str | None, timeout_ms: int | None,
        priority: int, deduplication_id: str | None, partition_key: str | None,
    ) -> tuple[WorkflowRecord, bool]:
        ctx = self.ctx
        now = ctx.clock.now_ms()
        result, wf = await ctx.store.enqueue_workflow(NewQueued(
            NewWorkflow(workflow_id or str(uuid.uuid4()), name, input, now, None),
            queue, priority, deduplication_id, partition_key, timeout_ms))
        if result is EnqueueResult.NO_QUEUE:
            raise NotFound(f"no queue named {queue!r} (create it with SetQueue)")
        assert wf is not None
        if result is EnqueueResult.DUPLICATE:
            raise AlreadyExists(
                f"queue {queue!r}: deduplication ID {deduplication_id!r} is held by workflow "
                f"{wf.workflow_id!r}", wf.workflow_id)
        if result is EnqueueResult.EXISTS:
            return wf, False
        if result is EnqueueResult.CREATED:
            ctx.work.more_queued()  # it may start now; else a running one's end wakes us
        return wf, True

    async def enqueue_from_workflow(
        self, workflow_id: str, epoch: int, step_number: int, queue: str, name: str, input: Value,
        child_id: str | None, timeout_ms: int | None, priority: int, deduplication_id: str | None,
        partition_key: str | None,
    ) -> StepRecord:
        """Enqueue as a durable step of `workflow_id`: its output is the ID."""
        ctx = self.ctx
        ctx.check_not_stale(workflow_id, epoch)
        recorded = await ctx.store.get_step(workflow_id, step_number)
        if recorded is not None:
            return recorded
        started = ctx.clock.now_ms()
        # A default ID fixed by the step: a retry finds the same workflow.
        child_id = child_id or f"{workflow_id}-{step_number}"
        wf, _ = await self.enqueue(queue, name, input, child_id, timeout_ms, priority,
                                   deduplication_id, partition_key)
        return await self._executions.record_step(NewStep(
            workflow_id=workflow_id, epoch=epoch, step_number=step_number,
            name=enqueue_step_name(queue), kind=StepKind.STEP,
            outcome=Outcome(output=Value("json", json.dumps(wf.workflow_id).encode())),
            attempt=0, started_at=started, completed_at=ctx.clock.now_ms(),
        ))

    # -- the dispatch loop's tick -------------------------------------------

    async def dispatch(self) -> None:
        """Start enqueued workflows for every worker with free slots."""
        ctx = self.ctx
        work, dispatch = ctx.work, ctx.dispatch
        if not dispatch.accepting or not work.queue_backlog:
            return
        generation, exhausted, again = work.queue_generation, True, False
        for session in list(dispatch.workers.values()):
            if not session.workflows:
                continue
            held = dispatch.hold(session, DEQUEUE_BATCH)
            if held is None:
                exhausted = False  # could not look for it: work may still wait
                continue
            free = held.count
            try:
                started, retry_at = await ctx.store.dequeue_workflows(
                    ctx.config.node_id, sorted(session.workflows), free, ctx.clock.now_ms(),
                    ctx.lease_until(), dispatch.queued_on(session))
            finally:
                dispatch.release(held)
            if retry_at is not None:
                self._wake_at(retry_at)
            exhausted = exhausted and len(started) < free
            again = again or len(started) == free
            for wf in started:
                if dispatch.is_live(session):
                    dispatch.assign(session, wf)
                else:  # it left while we dequeued: any coordinator may claim it now
                    await ctx.store.release_workflows(ctx.config.node_id, [wf.workflow_id])
                    work.more()
        if exhausted and generation == work.queue_generation:
            work.queue_backlog = False  # nothing more can start until something changes
        if again:
            work.more_queued()  # a full batch: look for the next one at once

    async def admit(self, session: WorkerSession, claimed: list[WorkflowRecord]) -> list[WorkflowRecord]:
        """Of workflows claimed for `session` (a recovery, a resume after a
        park: they left their queue already), those its queue's
        worker_concurrency lets it run; the others are released at once, for
        a worker with room (here, or at another coordinator) to claim."""
        ctx = self.ctx
        queues = {wf.queue for wf in claimed if wf.queue is not None}
        if not queues:
            return claimed
        limits: dict[str, int | None] = {}
        for name in queues:
            state = await ctx.store.get_queue(name)
            limits[name] = state.queue.worker_concurrency if state is not None else None
        counts = ctx.dispatch.queued_on(session)
        keep: list[WorkflowRecord] = []
        back: list[str] = []
        for wf in claimed:
            limit = limits.get(wf.queue) if wf.queue is not None else None
            if wf.queue is not None and limit is not None:
                if counts.get(wf.queue, 0) >= limit:
                    back.append(wf.workflow_id)
                    continue
                counts[wf.queue] = counts.get(wf.queue, 0) + 1
            keep.append(wf)
        if back:
            await ctx.store.release_workflows(ctx.config.node_id, back)
        return keep

    def _wake_at(self, at: int) -> None:
        """Look at the queues again when a rate window opens at `at` (ms)."""
        if self._timer is not None:
            if self._timer[0] <= at:
                return
            self._timer[1].cancel()
        delay = max(0.0, (at - self.ctx.clock.now_ms()) / 1000)
        handle = asyncio.get_running_loop().call_later(delay, self._woken)
        self._timer = (at, handle)

    def _woken(self) -> None:
        self._timer = None
        self.ctx.work.more_queued()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer[1].cancel()
            self._timer = None
