"""The engine: the facade of every operation the API calls, and its life cycle.

All durable state is in the store. The engine's memory holds only what dies
with the process (dispatch.py: connected workers, which execution each runs,
steps waiting for a worker; waiters.py: callers waiting for results).
Workflows are claimed from the store with a lease owned by this node, so
several coordinators can share a database. The operations themselves live in
executions.py (running workflows) and waits.py (events, messages, sleep).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from . import loops
from .children import Children
from .claims import Claims
from .clock import Clock, StoreClock, SystemClock
from .context import Context, EngineConfig
from .dispatch import WorkerSession
from .engine_services import EngineServices
from .errors import StoreUnavailable
from .executions import Executions
from .inspect import Inspector
from .operate import Operations
from .ports import Store
from .queues import Queues
from .records import (
    Effect,
    EventRecord,
    Failure,
    NewStep,
    NewWorkflow,
    Note,
    NoteKind,
    Outcome,
    StepRecord,
    Value,
    Wait,
    WorkflowRecord,
    WorkflowStatus,
)
from .selects import Selects
from .timeouts import DeadlineTimers
from .waits import Waits

__all__ = ["Engine", "EngineConfig"]

log = logging.getLogger(__name__)


class Engine(EngineServices):
    def __init__(self, store: Store, config: EngineConfig, clock: Clock | None = None) -> None:
        self.clock = StoreClock(clock or SystemClock())
        self.ctx = Context(store, config, self.clock)
        self.store = store
        self.config = config
        # This process's life of the node: a restart under the same node ID is
        # a new one, and a life presumed dead by the others can be told apart.
        self.incarnation = uuid.uuid4().hex
        self.dispatch = self.ctx.dispatch
        self._executions = Executions(self.ctx)
        self._waits = Waits(self.ctx, self._executions)
        self._operations = Operations(self.ctx)
        self._queues = Queues(self.ctx, self._executions)
        self._inspector = Inspector(self.ctx)
        self._selects = Selects(self.ctx, self._executions)
        self._waits.select_takes = self._selects.message_arrived
        self._children = Children(self.ctx, self._executions, self._start_child_workflow)
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()  # referenced until done
        self._claims = Claims(self.ctx, self._queues)
        self.deadline_timers = DeadlineTimers(self.expire_deadlines)

    # -- life cycle ------------------------------------------------------------

    async def start(self, run_loops: bool = True) -> None:
        if run_loops:
            await self.sync_clock()
        await self.store.register_node(self.config.node_id, self.incarnation, self.clock.now_ms())
        # Leases held under our node ID belong to a previous life of this node:
        # nothing runs them now, so take them back at once instead of waiting.
        await self.store.release_workflows(self.config.node_id, None)
        await self.store.release_tasks(self.config.node_id, None)
        await self.store.listen(self._on_note)
        if run_loops:
            self._tasks = loops.start_loops(self)
            self.deadline_timers.enabled = True

    def stop_accepting(self) -> None:
        """Send no new assignments (SIGTERM drain)."""
        self.dispatch.accepting = False

    async def stop(self) -> None:
        self.dispatch.accepting = False
        self._queues.stop()
        self.deadline_timers.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for session in list(self.dispatch.workers.values()):
            session.link.close("coordinator stopping")
        try:
            await self.store.release_workflows(self.config.node_id, None)
            await self.store.release_tasks(self.config.node_id, None)
            await self.store.remove_node(self.config.node_id, self.incarnation)
        except StoreUnavailable as e:
            log.warning("could not release leases on stop (they will expire): %s", e)

    def _on_note(self, note: Note) -> None:
        """A change committed by another coordinator on the same database."""
        wakeups, workflow_id = self.ctx.wakeups, note.workflow_id
        if note.kind is NoteKind.EVENT:
            if self.dispatch.execution(workflow_id) is None:  # else it came through us: readers woke then
                wakeups.events.wake(workflow_id)
        elif note.kind is NoteKind.MESSAGE:
            wakeups.messages.wake(workflow_id)
            self._selects.message_arrived(workflow_id)
        elif note.kind is NoteKind.DONE:
            self.ctx.unclaimed.discard(workflow_id)
            if workflow_id not in self.ctx.ending:  # else our commit wakes them, with the record
                wakeups.finished.wake(workflow_id)
                wakeups.events.wake(workflow_id)
            if self.dispatch.tasks_of(workflow_id):  # its steps our workers run: revoke them
                self._in_background(self._revoke_steps(workflow_id))
        elif note.kind is NoteKind.WORK:
            # While a parked select is being decided here, its wake-up's note
            # must not make us claim it first: the decision calls more() itself.
            if not self._selects.deciding:
                self.ctx.work.more()
        elif note.kind is NoteKind.TASK:
            self.ctx.work.more_tasks()
        elif note.kind is NoteKind.QUEUE:
            self.ctx.work.more_queued()
        elif note.kind is NoteKind.STEP and note.step_number is not None:
            wakeups.step_recorded(workflow_id, note.step_number, None)
            task = self.dispatch.task(workflow_id, note.step_number)
            if task is not None:  # ours, recorded through another coordinator: free its slot
                self.dispatch.forget_task(task)
                self.ctx.work.slot_freed()

    # -- ticks of the background loops (loops.py; tests call them directly) ----

    async def dispatch_workflows(self) -> None:
        await self._claims.workflows()

    async def dispatch_tasks(self) -> None:
        await self._claims.tasks()

    async def renew_leases(self) -> None:
        node, until = self.config.node_id, self.ctx.lease_until()
        await self.store.renew_leases(node, list(self.dispatch.executions), until)
        await self.store.renew_task_leases(node, list(self.dispatch.tasks), until)

    async def heartbeat_node(self) -> None:
        """Say we are alive; take over the work of coordinators that are not."""
        config, now = self.config, self.clock.now_ms()
        if not await self.store.heartbeat_node(config.node_id, self.incarnation, now):
            # The others presumed us dead (we were paused, or cut off) and took
            # our work: whatever we still run here is fenced off in the store.
            log.warning("coordinator %s was presumed dead by the others; dropping its work",
                        config.node_id)
            self._drop_everything("this coordinator was presumed dead")
            await self.store.register_node(config.node_id, self.incarnation, now)
        dead = await self.store.reap_nodes(now - int(config.node_timeout * 1000))
        if dead:
            log.warning("coordinators %s stopped heartbeating; their work is released", ", ".join(dead))
            self.ctx.work.more()
            self.ctx.work.more_tasks()

    async def sync_clock(self) -> None:
        before = self.clock.base.now_ms()
        store_ms = await self.store.clock_ms()
        self.clock.sync(before, store_ms, self.clock.base.now_ms())

    def _drop_everything(self, reason: str) -> None:
        for execution in list(self.dispatch.executions.values()):
            self.ctx.drop(execution.workflow_id)
            execution.session.link.send_revoke(execution.workflow_id, execution.epoch, reason)
        for task in list(self.dispatch.tasks.values()):
            self.dispatch.forget_task(task)
        self.ctx.work.more()
        self.ctx.work.more_tasks()

    async def check_liveness(self) -> None:
        limit = self.clock.monotonic() - self.config.worker_timeout
        for session in self.dispatch.silent_since(limit):
            log.warning("worker %s missed heartbeats; presumed dead", session.worker_id)
            session.link.close("missed heartbeats")
            self.unregister(session)

    async def expire_deadlines(self) -> None:
        for wf in await self.store.expire_deadlines(self.clock.now_ms()):
            log.info("workflow %s timed out", wf.workflow_id)
            self.ctx.ended(wf, "timed out")
            self._selects.parked.pop(wf.workflow_id, None)
            await self._children.cancel_children(wf.workflow_id, self.cancel_workflow)

    # -- workers -------------------------------------------------------------

    def register(self, session: WorkerSession) -> None:
        old = self.dispatch.workers.get(session.worker_id)
        if old is not None:
            # The same worker reconnected before its old stream was noticed dead.
            old.link.close("replaced by a new connection")
            self.unregister(old)
        session.last_seen = self.clock.monotonic()
        self.dispatch.add_worker(session)
        log.info(
            "worker %s registered: %d workflows, %d steps, slots %d/%d",
            session.worker_id, len(session.workflows), len(session.steps),
            session.workflow_slots, session.step_slots,
        )
        self.ctx.work.more()  # it may serve workflows that waited for it
        self.ctx.work.more_tasks()
        self.ctx.work.more_queued()

    def stream_writable(self, session: WorkerSession) -> None:
        """The worker's stream caught up (it was congested): hand it work again."""
        self.ctx.work.slot_freed()
        self.ctx.work.more_tasks()

    def heartbeat(self, session: WorkerSession) -> None:
        session.last_seen = self.clock.monotonic()

    def drain(self, session: WorkerSession) -> None:
        session.draining = True

    def unregister(self, session: WorkerSession) -> None:
        """Forget a worker and hand its work to others. Synchronous, with the
        store write in a task of its own: a caller being cancelled (the gRPC
        handler of a dead worker's stream) must not cancel the recovery."""
        removed = self.dispatch.remove_worker(session)
        if removed is None:
            return
        lost, tasks = removed
        for workflow_id in lost:
            self.ctx.wakeups.steps.wake(workflow_id)
        log.info("worker %s gone; %d workflows and %d steps to recover", session.worker_id,
                 len(lost), len(tasks))
        release = asyncio.create_task(self._release(session.worker_id, lost, [t.key for t in tasks]))
        self._background.add(release)
        release.add_done_callback(self._background.discard)

    def _in_background(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(job)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _revoke_steps(self, workflow_id: str) -> None:
        try:
            wf = await self.store.get_workflow(workflow_id)
        except StoreUnavailable:
            return  # their outcomes are refused anyway
        if wf is not None and wf.status.final:
            self.ctx.revoke_steps(wf)

    async def _release(self, worker_id: str, workflow_ids: list[str],
                       tasks: list[tuple[str, int]]) -> None:
        try:
            if workflow_ids:
                await self.store.release_workflows(self.config.node_id, workflow_ids)
            if tasks:
                await self.store.release_tasks(self.config.node_id, tasks)
        except StoreUnavailable as e:
            log.warning("could not release the work of %s (leases will expire): %s", worker_id, e)
        self.ctx.work.more()
        self.ctx.work.more_tasks()

    # -- client operations ---------------------------------------------------

    async def start_workflow(
        self, name: str, input: Value, workflow_id: str | None, timeout_ms: int | None,
        parent_workflow_id: str | None = None,
    ) -> tuple[WorkflowRecord, bool]:
        now = self.clock.now_ms()
        workflow_id = workflow_id or str(uuid.uuid4())
        # A worker with a free slot at hand: create the workflow already claimed
        # and hand it over at once, skipping the claim round trip.
        reservation = self.dispatch.reserve(name)
        if reservation is None and not self.dispatch.unheld.is_set() and self.dispatch.serves(name):
            # The slots a claim in flight holds may come back unused (it
            # found less): wait for it rather than go the long way round.
            await self.dispatch.unheld.wait()
            reservation = self.dispatch.reserve(name)
        try:
            with self.ctx.observer.commit("create_workflow"):
                wf, created = await self.store.create_workflow(NewWorkflow(
                    workflow_id=workflow_id,
                    name=name,
                    input=input,
                    created_at=now,
                    deadline_at=now + timeout_ms if timeout_ms else None,
                    owner=self.config.node_id if reservation else None,
                    lease_until=self.ctx.lease_until() if reservation else None,
                    parent_workflow_id=parent_workflow_id,
                ))
        finally:
            if reservation is not None:
                self.dispatch.release(reservation)
        if not created:
            return wf, False
        if timeout_ms:
            self.deadline_timers.arm(timeout_ms / 1000)
        self.ctx.observer.workflow_started(name)
        if reservation is None:
            self.ctx.unclaimed.add(wf.workflow_id)
            self.ctx.work.more()
            if self.dispatch.serves(name):  # every slot for it is taken
                self.ctx.work.want_slot()
        elif self.dispatch.is_live(reservation.session):
            self.dispatch.assign(reservation.session, wf)
        else:  # the worker left meanwhile: let any coordinator claim it
            await self.store.release_workflows(self.config.node_id, [wf.workflow_id])
            self.ctx.unclaimed.add(wf.workflow_id)
            self.ctx.work.more()
        return wf, True

    async def get_workflow(self, workflow_id: str) -> WorkflowRecord:
        return await self.ctx.workflow(workflow_id)

    async def await_workflow(self, workflow_id: str, timeout: float) -> WorkflowRecord:
        deadline = self.clock.monotonic() + timeout
        first = True
        while True:
            with self.ctx.wakeups.finished.waiting(workflow_id) as woken:
                left = deadline - self.clock.monotonic()
                # At first, running on one of our workers or waiting for a
                # slot here (ctx.unclaimed): it is not final, and its end here
                # wakes us with the committed record; no read (a client
                # starting a workflow and awaiting it at once). After a note
                # or a poll, read: another coordinator may have ended it.
                if not first or left <= 0 or (self.dispatch.execution(workflow_id) is None
                                              and workflow_id not in self.ctx.unclaimed):
                    wf = await self.get_workflow(workflow_id)
                    if wf.status.final or left <= 0:
                        return wf
                first = False
                # Another coordinator may finish it: look again now and then.
                await asyncio.wait([woken], timeout=min(left, self.config.poll_interval))
                if woken.done() and isinstance(woken.result(), WorkflowRecord):
                    return woken.result()  # type: ignore[no-any-return]

    async def cancel_workflow(self, workflow_id: str) -> WorkflowRecord:
        wf = await self.store.finish_workflow(
            workflow_id, None, WorkflowStatus.CANCELLED,
            Outcome(error=Failure("WorkflowCancelled", f"workflow {workflow_id} was cancelled")),
            self.clock.now_ms(),
        )
        if wf is None:
            return await self.get_workflow(workflow_id)
        self.ctx.ended(wf, "cancelled")
        self._selects.parked.pop(workflow_id, None)
        await self._children.cancel_children(workflow_id, self.cancel_workflow)
        return wf

    async def list_workflows(
        self, status: WorkflowStatus | None, name: str | None, limit: int, *,
        created_after: int | None = None, created_before: int | None = None,
        after: tuple[int, str] | None = None, parent: str | None = None,
    ) -> list[WorkflowRecord]:
        """Newest first; `after`: the (created_at, workflow_id) the previous page ended with;
        `parent`: only the children that workflow started (one page)."""
        if parent is not None:
            return await self._children.list_children(parent, status, name, limit)
        return await self.store.list_workflows(status, name, limit, created_after=created_after,
                                               created_before=created_before, after=after)

    async def list_steps(self, workflow_id: str, after: int = -1,
                         limit: int | None = None) -> list[StepRecord]:
        """Recorded steps after step number `after`, at most `limit` (all if None)."""
        await self.get_workflow(workflow_id)
        return await self.store.list_steps(workflow_id, after, limit)

    async def get_event(self, workflow_id: str, key: str, timeout: float) -> EventRecord | None:
        return await self._waits.get_event(workflow_id, key, timeout)

    def watch_events(self, workflow_id: str, after_seq: int) -> AsyncIterator[EventRecord]:
        return self._waits.watch_events(workflow_id, after_seq)

    async def send(self, destination: str, topic: str, message: Value,
                   idempotency_key: str | None) -> bool:
        return await self._waits.send(destination, topic, message, idempotency_key)

    # -- running workflows (executions.py, waits.py) ---------------------------

    async def record_step(self, step: NewStep, effect: Effect | None = None) -> StepRecord:
        return await self._executions.record_step(step, effect)

    async def schedule_step(
        self, workflow_id: str, epoch: int, step_number: int, name: str, input: Value,
        timeout_ms: int | None = None, max_attempts: int = 1,
    ) -> StepRecord:
        return await self._executions.schedule_step(workflow_id, epoch, step_number, name, input,
                                                    timeout_ms, max_attempts)

    async def select(
        self, workflow_id: str, epoch: int, step_number: int, candidates: list[int]
    ) -> StepRecord:
        """Wait until one of the candidates completes; record and return the decision."""
        record = await self._selects.select(workflow_id, epoch, step_number, candidates, [], None)
        assert isinstance(record, StepRecord)
        return record

    async def finish_workflow(self, workflow_id: str, epoch: int, outcome: Outcome) -> WorkflowRecord:
        return await self._executions.finish_workflow(workflow_id, epoch, outcome)

    async def get_history(self, workflow_id: str, after: int, limit: int) -> tuple[list[StepRecord], bool]:
        return await self._executions.get_history(workflow_id, after, limit)

    async def set_event(self, workflow_id: str, epoch: int, step_number: int, key: str,
                        value: Value) -> StepRecord:
        return await self._waits.set_event(workflow_id, epoch, step_number, key, value)

    async def send_from_workflow(self, workflow_id: str, epoch: int, step_number: int,
                                 destination: str, topic: str, message: Value) -> StepRecord:
        return await self._waits.send_from_workflow(workflow_id, epoch, step_number, destination,
                                                    topic, message)

    async def read_event(self, workflow_id: str, epoch: int, step_number: int, target: str,
                         key: str, timeout_ms: int, hold_ms: int, park: bool = False) -> StepRecord | int:
        return await self._waits.read_event(workflow_id, epoch, step_number, target, key,
                                            timeout_ms, hold_ms, park)

    async def receive(self, workflow_id: str, epoch: int, step_number: int, topic: str,
                      timeout_ms: int, hold_ms: int, park: bool = False) -> StepRecord | int:
        return await self._waits.receive(workflow_id, epoch, step_number, topic, timeout_ms, hold_ms,
                                         park)

    async def sleep(self, workflow_id: str, epoch: int, step_number: int,
                    duration_ms: int) -> StepRecord:
        return await self._waits.sleep(workflow_id, epoch, step_number, duration_ms)

    async def park(self, workflow_id: str, epoch: int, resume_at: int, wait: Wait) -> None:
        await self._waits.park(workflow_id, epoch, resume_at, wait)
