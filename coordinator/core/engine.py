"""Scheduling, leases and recovery: the coordinator's core, free of gRPC and SQL.

All durable state is in the store. This object holds only what dies with the
process: the connected workers, which execution each runs, steps waiting for a
worker, and callers waiting for results. Workflows are claimed from the store
with a lease owned by this node, so several coordinators can share a database.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .clock import Clock, SystemClock
from .dispatch import StepTask, WorkerSession
from .errors import FailedPrecondition, NotFound, StoreUnavailable
from .ports import Store
from .records import (
    Effect,
    EventRecord,
    Failure,
    NewMessage,
    NewStep,
    NewWorkflow,
    Note,
    NoteKind,
    Outcome,
    RecordResult,
    Recv,
    Send,
    SetEvent,
    StepKind,
    StepRecord,
    Value,
    Wait,
    WorkflowRecord,
    WorkflowStatus,
)

log = logging.getLogger(__name__)


def now_ms() -> int:
    return int(time.time() * 1000)


@contextlib.contextmanager
def _waiter(table: dict[str, set[asyncio.Future[Any]]], key: str) -> Iterator[asyncio.Future[Any]]:
    """A future woken by `_wake(table, key)`; registered before the caller looks
    at the store, so a change committed meanwhile is never missed."""
    woken: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    table.setdefault(key, set()).add(woken)
    try:
        yield woken
    finally:
        waiters = table.get(key)
        if waiters is not None:
            waiters.discard(woken)
            if not waiters:
                del table[key]


def _wake(table: dict[str, set[asyncio.Future[Any]]], key: str, value: Any = None) -> None:
    """Wake the waiters of `key`, handing them `value` (what changed, if known)."""
    for woken in table.pop(key, ()):
        if not woken.done():
            woken.set_result(value)


@dataclass(frozen=True)
class EngineConfig:
    node_id: str
    heartbeat_interval: float = 1.0
    # A worker silent this long is presumed dead and loses its assignments.
    worker_timeout: float = 5.0
    # Store lease on claimed workflows; renewed every third of it.
    lease_ttl: float = 30.0
    # Safety-net rescan of the store for work other coordinators released.
    poll_interval: float = 1.0


class Engine:
    def __init__(self, store: Store, config: EngineConfig, clock: Clock | None = None) -> None:
        self.store = store
        self.config = config
        self.clock = clock or SystemClock()
        self._workers: dict[str, WorkerSession] = {}
        # workflow_id -> (epoch, session) for executions running on our workers.
        self._executions: dict[str, tuple[int, WorkerSession]] = {}
        self._step_queue: collections.deque[StepTask] = collections.deque()
        self._step_tasks: dict[tuple[str, int], StepTask] = {}
        self._waiters: dict[str, set[asyncio.Future[Any]]] = {}
        # Woken whenever one of the workflow's steps is committed (select waits on it).
        self._step_waiters: dict[str, set[asyncio.Future[Any]]] = {}
        # Woken when the workflow sets an event or ends (event readers, watchers).
        self._event_waiters: dict[str, set[asyncio.Future[Any]]] = {}
        # Woken when a message for the workflow is committed.
        self._message_waiters: dict[str, set[asyncio.Future[Any]]] = {}
        self._wake_dispatch = asyncio.Event()
        # Whether claimable workflows may be waiting in the store. A freed slot
        # triggers a claim only then, so the common path (workflows created
        # already claimed) costs no empty claim query per workflow.
        self._backlog = True
        self._work_gen = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()  # referenced until done
        self._accepting = True

    # -- life cycle ------------------------------------------------------------

    async def start(self) -> None:
        # Leases held under our node ID belong to a previous life of this node:
        # nothing runs them now, so take them back at once instead of waiting.
        await self.store.release_workflows(self.config.node_id, None)
        await self.store.listen(self._on_note)
        for loop in (self._dispatch_loop, self._lease_loop, self._liveness_loop, self._deadline_loop):
            self._tasks.append(asyncio.create_task(loop(), name=loop.__name__))

    def stop_accepting(self) -> None:
        """Send no new assignments (SIGTERM drain)."""
        self._accepting = False

    async def stop(self) -> None:
        self._accepting = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for session in list(self._workers.values()):
            session.link.close("coordinator stopping")
        try:
            await self.store.release_workflows(self.config.node_id, None)
        except StoreUnavailable as e:
            log.warning("could not release leases on stop (they will expire): %s", e)

    def _more_work(self) -> None:
        """Something may have become claimable: look in the store."""
        self._backlog = True
        self._work_gen += 1
        self._wake_dispatch.set()

    async def _dispatch_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake_dispatch.wait(), self.config.poll_interval)
            except asyncio.TimeoutError:
                # Safety net: other coordinators' work, expired leases.
                self._more_work()
            self._wake_dispatch.clear()
            try:
                await self._dispatch_workflows()
            except StoreUnavailable as e:
                log.warning("dispatch paused, store unavailable: %s", e)
                await asyncio.sleep(self.config.poll_interval)
            except Exception:
                log.exception("dispatch failed")

    async def _lease_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.lease_ttl / 3)
            try:
                await self.store.renew_leases(
                    self.config.node_id, list(self._executions), self._lease_until())
            except StoreUnavailable as e:
                log.warning("lease renewal failed: %s", e)

    async def _liveness_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_interval)
            limit = time.monotonic() - self.config.worker_timeout
            for session in [s for s in self._workers.values() if s.last_seen < limit]:
                log.warning("worker %s missed heartbeats; presumed dead", session.worker_id)
                session.link.close("missed heartbeats")
                self.unregister(session)

    async def _deadline_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.poll_interval)
            try:
                for wf in await self.store.expire_deadlines(now_ms()):
                    log.info("workflow %s timed out", wf.workflow_id)
                    self._ended(wf, "timed out")
            except StoreUnavailable as e:
                log.warning("deadline check failed: %s", e)

    def _on_note(self, note: Note) -> None:
        """A change committed by another coordinator on the same database."""
        workflow_id = note.workflow_id
        if note.kind is NoteKind.EVENT:
            if workflow_id not in self._executions:  # else it came through us: readers woke then
                _wake(self._event_waiters, workflow_id)
        elif note.kind is NoteKind.MESSAGE:
            _wake(self._message_waiters, workflow_id)
        elif note.kind is NoteKind.DONE:
            _wake(self._waiters, workflow_id)
            _wake(self._event_waiters, workflow_id)
        elif note.kind is NoteKind.WORK:
            self._more_work()

    def _lease_until(self) -> int:
        return now_ms() + int(self.config.lease_ttl * 1000)

    # -- workers -------------------------------------------------------------

    def register(self, session: WorkerSession) -> None:
        old = self._workers.get(session.worker_id)
        if old is not None:
            # The same worker reconnected before its old stream was noticed dead.
            old.link.close("replaced by a new connection")
            self.unregister(old)
        self._workers[session.worker_id] = session
        log.info(
            "worker %s registered: %d workflows, %d steps, slots %d/%d",
            session.worker_id, len(session.workflows), len(session.steps),
            session.workflow_slots, session.step_slots,
        )
        self._more_work()  # it may serve workflows that waited for it
        self._dispatch_steps()

    def heartbeat(self, session: WorkerSession) -> None:
        session.last_seen = time.monotonic()

    def drain(self, session: WorkerSession) -> None:
        session.draining = True

    def unregister(self, session: WorkerSession) -> None:
        """Forget a worker and hand its work to others. Synchronous, with the
        store write in a task of its own: a caller being cancelled (the gRPC
        handler of a dead worker's stream) must not cancel the recovery."""
        if self._workers.get(session.worker_id) is not session:
            return
        del self._workers[session.worker_id]
        lost = [wid for wid, epoch in session.running.items()
                if self._executions.get(wid, (None, None))[1] is session]
        for wid in lost:
            self._drop_execution(wid)
        for task in list(session.step_tasks):
            # Hand the step to another worker under a new attempt number.
            task.worker = None
            self._step_queue.appendleft(task)
        session.step_tasks.clear()
        log.info("worker %s gone; %d workflows to recover", session.worker_id, len(lost))
        self._dispatch_steps()
        release = asyncio.create_task(self._release(session.worker_id, lost))
        self._background.add(release)
        release.add_done_callback(self._background.discard)

    async def _release(self, worker_id: str, workflow_ids: list[str]) -> None:
        if workflow_ids:
            try:
                await self.store.release_workflows(self.config.node_id, workflow_ids)
            except StoreUnavailable as e:
                log.warning("could not release workflows of %s (leases will expire): %s",
                            worker_id, e)
        self._more_work()

    # -- workflow dispatch ---------------------------------------------------

    async def _dispatch_workflows(self) -> None:
        if not self._accepting or not self._backlog:
            return
        generation, exhausted = self._work_gen, True
        for session in list(self._workers.values()):
            if not session.workflows:
                continue
            free = session.free_workflow_slots
            if free <= 0:
                exhausted = False  # could not look for it: work may still wait
                continue
            claimed = await self.store.claim_workflows(
                self.config.node_id, sorted(session.workflows), free, now_ms(), self._lease_until()
            )
            exhausted = exhausted and len(claimed) < free
            for wf in claimed:
                if self._workers.get(session.worker_id) is not session:
                    # It left while we claimed: give the workflow back.
                    await self.store.release_workflows(self.config.node_id, [wf.workflow_id])
                    continue
                self._assign(session, wf)
        if exhausted and generation == self._work_gen:
            self._backlog = False  # every worker with room found nothing more

    def _drop_execution(self, workflow_id: str) -> None:
        """Forget a running execution and the steps it is waiting for."""
        entry = self._executions.pop(workflow_id, None)
        if entry is None:
            return
        epoch, session = entry
        session.running.pop(workflow_id, None)
        for task in [t for t in self._step_tasks.values() if t.workflow_id == workflow_id]:
            self._forget_task(task)
            if not task.result.done():
                task.result.set_exception(
                    FailedPrecondition(f"workflow {workflow_id} execution {epoch} was stopped")
                )
        _wake(self._step_waiters, workflow_id)

    def _ended(self, wf: WorkflowRecord, reason: str) -> None:
        """A workflow became final: stop its execution, wake its waiters."""
        entry = self._executions.get(wf.workflow_id)
        if entry is not None:
            epoch, session = entry
            self._drop_execution(wf.workflow_id)
            if reason:
                session.link.send_revoke(wf.workflow_id, epoch, reason)
            self._wake_dispatch.set()
        _wake(self._waiters, wf.workflow_id, wf)  # the final record: no need to read it again
        _wake(self._event_waiters, wf.workflow_id)

    # -- client operations ---------------------------------------------------

    async def start_workflow(
        self, name: str, input: Value, workflow_id: str | None, timeout_ms: int | None
    ) -> tuple[WorkflowRecord, bool]:
        now = now_ms()
        workflow_id = workflow_id or str(uuid.uuid4())
        # A worker with a free slot at hand: create the workflow already claimed
        # and hand it over at once, skipping the claim round trip.
        session = self._free_worker_for(name)
        if session is not None:
            session.running[workflow_id] = 0  # the slot is taken while we insert
        try:
            wf, created = await self.store.create_workflow(NewWorkflow(
                workflow_id=workflow_id,
                name=name,
                input=input,
                created_at=now,
                deadline_at=now + timeout_ms if timeout_ms else None,
                owner=self.config.node_id if session else None,
                lease_until=self._lease_until() if session else None,
            ))
        finally:
            if session is not None:
                session.running.pop(workflow_id, None)
        if not created:
            return wf, False
        if session is None:
            self._more_work()
        elif self._workers.get(session.worker_id) is session:
            self._assign(session, wf)
        else:  # the worker left meanwhile: let any coordinator claim it
            await self.store.release_workflows(self.config.node_id, [wf.workflow_id])
            self._more_work()
        return wf, True

    def _free_worker_for(self, name: str) -> WorkerSession | None:
        if not self._accepting:
            return None
        candidates = [s for s in self._workers.values()
                      if name in s.workflows and s.free_workflow_slots > 0]
        return max(candidates, key=lambda s: s.free_workflow_slots, default=None)

    def _assign(self, session: WorkerSession, wf: WorkflowRecord) -> None:
        self._executions[wf.workflow_id] = (wf.epoch, session)
        session.running[wf.workflow_id] = wf.epoch
        log.debug("workflow %s epoch %d -> worker %s", wf.workflow_id, wf.epoch, session.worker_id)
        session.link.send_workflow(wf)

    async def get_workflow(self, workflow_id: str) -> WorkflowRecord:
        wf = await self.store.get_workflow(workflow_id)
        if wf is None:
            raise NotFound(f"no workflow with ID {workflow_id!r}")
        return wf

    async def await_workflow(self, workflow_id: str, timeout: float) -> WorkflowRecord:
        deadline = time.monotonic() + timeout
        while True:
            with _waiter(self._waiters, workflow_id) as woken:
                wf = await self.get_workflow(workflow_id)
                left = deadline - time.monotonic()
                if wf.status.final or left <= 0:
                    return wf
                # Another coordinator may finish it: look again now and then.
                await asyncio.wait([woken], timeout=min(left, self.config.poll_interval))
                if woken.done() and isinstance(woken.result(), WorkflowRecord):
                    return woken.result()  # type: ignore[no-any-return]

    async def cancel_workflow(self, workflow_id: str) -> WorkflowRecord:
        wf = await self.store.finish_workflow(
            workflow_id, None, WorkflowStatus.CANCELLED,
            Outcome(error=Failure("WorkflowCancelled", f"workflow {workflow_id} was cancelled")),
            now_ms(),
        )
        if wf is None:
            return await self.get_workflow(workflow_id)
        self._ended(wf, "cancelled")
        return wf

    async def list_workflows(
        self, status: WorkflowStatus | None, name: str | None, limit: int
    ) -> list[WorkflowRecord]:
        return await self.store.list_workflows(status, name, limit)

    async def list_steps(self, workflow_id: str) -> list[StepRecord]:
        await self.get_workflow(workflow_id)
        return await self.store.list_steps(workflow_id)

    # -- workflow execution --------------------------------------------------

    def _check_execution(self, workflow_id: str, epoch: int) -> None:
        entry = self._executions.get(workflow_id)
        if entry is not None and entry[0] != epoch:
            raise FailedPrecondition(
                f"workflow {workflow_id}: execution {epoch} is stale, execution {entry[0]} holds the lease"
            )

    async def _stale(self, workflow_id: str, epoch: int) -> FailedPrecondition:
        wf = await self.store.get_workflow(workflow_id)
        if wf is None:
            return FailedPrecondition(f"workflow {workflow_id!r} does not exist")
        if wf.status.final:
            return FailedPrecondition(f"workflow {workflow_id} is already {wf.status.value}")
        return FailedPrecondition(
            f"workflow {workflow_id}: execution {epoch} lost its lease (now execution {wf.epoch})"
        )

    async def record_step(self, step: NewStep, effect: Effect | None = None) -> StepRecord:
        """Record an outcome (and its effect); the first committed wins."""
        task = self._step_tasks.get((step.workflow_id, step.step_number))
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
            self._check_execution(step.workflow_id, step.epoch)
        result, record = await self.store.record_step(step, effect)
        if result is RecordResult.STALE:
            raise await self._stale(step.workflow_id, step.epoch)
        if result is RecordResult.NOT_FOUND:
            raise NotFound(f"no workflow with ID {getattr(effect, 'message', step).workflow_id!r}")
        assert record is not None
        if result is RecordResult.RECORDED:
            _wake(self._step_waiters, step.workflow_id)
        if task is not None and step.attempt > 0:
            self._forget_task(task)
            if not task.result.done():
                task.result.set_result(record)
            self._dispatch_steps()
        return record

    async def schedule_step(
        self, workflow_id: str, epoch: int, step_number: int, name: str, input: Value
    ) -> StepRecord:
        """Run a step on some worker that serves it; return its recorded outcome."""
        self._check_execution(workflow_id, epoch)
        task = self._step_tasks.get((workflow_id, step_number))
        if task is None or task.epoch != epoch:
            if task is not None:
                self._forget_task(task)
            recorded = await self.store.get_step(workflow_id, step_number)
            if recorded is not None:
                return recorded
            task = StepTask(
                workflow_id, epoch, step_number, name, input, now_ms(),
                asyncio.get_running_loop().create_future(),
            )
            self._step_tasks[task.key] = task
            self._step_queue.append(task)
            self._dispatch_steps()
        return await asyncio.shield(task.result)

    def _forget_task(self, task: StepTask) -> None:
        if self._step_tasks.get(task.key) is task:
            del self._step_tasks[task.key]
        if task.worker is not None:
            task.worker.step_tasks.discard(task)
            task.worker = None
        try:
            self._step_queue.remove(task)
        except ValueError:
            pass

    def _dispatch_steps(self) -> None:
        """Hand queued steps to workers: the workflow's own worker first."""
        if not self._accepting or not self._step_queue:
            return
        waiting: collections.deque[StepTask] = collections.deque()
        while self._step_queue:
            task = self._step_queue.popleft()
            session = self._pick_step_worker(task)
            if session is None:
                waiting.append(task)
                continue
            task.attempt += 1
            task.worker = session
            session.step_tasks.add(task)
            session.link.send_step(task)
        self._step_queue = waiting

    def _pick_step_worker(self, task: StepTask) -> WorkerSession | None:
        own = self._executions.get(task.workflow_id)
        if own is not None:
            session = own[1]
            if task.name in session.steps and session.free_step_slots > 0:
                return session
        candidates = [s for s in self._workers.values()
                      if task.name in s.steps and s.free_step_slots > 0]
        return max(candidates, key=lambda s: s.free_step_slots, default=None)

    async def select(
        self, workflow_id: str, epoch: int, step_number: int, candidates: list[int]
    ) -> StepRecord:
        """Record which candidate step completed first, by commit order."""
        started = now_ms()
        while True:
            entry = self._executions.get(workflow_id)
            if entry is None or entry[0] != epoch:
                raise await self._stale(workflow_id, epoch)
            with _waiter(self._step_waiters, workflow_id) as woken:
                done = await self.store.get_steps(workflow_id, [*candidates, step_number])
                decided = [s for s in done if s.step_number == step_number]
                if decided:
                    return decided[0]  # a replay or a retried call: the first decision
                if done:
                    break
                await asyncio.wait([woken], timeout=self.config.poll_interval)
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
            completed_at=now_ms(),
            select_index=index,
            select_step_number=winner.step_number,
        ))

    async def finish_workflow(self, workflow_id: str, epoch: int, outcome: Outcome) -> WorkflowRecord:
        self._check_execution(workflow_id, epoch)
        status = WorkflowStatus.ERROR if outcome.error is not None else WorkflowStatus.SUCCESS
        wf = await self.store.finish_workflow(workflow_id, epoch, status, outcome, now_ms())
        if wf is None:
            current = await self.store.get_workflow(workflow_id)
            if current is not None and current.epoch == epoch and current.status == status:
                return current  # a retried call whose first try committed
            raise await self._stale(workflow_id, epoch)
        self._ended(wf, "")
        return wf

    async def get_history(self, workflow_id: str, after: int, limit: int) -> tuple[list[StepRecord], bool]:
        steps = await self.store.list_steps(workflow_id, after, limit + 1)
        return steps[:limit], len(steps) > limit

    # -- events, messages, sleep and parking ---------------------------------

    def _current(self, workflow_id: str, epoch: int) -> None:
        entry = self._executions.get(workflow_id)
        if entry is None or entry[0] != epoch:
            raise FailedPrecondition(
                f"workflow {workflow_id}: execution {epoch} does not hold the lease here"
            )

    async def set_event(self, workflow_id: str, epoch: int, step_number: int, key: str,
                        value: Value) -> StepRecord:
        now = now_ms()
        record = await self.record_step(NewStep(
            workflow_id, epoch, step_number, key, StepKind.SET_EVENT, Outcome(output=value),
            0, now, now,
        ), SetEvent(key))
        _wake(self._event_waiters, workflow_id)
        self._more_work()  # workflows parked in get_event may be claimable now
        return record

    async def send_from_workflow(self, workflow_id: str, epoch: int, step_number: int,
                                 destination: str, topic: str, message: Value) -> StepRecord:
        now = now_ms()
        step = NewStep(workflow_id, epoch, step_number, topic, StepKind.SEND,
                       Outcome(output=Value("json", b"null")), 0, now, now)
        # The step's identity is the idempotency key: a retried send delivers once.
        delivery = NewMessage(destination, topic, message, f"step:{workflow_id}:{step_number}", now)
        try:
            record = await self.record_step(step, Send(delivery))
        except NotFound:
            # Recorded as the step's error, so a replay fails the same way.
            failed = dataclasses.replace(step, outcome=Outcome(error=Failure(
                "WorkflowNotFound", f"cannot send to {destination!r}: no such workflow")))
            return await self.record_step(failed)
        self._message_arrived(destination)
        return record

    async def send(self, destination: str, topic: str, message: Value,
                   idempotency_key: str | None) -> bool:
        # Client keys get their own namespace: they can never collide with the
        # keys of sends from workflow steps ("step:...").
        key = f"client:{idempotency_key}" if idempotency_key else None
        result = await self.store.send_message(NewMessage(destination, topic, message, key, now_ms()))
        if result is RecordResult.NOT_FOUND:
            raise NotFound(f"cannot send to {destination!r}: no such workflow")
        self._message_arrived(destination)
        return result is RecordResult.RECORDED

    def _message_arrived(self, workflow_id: str) -> None:
        _wake(self._message_waiters, workflow_id)
        self._more_work()  # it may have been parked waiting for it

    async def _wait_for(
        self, workflow_id: str, epoch: int, step_number: int, timeout_ms: int, hold_ms: int,
        table: dict[str, set[asyncio.Future[Any]]], watched: str,
        attempt: Callable[[bool], Awaitable[StepRecord | None]],
    ) -> StepRecord | int:
        """Shared loop of recv and read_event: `attempt(timed_out)` records the
        step if it can; else wait for a wake-up on `table[watched]`. Returns the
        record, or the deadline (ms) if `hold_ms` passed first."""
        self._current(workflow_id, epoch)
        record = await attempt(False)
        if record is not None:
            return record
        deadline = await self.store.wait_deadline(workflow_id, step_number, now_ms() + timeout_ms)
        if hold_ms <= 0 and now_ms() < deadline:
            # The caller parks at once; what arrives from now on wakes it (park
            # checks for it), so no second look is needed.
            return deadline
        hold_end = time.monotonic() + hold_ms / 1000
        while True:
            with _waiter(table, watched) as woken:
                record = await attempt(now_ms() >= deadline)
                if record is not None:
                    return record
                left = min((deadline - now_ms()) / 1000, hold_end - time.monotonic())
                if left <= 0:
                    return deadline
                await asyncio.wait([woken], timeout=min(left, self.config.poll_interval))
            self._current(workflow_id, epoch)

    async def read_event(self, workflow_id: str, epoch: int, step_number: int, target: str,
                         key: str, timeout_ms: int, hold_ms: int) -> StepRecord | int:
        async def attempt(timed_out: bool) -> StepRecord | None:
            event = await self.store.get_event(target, key)
            if event is None and not timed_out:
                return None
            value = event.value if event is not None else Value("json", b"null")
            now = now_ms()
            return await self.record_step(NewStep(
                workflow_id, epoch, step_number, f"{target}/{key}", StepKind.GET_EVENT,
                Outcome(output=value), 0, now, now))

        return await self._wait_for(workflow_id, epoch, step_number, timeout_ms, hold_ms,
                                    self._event_waiters, target, attempt)

    async def receive(self, workflow_id: str, epoch: int, step_number: int, topic: str,
                      timeout_ms: int, hold_ms: int) -> StepRecord | int:
        async def attempt(timed_out: bool) -> StepRecord | None:
            now = now_ms()
            step = NewStep(workflow_id, epoch, step_number, topic, StepKind.RECV,
                           Outcome(output=Value("json", b"null")), 0, now, now)
            result, record = await self.store.record_step(step, Recv(topic))
            if result is RecordResult.EMPTY:
                return await self.record_step(step) if timed_out else None
            if result is RecordResult.STALE:
                raise await self._stale(workflow_id, epoch)
            return record

        return await self._wait_for(workflow_id, epoch, step_number, timeout_ms, hold_ms,
                                    self._message_waiters, workflow_id, attempt)

    async def sleep(self, workflow_id: str, epoch: int, step_number: int,
                    duration_ms: int) -> StepRecord:
        now = now_ms()
        wake_at = json.dumps(now + duration_ms).encode()
        return await self.record_step(NewStep(
            workflow_id, epoch, step_number, "sleep", StepKind.SLEEP,
            Outcome(output=Value("json", wake_at)), 0, now, now))

    async def park(self, workflow_id: str, epoch: int, resume_at: int, wait: Wait) -> None:
        self._current(workflow_id, epoch)
        if not await self.store.park(workflow_id, epoch, resume_at, wait, now_ms()):
            raise await self._stale(workflow_id, epoch)
        self._drop_execution(workflow_id)
        delay = max(0.0, (resume_at - now_ms()) / 1000)
        asyncio.get_running_loop().call_later(delay, self._more_work)
        self._wake_dispatch.set()  # its slot is free

    async def get_event(self, workflow_id: str, key: str, timeout: float) -> EventRecord | None:
        deadline = time.monotonic() + timeout
        while True:
            with _waiter(self._event_waiters, workflow_id) as woken:
                event = await self.store.get_event(workflow_id, key)
                left = deadline - time.monotonic()
                if event is not None or left <= 0:
                    return event
                await asyncio.wait([woken], timeout=min(left, self.config.poll_interval))

    async def watch_events(self, workflow_id: str, after_seq: int) -> AsyncIterator[EventRecord]:
        await self.get_workflow(workflow_id)
        while True:
            with _waiter(self._event_waiters, workflow_id) as woken:
                # Read the status first: events committed before it ended are
                # then all in the list read next.
                final = (await self.get_workflow(workflow_id)).status.final
                events = await self.store.list_events(workflow_id, after_seq, 1000)
                for event in events:
                    yield event
                    after_seq = event.seq
                if len(events) == 1000:
                    continue
                if final:
                    return
                await asyncio.wait([woken], timeout=self.config.poll_interval)
