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
import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from .errors import FailedPrecondition, NotFound
from .store import (
    Failure,
    NewStep,
    NewWorkflow,
    Outcome,
    RecordResult,
    StepKind,
    StepRecord,
    Store,
    StoreUnavailable,
    Value,
    WorkflowRecord,
    WorkflowStatus,
)

log = logging.getLogger(__name__)


def now_ms() -> int:
    return int(time.time() * 1000)


@contextlib.contextmanager
def _waiter(table: dict[str, set[asyncio.Future[None]]], key: str) -> Iterator[asyncio.Future[None]]:
    """A future woken by `_wake(table, key)`; registered before the caller looks
    at the store, so a change committed meanwhile is never missed."""
    woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    table.setdefault(key, set()).add(woken)
    try:
        yield woken
    finally:
        waiters = table.get(key)
        if waiters is not None:
            waiters.discard(woken)
            if not waiters:
                del table[key]


def _wake(table: dict[str, set[asyncio.Future[None]]], key: str) -> None:
    for woken in table.pop(key, ()):
        if not woken.done():
            woken.set_result(None)


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


class WorkerLink(Protocol):
    """How the engine talks to one connected worker (the stream's servicer)."""

    def send_workflow(self, wf: WorkflowRecord) -> None: ...
    def send_step(self, task: StepTask) -> None: ...
    def send_revoke(self, workflow_id: str, epoch: int, reason: str) -> None: ...
    def close(self, reason: str) -> None: ...


@dataclass(eq=False)
class WorkerSession:
    worker_id: str
    workflows: frozenset[str]
    steps: frozenset[str]
    workflow_slots: int
    step_slots: int
    link: WorkerLink
    last_seen: float = field(default_factory=time.monotonic)
    draining: bool = False
    running: dict[str, int] = field(default_factory=dict)  # workflow_id -> epoch
    step_tasks: set[StepTask] = field(default_factory=set)

    @property
    def free_workflow_slots(self) -> int:
        return 0 if self.draining else self.workflow_slots - len(self.running)

    @property
    def free_step_slots(self) -> int:
        return 0 if self.draining else self.step_slots - len(self.step_tasks)


@dataclass(eq=False)
class StepTask:
    """A step a workflow asked the coordinator to run on some worker."""

    workflow_id: str
    epoch: int
    step_number: int
    name: str
    input: Value
    started_at: int
    result: asyncio.Future[StepRecord]
    attempt: int = 0
    worker: WorkerSession | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.workflow_id, self.step_number)


class Engine:
    def __init__(self, store: Store, config: EngineConfig) -> None:
        self.store = store
        self.config = config
        self._workers: dict[str, WorkerSession] = {}
        # workflow_id -> (epoch, session) for executions running on our workers.
        self._executions: dict[str, tuple[int, WorkerSession]] = {}
        self._step_queue: collections.deque[StepTask] = collections.deque()
        self._step_tasks: dict[tuple[str, int], StepTask] = {}
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        # Woken whenever one of the workflow's steps is committed (select waits on it).
        self._step_waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._wake_dispatch = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._accepting = True

    # -- life cycle ------------------------------------------------------------

    async def start(self) -> None:
        # Leases held under our node ID belong to a previous life of this node:
        # nothing runs them now, so take them back at once instead of waiting.
        await self.store.release_workflows(self.config.node_id, None)
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

    async def _dispatch_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake_dispatch.wait(), self.config.poll_interval)
            except asyncio.TimeoutError:
                pass
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
                await self.store.renew_leases(self.config.node_id, self._lease_until())
            except StoreUnavailable as e:
                log.warning("lease renewal failed: %s", e)

    async def _liveness_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_interval)
            limit = time.monotonic() - self.config.worker_timeout
            for session in [s for s in self._workers.values() if s.last_seen < limit]:
                log.warning("worker %s missed heartbeats; presumed dead", session.worker_id)
                session.link.close("missed heartbeats")
                await self.unregister(session)

    async def _deadline_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.poll_interval)
            try:
                for wf in await self.store.expire_deadlines(now_ms()):
                    log.info("workflow %s timed out", wf.workflow_id)
                    self._ended(wf, "timed out")
            except StoreUnavailable as e:
                log.warning("deadline check failed: %s", e)

    def _lease_until(self) -> int:
        return now_ms() + int(self.config.lease_ttl * 1000)

    # -- workers -------------------------------------------------------------

    def register(self, session: WorkerSession) -> None:
        old = self._workers.get(session.worker_id)
        if old is not None:
            # The same worker reconnected before its old stream was noticed dead.
            old.link.close("replaced by a new connection")
            asyncio.create_task(self.unregister(old))
        self._workers[session.worker_id] = session
        log.info(
            "worker %s registered: %d workflows, %d steps, slots %d/%d",
            session.worker_id, len(session.workflows), len(session.steps),
            session.workflow_slots, session.step_slots,
        )
        self._wake_dispatch.set()
        self._dispatch_steps()

    def heartbeat(self, session: WorkerSession) -> None:
        session.last_seen = time.monotonic()

    def drain(self, session: WorkerSession) -> None:
        session.draining = True

    async def unregister(self, session: WorkerSession) -> None:
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
        if lost:
            try:
                await self.store.release_workflows(self.config.node_id, lost)
            except StoreUnavailable as e:
                log.warning("could not release workflows of %s (leases will expire): %s",
                            session.worker_id, e)
        self._wake_dispatch.set()
        self._dispatch_steps()

    # -- workflow dispatch ---------------------------------------------------

    async def _dispatch_workflows(self) -> None:
        if not self._accepting:
            return
        for session in list(self._workers.values()):
            free = session.free_workflow_slots
            if free <= 0 or not session.workflows:
                continue
            claimed = await self.store.claim_workflows(
                self.config.node_id, sorted(session.workflows), free, now_ms(), self._lease_until()
            )
            for wf in claimed:
                if self._workers.get(session.worker_id) is not session:
                    # It left while we claimed: give the workflow back.
                    await self.store.release_workflows(self.config.node_id, [wf.workflow_id])
                    continue
                self._executions[wf.workflow_id] = (wf.epoch, session)
                session.running[wf.workflow_id] = wf.epoch
                log.debug("workflow %s epoch %d -> worker %s", wf.workflow_id, wf.epoch, session.worker_id)
                session.link.send_workflow(wf)

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
        _wake(self._waiters, wf.workflow_id)

    # -- client operations ---------------------------------------------------

    async def start_workflow(
        self, name: str, input: Value, workflow_id: str | None, timeout_ms: int | None
    ) -> tuple[WorkflowRecord, bool]:
        now = now_ms()
        wf, created = await self.store.create_workflow(
            NewWorkflow(
                workflow_id=workflow_id or str(uuid.uuid4()),
                name=name,
                input=input,
                created_at=now,
                deadline_at=now + timeout_ms if timeout_ms else None,
            )
        )
        if created:
            self._wake_dispatch.set()
        return wf, created

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

    async def record_step(self, step: NewStep) -> StepRecord:
        """Record an outcome reported by a worker; the first committed wins."""
        task = self._step_tasks.get((step.workflow_id, step.step_number))
        if step.attempt > 0:
            # An assigned step: only the current attempt may report.
            if task is None or task.attempt != step.attempt or task.epoch != step.epoch:
                current = f"attempt {task.attempt}" if task else "no attempt in flight"
                raise FailedPrecondition(
                    f"workflow {step.workflow_id} step {step.step_number}: attempt {step.attempt} "
                    f"was fenced off ({current})"
                )
        else:
            self._check_execution(step.workflow_id, step.epoch)
        result, record = await self.store.record_step(step)
        if result is RecordResult.STALE:
            raise await self._stale(step.workflow_id, step.epoch)
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
