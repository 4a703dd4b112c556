"""Which worker runs what: the single index of connected workers, the workflow
executions they run and the step tasks they run for this coordinator.

Only this module changes the index, so its invariants hold in one place:
- an execution is in `executions` and counted in its session's `running`;
- a step task claimed by this coordinator is in `tasks`, assigned to a live
  worker (`worker`, counted in that session's `steps_running`); tasks waiting
  for a worker wait in the store, where any coordinator can claim them;
- a slot promised before the store answered is a `Reservation`, counted apart:
  a claim of many holds all it asks for while it waits, so that the starts
  served meanwhile cannot take the same slots (the worker would be handed more
  than its concurrency).
Nothing here awaits: every change is atomic on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from .clock import Clock
from .observe import Observer
from .ports import WorkerLink
from .records import TaskRecord, Value, WorkflowRecord

log = logging.getLogger(__name__)


@dataclass(eq=False)
class WorkerSession:
    """One connected worker: what it serves and how much it may run at once."""

    worker_id: str
    workflows: frozenset[str]
    steps: frozenset[str]
    workflow_slots: int
    step_slots: int
    link: WorkerLink
    last_seen: float = 0.0
    draining: bool = False
    # Kept by the Dispatcher only.
    running: int = 0
    reserved: int = 0
    steps_running: int = 0
    steps_reserved: int = 0

    @property
    def free_workflow_slots(self) -> int:
        if self.draining or self.link.congested:
            return 0
        return self.workflow_slots - self.running - self.reserved

    @property
    def free_step_slots(self) -> int:
        return (0 if self.draining or self.link.congested
                else self.step_slots - self.steps_running - self.steps_reserved)


@dataclass(eq=False)
class Execution:
    """A workflow running on one of our workers under its epoch."""

    workflow_id: str
    epoch: int
    session: WorkerSession
    queue: str | None = None  # the queue it came from, if any (worker_concurrency)


@dataclass(eq=False)
class Reservation:
    """Slots promised to workflows or step tasks not yet committed (created
    claimed), or held by a claim of `count` until the store answers."""

    session: WorkerSession
    step: bool = False
    released: bool = False
    count: int = 1
    held: bool = False  # workflow slots held by a claim (hold), not promised to one workflow


@dataclass(eq=False)
class StepTask:
    """A step task this coordinator claimed and handed to one of its workers."""

    workflow_id: str
    epoch: int
    step_number: int
    name: str
    input: Value
    attempt: int
    worker: WorkerSession
    timeout_ms: int | None = None
    assigned_at: int = 0  # ms since the epoch, when handed to `worker`

    @property
    def key(self) -> tuple[str, int]:
        return (self.workflow_id, self.step_number)


class Dispatcher:
    def __init__(self) -> None:
        self.workers: dict[str, WorkerSession] = {}
        self.executions: dict[str, Execution] = {}
        self.tasks: dict[tuple[str, int], StepTask] = {}
        self.accepting = True
        # Set by the Context: when work is handed out, and who measures it.
        self.clock: Clock | None = None
        self.observer = Observer()
        # Set while no claim holds workflow slots: a start that found none
        # free waits for it, since the claim may find less than it holds.
        self.unheld = asyncio.Event()
        self.unheld.set()
        self._holds = 0

    # -- workers -------------------------------------------------------------

    def add_worker(self, session: WorkerSession) -> None:
        """Index a new session (a session of the same worker ID is removed first)."""
        assert session.worker_id not in self.workers, "remove the old session first"
        self.workers[session.worker_id] = session

    def remove_worker(self, session: WorkerSession) -> tuple[list[str], list[StepTask]] | None:
        """Forget a session: its executions and step tasks end here (returned,
        for the caller to release in the store, where others take them over).
        None if the session was not indexed."""
        if self.workers.get(session.worker_id) is not session:
            return None
        del self.workers[session.worker_id]
        lost = [e.workflow_id for e in self.executions.values() if e.session is session]
        for workflow_id in lost:
            self.drop_execution(workflow_id)
        tasks = [t for t in self.tasks.values() if t.worker is session]
        for task in tasks:
            self.forget_task(task)
        return lost, tasks

    def is_live(self, session: WorkerSession) -> bool:
        return self.workers.get(session.worker_id) is session

    def silent_since(self, limit: float) -> list[WorkerSession]:
        return [s for s in self.workers.values() if s.last_seen < limit]

    # -- workflow executions -------------------------------------------------

    def free_worker_for(self, name: str | None) -> WorkerSession | None:
        """The live worker serving workflow `name` (any, if None) with the most free slots."""
        if not self.accepting:
            return None
        candidates = [s for s in self.workers.values()
                      if (name is None or name in s.workflows) and s.free_workflow_slots > 0]
        return max(candidates, key=lambda s: s.free_workflow_slots, default=None)

    def served(self) -> set[str]:
        """The workflow names our live workers serve."""
        return {name for s in self.workers.values() for name in s.workflows}

    def serves(self, name: str) -> bool:
        """Whether a live worker serves workflow `name`."""
        return any(name in s.workflows for s in self.workers.values())

    def reserve(self, name: str | None) -> Reservation | None:
        """A workflow slot for workflow `name`; with None, on whichever worker
        has the most free ones (the reservation's session says what it serves)."""
        session = self.free_worker_for(name)
        if session is None:
            return None
        session.reserved += 1
        return Reservation(session)

    def reserve_step(self, name: str, workflow_id: str) -> Reservation | None:
        """A step slot for step `name` of `workflow_id`: its own worker first."""
        if not self.accepting:
            return None
        session = self._pick_step_worker(name, workflow_id)
        if session is None:
            return None
        session.steps_reserved += 1
        return Reservation(session, step=True)

    def hold(self, session: WorkerSession, limit: int, step: bool = False) -> Reservation | None:
        """Every free slot of `session`, at most `limit`, of workflows (of
        steps, if `step`), for a claim of as many; None if it has none."""
        count = min(session.free_step_slots if step else session.free_workflow_slots, limit)
        if count <= 0:
            return None
        if step:
            session.steps_reserved += count
        else:
            session.reserved += count
            self._holds += 1
            self.unheld.clear()
        return Reservation(session, step, count=count, held=not step)

    def release(self, reservation: Reservation) -> None:
        if not reservation.released:
            reservation.released = True
            if reservation.step:
                reservation.session.steps_reserved -= reservation.count
            else:
                reservation.session.reserved -= reservation.count
                if reservation.held:  # counted in _holds
                    self._holds -= 1
                    if not self._holds:  # set now, seen once the claimer's assignments are made
                        self.unheld.set()

    def assign(self, session: WorkerSession, wf: WorkflowRecord) -> None:
        """Hand an execution (claimed in the store under `wf.epoch`) to a worker."""
        old = self.executions.pop(wf.workflow_id, None)
        if old is not None:
            old.session.running -= 1
        self.executions[wf.workflow_id] = Execution(wf.workflow_id, wf.epoch, session, wf.queue)
        session.running += 1
        if wf.epoch == 1 and self.clock is not None:  # its first run: ready since created
            self.observer.dispatched("workflow", max(0, self.clock.now_ms() - wf.created_at) / 1000)
        log.debug("workflow %s epoch %d -> worker %s", wf.workflow_id, wf.epoch, session.worker_id)
        session.link.send_workflow(wf)

    def execution(self, workflow_id: str) -> Execution | None:
        return self.executions.get(workflow_id)

    def drop_execution(self, workflow_id: str) -> Execution | None:
        """Forget a running execution."""
        execution = self.executions.pop(workflow_id, None)
        if execution is not None:
            execution.session.running -= 1
        return execution

    # -- step tasks ----------------------------------------------------------

    def task(self, workflow_id: str, step_number: int) -> StepTask | None:
        return self.tasks.get((workflow_id, step_number))

    def assign_task(self, session: WorkerSession, task: TaskRecord) -> StepTask:
        """Hand a task claimed in the store (under `task.attempt`) to a worker."""
        old = self.tasks.get(task.key)
        if old is not None:
            self.forget_task(old)
        now = self.clock.now_ms() if self.clock is not None else 0
        running = StepTask(task.workflow_id, task.epoch, task.step_number, task.name, task.input,
                           task.attempt, session, task.timeout_ms, now)
        if task.attempt == 1 and self.clock is not None:  # ready since created
            self.observer.dispatched("step", max(0, now - task.created_at) / 1000)
        self.tasks[task.key] = running
        session.steps_running += 1
        session.link.send_step(running)
        return running

    def forget_task(self, task: StepTask) -> None:
        if self.tasks.get((task.workflow_id, task.step_number)) is task:
            del self.tasks[(task.workflow_id, task.step_number)]
            task.worker.steps_running -= 1

    def step_workers(self) -> list[WorkerSession]:
        """Live workers that serve steps."""
        return [s for s in self.workers.values() if s.steps] if self.accepting else []

    def _pick_step_worker(self, name: str, workflow_id: str) -> WorkerSession | None:
        own = self.executions.get(workflow_id)
        if own is not None and name in own.session.steps and own.session.free_step_slots > 0:
            return own.session
        candidates = [s for s in self.workers.values() if name in s.steps and s.free_step_slots > 0]
        return max(candidates, key=lambda s: s.free_step_slots, default=None)

    # -- queues ----------------------------------------------------------------

    def queued_on(self, session: WorkerSession) -> dict[str, int]:
        """How many workflows of each queue run on this worker."""
        counts: dict[str, int] = {}
        for e in self.executions.values():
            if e.session is session and e.queue is not None:
                counts[e.queue] = counts.get(e.queue, 0) + 1
        return counts

    # -- tasks of one workflow (issue 15) ------------------------------------

    def tasks_of(self, workflow_id: str) -> list[StepTask]:
        """The step tasks of this workflow that our workers run."""
        return [t for t in self.tasks.values() if t.workflow_id == workflow_id]
