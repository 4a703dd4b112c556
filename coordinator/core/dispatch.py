"""Which worker runs what: the single index of connected workers, the workflow
executions they run and the step tasks in flight.

Only this module changes the index, so its invariants hold in one place:
- an execution is in `executions` and counted in its session's `running`;
- a step task is in `tasks`; it is either waiting (in the line, `worker` None)
  or assigned (`worker` set, counted in that session's `steps_running`);
- a slot promised before the store answered is a `Reservation`, counted apart.
Nothing here awaits: every change is atomic on the event loop.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from dataclasses import dataclass

from .errors import FailedPrecondition
from .ports import WorkerLink
from .records import StepRecord, Value, WorkflowRecord

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

    @property
    def free_workflow_slots(self) -> int:
        if self.draining or self.link.congested:
            return 0
        return self.workflow_slots - self.running - self.reserved

    @property
    def free_step_slots(self) -> int:
        return 0 if self.draining or self.link.congested else self.step_slots - self.steps_running


@dataclass(eq=False)
class Execution:
    """A workflow running on one of our workers under its epoch."""

    workflow_id: str
    epoch: int
    session: WorkerSession


@dataclass(eq=False)
class Reservation:
    """A workflow slot promised to a workflow not yet committed (created claimed)."""

    session: WorkerSession
    released: bool = False


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


class Dispatcher:
    def __init__(self) -> None:
        self.workers: dict[str, WorkerSession] = {}
        self.executions: dict[str, Execution] = {}
        self.tasks: dict[tuple[str, int], StepTask] = {}
        self._line: collections.deque[StepTask] = collections.deque()  # tasks waiting for a worker
        self.accepting = True

    # -- workers -------------------------------------------------------------

    def add_worker(self, session: WorkerSession) -> None:
        """Index a new session (a session of the same worker ID is removed first)."""
        assert session.worker_id not in self.workers, "remove the old session first"
        self.workers[session.worker_id] = session

    def remove_worker(self, session: WorkerSession) -> list[str] | None:
        """Forget a session: its executions end here (their IDs are returned, for
        the caller to release in the store) and its step tasks wait for another
        worker under a new attempt. None if the session was not indexed."""
        if self.workers.get(session.worker_id) is not session:
            return None
        del self.workers[session.worker_id]
        lost = [e.workflow_id for e in self.executions.values() if e.session is session]
        for workflow_id in lost:
            self.drop_execution(workflow_id)
        for task in self.tasks.values():
            if task.worker is session:
                task.worker = None
                self._line.appendleft(task)
        session.steps_running = 0
        return lost

    def is_live(self, session: WorkerSession) -> bool:
        return self.workers.get(session.worker_id) is session

    def silent_since(self, limit: float) -> list[WorkerSession]:
        return [s for s in self.workers.values() if s.last_seen < limit]

    # -- workflow executions -------------------------------------------------

    def free_worker_for(self, name: str) -> WorkerSession | None:
        """The live worker serving workflow `name` with the most free slots."""
        if not self.accepting:
            return None
        candidates = [s for s in self.workers.values() if name in s.workflows and s.free_workflow_slots > 0]
        return max(candidates, key=lambda s: s.free_workflow_slots, default=None)

    def reserve(self, name: str) -> Reservation | None:
        session = self.free_worker_for(name)
        if session is None:
            return None
        session.reserved += 1
        return Reservation(session)

    def release(self, reservation: Reservation) -> None:
        if not reservation.released:
            reservation.released = True
            reservation.session.reserved -= 1

    def assign(self, session: WorkerSession, wf: WorkflowRecord) -> None:
        """Hand an execution (claimed in the store under `wf.epoch`) to a worker."""
        old = self.executions.pop(wf.workflow_id, None)
        if old is not None:
            old.session.running -= 1
        self.executions[wf.workflow_id] = Execution(wf.workflow_id, wf.epoch, session)
        session.running += 1
        log.debug("workflow %s epoch %d -> worker %s", wf.workflow_id, wf.epoch, session.worker_id)
        session.link.send_workflow(wf)

    def execution(self, workflow_id: str) -> Execution | None:
        return self.executions.get(workflow_id)

    def drop_execution(self, workflow_id: str) -> Execution | None:
        """Forget a running execution; the steps it waits for fail with FailedPrecondition."""
        execution = self.executions.pop(workflow_id, None)
        if execution is None:
            return None
        execution.session.running -= 1
        for task in [t for t in self.tasks.values() if t.workflow_id == workflow_id]:
            self.forget_task(task)
            if not task.result.done():
                task.result.set_exception(FailedPrecondition(
                    f"workflow {workflow_id} execution {execution.epoch} was stopped"))
        return execution

    # -- step tasks ----------------------------------------------------------

    def task(self, workflow_id: str, step_number: int) -> StepTask | None:
        return self.tasks.get((workflow_id, step_number))

    def add_task(self, task: StepTask) -> None:
        self.tasks[task.key] = task
        self._line.append(task)
        self.dispatch_steps()

    def forget_task(self, task: StepTask) -> None:
        if self.tasks.get(task.key) is task:
            del self.tasks[task.key]
        if task.worker is not None:
            task.worker.steps_running -= 1
            task.worker = None
        else:
            try:
                self._line.remove(task)
            except ValueError:
                pass

    def dispatch_steps(self) -> None:
        """Hand waiting steps to workers: the workflow's own worker first."""
        if not self.accepting or not self._line:
            return
        waiting: collections.deque[StepTask] = collections.deque()
        while self._line:
            task = self._line.popleft()
            session = self._pick_step_worker(task)
            if session is None:
                waiting.append(task)
                continue
            task.attempt += 1
            task.worker = session
            session.steps_running += 1
            session.link.send_step(task)
        self._line = waiting

    def _pick_step_worker(self, task: StepTask) -> WorkerSession | None:
        own = self.executions.get(task.workflow_id)
        if own is not None and task.name in own.session.steps and own.session.free_step_slots > 0:
            return own.session
        candidates = [s for s in self.workers.values() if task.name in s.steps and s.free_step_slots > 0]
        return max(candidates, key=lambda s: s.free_step_slots, default=None)

