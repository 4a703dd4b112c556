"""What the core's operations share: the store, the clock, the dispatch index,
the wake-ups, and the few rules every operation applies (fencing, ending)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from .clock import Clock
from .dispatch import Dispatcher, Execution
from .errors import FailedPrecondition, NotFound
from .observe import Observer
from .ports import Store
from .records import WorkflowRecord, WorkflowStatus
from .waiters import Wakeups


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
    # A coordinator silent this long is presumed dead: the others release its
    # workflows and step tasks at once (it heartbeats every third of it).
    node_timeout: float = 3.0
    # Finished workflows older than this (seconds) are deleted; None keeps them.
    retention: float | None = None
    # How long a dispatched step attempt may run when its ScheduleStep sets no
    # timeout: past it the attempt is fenced off and retried or failed.
    step_timeout: float = 300.0


@dataclass
class WorkSignal:
    """Tells the dispatch loop to look in the store for claimable workflows
    and step tasks.

    `backlog` (`task_backlog`) says whether claimable workflows (tasks) may be
    waiting there: a freed slot triggers a claim only then, so the common path
    (created already claimed) costs no empty claim query per workflow or step."""

    backlog: bool = True
    generation: int = 0
    task_backlog: bool = True
    task_generation: int = 0
    # Whether queues may have workflows they could start (enqueued, or a
    # queued workflow ended: its slot is free).
    queue_backlog: bool = True
    queue_generation: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Whether a workflow waits in the store for a slot no worker had free: a
    # wait held in the coordinator (recv, get_event, select) then parks at once
    # rather than keep its slot from it. Cleared when a claim finds no more.
    starved: bool = False
    # Set by a claim that took as many as a worker had free slots: whether a
    # workflow waits for a slot is asked of the store (Context.slot_is_wanted)
    # only when a wait is held or would be, not after every such claim.
    unsure: bool = False
    _wanting: set[asyncio.Future[None]] = field(default_factory=set)

    @property
    def holding(self) -> bool:
        """Whether a wait holds its slot now (and would give it back)."""
        return bool(self._wanting)

    def want_slot(self) -> None:
        """A workflow could not get a slot: held waits give theirs back."""
        self.starved = True
        self.unsure = False
        for woken in self._wanting:
            if not woken.done():
                woken.set_result(None)
        self._wanting.clear()

    @contextlib.contextmanager
    def slot_wanted(self) -> Iterator[asyncio.Future[None]]:
        """A future settled by the next want_slot()."""
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._wanting.add(woken)
        try:
            yield woken
        finally:
            self._wanting.discard(woken)

    def more(self) -> None:
        """A workflow may have become claimable."""
        self.backlog = True
        self.generation += 1
        self.wake.set()

    def more_tasks(self) -> None:
        """A step task may have become claimable."""
        self.task_backlog = True
        self.task_generation += 1
        self.wake.set()

    def more_queued(self) -> None:
        """A queue may start a workflow now."""
        self.queue_backlog = True
        self.queue_generation += 1
        self.wake.set()

    def slot_freed(self) -> None:
        """A slot is free: claim if work may be waiting."""
        self.wake.set()


class Unclaimed:
    """Workflows created here without an owner (every slot was taken) and
    not yet seen claimed here or ended: PENDING as far as this coordinator
    knows, so a client awaiting one needs no first read of the store (in a
    backlog, that read was most of what a workflow cost beyond a direct
    start). Another coordinator may claim and end one unseen here: its note
    of the end drops the entry, and the await's poll reads the store anyway."""

    TTL_S = 60.0  # older entries are dropped: the await reads
    LIMIT = 100_000

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._added: collections.OrderedDict[str, float] = collections.OrderedDict()

    def add(self, workflow_id: str) -> None:
        now = self._clock.monotonic()
        self._added[workflow_id] = now
        self._added.move_to_end(workflow_id)
        while self._added and (len(self._added) > self.LIMIT
                               or now - next(iter(self._added.values())) >= self.TTL_S):
            self._added.popitem(last=False)

    def discard(self, workflow_id: str) -> None:
        self._added.pop(workflow_id, None)

    def __contains__(self, workflow_id: str) -> bool:
        added = self._added.get(workflow_id)
        return added is not None and self._clock.monotonic() - added < self.TTL_S


@dataclass
class Context:
    store: Store
    config: EngineConfig
    clock: Clock
    dispatch: Dispatcher = field(default_factory=Dispatcher)
    wakeups: Wakeups = field(default_factory=Wakeups)
    work: WorkSignal = field(default_factory=WorkSignal)
    observer: Observer = field(default_factory=Observer)
    # Workflows whose end this coordinator is committing: the store's note of
    # that end (its own, heard back on PostgreSQL, often before the commit
    # returns here) wakes nobody; the commit wakes them with the record.
    ending: set[str] = field(default_factory=set)
    unclaimed: Unclaimed = field(init=False)

    def __post_init__(self) -> None:
        self.unclaimed = Unclaimed(self.clock)
        self.dispatch.clock = self.clock
        self.dispatch.observer = self.observer

    def observe(self, observer: Observer) -> None:
        """Report to `observer` from now on."""
        self.observer = self.dispatch.observer = observer

    async def slot_is_wanted(self) -> bool:
        """Whether a workflow waits for a slot (WorkSignal.starved): after a
        claim that filled every free slot, the store is asked, once."""
        work = self.work
        if work.unsure and not work.starved:
            work.unsure = False
            names = sorted(self.dispatch.served())
            if names and await self.store.has_claimable(names, self.clock.now_ms()):
                work.want_slot()
        return work.starved

    def lease_until(self) -> int:
        return self.clock.now_ms() + int(self.config.lease_ttl * 1000)

    def drop(self, workflow_id: str) -> Execution | None:
        """Stop tracking a running execution; whoever waits on its steps wakes
        (and finds it stopped)."""
        execution = self.dispatch.drop_execution(workflow_id)
        if execution is not None:
            self.wakeups.steps.wake(workflow_id)
        return execution

    def ended(self, wf: WorkflowRecord, reason: str) -> None:
        """A workflow became final: stop its execution (revoked with `reason`,
        if given), wake its waiters with the final record."""
        self.unclaimed.discard(wf.workflow_id)
        execution = self.drop(wf.workflow_id)
        if execution is not None:
            if reason:
                execution.session.link.send_revoke(wf.workflow_id, execution.epoch, reason)
            self.work.slot_freed()
        if wf.queue is not None:
            self.work.more_queued()  # its slot of the queue is free
        self.revoke_steps(wf)
        self.observer.workflow_finished(wf.name, wf.status)
        self.wakeups.finished.wake(wf.workflow_id, wf)  # no need to read it again
        self.wakeups.events.wake(wf.workflow_id)
        if wf.parent_workflow_id:
            self.work.more()  # its parent may be parked in a select on it

    def revoke_steps(self, wf: WorkflowRecord) -> None:
        """A final workflow's steps running on our workers: revoked (their
        outcomes will be refused), their slots free."""
        error = wf.outcome.error if wf.outcome is not None else None
        reason = ("finished" if wf.status is not WorkflowStatus.CANCELLED
                  else "timed out" if error is not None and error.type == "WorkflowTimeout"
                  else "cancelled")
        for task in self.dispatch.tasks_of(wf.workflow_id):
            self.dispatch.forget_task(task)
            task.worker.link.send_revoke(wf.workflow_id, task.epoch, reason)
            self.work.slot_freed()

    def check_not_stale(self, workflow_id: str, epoch: int) -> None:
        """Refuse an execution we know is stale (one we do not run may still be
        current: the store's epoch check decides then)."""
        execution = self.dispatch.execution(workflow_id)
        if execution is not None and execution.epoch != epoch:
            raise FailedPrecondition(
                f"workflow {workflow_id}: execution {epoch} is stale, execution {execution.epoch} "
                "holds the lease"
            )

    def check_running_here(self, workflow_id: str, epoch: int) -> None:
        """Waits are served only for an execution running on our workers."""
        execution = self.dispatch.execution(workflow_id)
        if execution is None or execution.epoch != epoch:
            raise FailedPrecondition(
                f"workflow {workflow_id}: execution {epoch} does not hold the lease here"
            )

    async def workflow(self, workflow_id: str) -> WorkflowRecord:
        wf = await self.store.get_workflow(workflow_id)
        if wf is None:
            raise NotFound(f"no workflow with ID {workflow_id!r}")
        return wf

    async def stale(self, workflow_id: str, epoch: int) -> FailedPrecondition:
        """The error for an execution the store fenced off, saying why."""
        wf = await self.store.get_workflow(workflow_id)
        if wf is None:
            return FailedPrecondition(f"workflow {workflow_id!r} does not exist")
        if wf.status.final:
            return FailedPrecondition(f"workflow {workflow_id} is already {wf.status.value}")
        return FailedPrecondition(
            f"workflow {workflow_id}: execution {epoch} lost its lease (now execution {wf.epoch})"
        )
