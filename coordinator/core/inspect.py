"""Read-only views for operators (the console of coordinator/http): connected
workers, one workflow with its steps, events and work in flight, and a watch
that yields it again each time it changes. Nothing here writes."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass

from .context import Context
from .errors import NotFound
from .records import EventRecord, StepRecord, WorkflowRecord

# The most steps (and events) one view of a workflow carries; the rest is
# left for `coordinator steps` (the view says it is cut short).
MAX_STEPS = 2000
MAX_EVENTS = 1000


@dataclass(frozen=True, slots=True)
class WorkerView:
    """A worker connected to this coordinator, as the dispatch index sees it."""

    worker_id: str
    workflows: tuple[str, ...]
    steps: tuple[str, ...]
    workflow_slots: int
    workflows_running: int
    step_slots: int
    steps_running: int
    draining: bool
    congested: bool
    silent_for: float  # seconds since its last heartbeat


@dataclass(frozen=True, slots=True)
class RunningStep:
    """A step task this coordinator handed to one of its workers, not yet recorded."""

    step_number: int
    name: str
    attempt: int
    worker_id: str
    assigned_at: int


@dataclass(frozen=True, slots=True)
class WorkflowView:
    workflow: WorkflowRecord
    steps: list[StepRecord]
    steps_cut: bool  # more than MAX_STEPS were recorded: the rest is not shown
    events: list[EventRecord]
    running: list[RunningStep]  # on our workers now (other coordinators' are not known here)
    worker_id: str | None  # the worker running the workflow here, if one of ours does
    # A view of a watch after its first: `steps` and `events` are only those
    # not in the views before (add them); the rest is whole.
    partial: bool = False

    @property
    def version(self) -> tuple[object, ...]:
        """Changes whenever something shown but the steps and events changes."""
        wf = self.workflow
        return (wf.status, wf.step_seq, wf.epoch, self.worker_id,
                tuple((r.step_number, r.attempt, r.worker_id) for r in self.running))


class Inspector:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def workers(self) -> list[WorkerView]:
        now = self.ctx.clock.monotonic()
        return [
            WorkerView(s.worker_id, tuple(sorted(s.workflows)), tuple(sorted(s.steps)), s.workflow_slots,
                       s.running, s.step_slots, s.steps_running, s.draining, s.link.congested,
                       max(0.0, now - s.last_seen))
            for s in sorted(self.ctx.dispatch.workers.values(), key=lambda s: s.worker_id)
        ]

    async def workflow(self, workflow_id: str, after_step: int = -1, after_event: int = 0,
                       max_steps: int = MAX_STEPS) -> WorkflowView:
        """The workflow, its steps after step number `after_step` (at most
        `max_steps`) and its events after `after_event`."""
        store, dispatch = self.ctx.store, self.ctx.dispatch
        wf = await store.get_workflow(workflow_id)
        if wf is None:
            raise NotFound(f"no workflow with ID {workflow_id!r}")
        steps = await store.list_steps(workflow_id, after_step, max_steps + 1) if max_steps > 0 else []
        events = await store.list_events(workflow_id, after_event, MAX_EVENTS)
        recorded = {s.step_number for s in steps}
        running = [
            RunningStep(t.step_number, t.name, t.attempt, t.worker.worker_id, t.assigned_at)
            for t in dispatch.tasks.values()
            if t.workflow_id == workflow_id and t.step_number > after_step and t.step_number not in recorded
        ]
        execution = dispatch.execution(workflow_id)
        return WorkflowView(wf, steps[:max_steps], len(steps) > max_steps, events,
                            sorted(running, key=lambda r: r.step_number),
                            execution.session.worker_id if execution is not None else None)

    async def watch(self, workflow_id: str, poll: float, coalesce: float) -> AsyncIterator[WorkflowView]:
        """The workflow now, then again each time it changes (with only the new
        steps and events: `partial`), until it is final. Woken by this
        coordinator's commits; `poll` seconds at most between looks (others'
        commits, work handed out); bursts of changes are read at most once per
        `coalesce` seconds. A watcher costs reads of what is new, not of the
        whole history, however long the workflow runs."""
        wakeups, last = self.ctx.wakeups, None
        floor, known, sent, event_seq, first = -1, set[int](), 0, 0, True
        while True:
            futures = [wakeups.steps.add(workflow_id), wakeups.events.add(workflow_id),
                       wakeups.finished.add(workflow_id)]
            try:
                # What is above the first unrecorded step and was sent is read again.
                view = await self.workflow(workflow_id, floor, event_seq, MAX_STEPS - sent + len(known))
                steps = [s for s in view.steps if s.step_number not in known][:MAX_STEPS - sent]
                if first or steps or view.events or view.version != last:
                    last = view.version
                    cut = view.steps_cut or (sent + len(steps) >= MAX_STEPS
                                             and view.workflow.step_seq > sent + len(steps))
                    yield dataclasses.replace(view, steps=steps, partial=not first, steps_cut=cut)
                    first = False
                sent += len(steps)
                known.update(s.step_number for s in steps)
                while floor + 1 in known:  # read from the first step not yet recorded
                    floor += 1
                    known.discard(floor)
                event_seq = view.events[-1].seq if view.events else event_seq
                if view.workflow.status.final:
                    return
                await asyncio.wait(futures, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
            finally:
                wakeups.steps.discard(workflow_id, futures[0])
                wakeups.events.discard(workflow_id, futures[1])
                wakeups.finished.discard(workflow_id, futures[2])
            await asyncio.sleep(coalesce)
