"""Which worker runs what: connected workers, their executions and step tasks."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from .ports import WorkerLink
from .records import StepRecord, Value


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
