"""Fakes for unit tests of the core: a clock that moves when told, worker links
that record what the engine sends. The store is the real in-memory store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coordinator.core.dispatch import StepTask, WorkerSession
from coordinator.core.records import WorkflowRecord


class FakeClock:
    def __init__(self, now_ms: int = 1_000_000) -> None:
        self._now_ms = now_ms
        self._monotonic = 100.0

    def now_ms(self) -> int:
        return self._now_ms

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        self._now_ms += int(seconds * 1000)
        self._monotonic += seconds


@dataclass
class FakeLink:
    workflows: list[WorkflowRecord] = field(default_factory=list)
    steps: list[tuple[str, int, str, int]] = field(default_factory=list)  # (wid, n, name, attempt)
    revoked: list[tuple[str, int, str]] = field(default_factory=list)
    closed: str = ""
    congested: bool = False

    def send_workflow(self, wf: WorkflowRecord) -> None:
        self.workflows.append(wf)

    def send_step(self, task: StepTask) -> None:
        self.steps.append((task.workflow_id, task.step_number, task.name, task.attempt))

    def send_revoke(self, workflow_id: str, epoch: int, reason: str) -> None:
        self.revoked.append((workflow_id, epoch, reason))

    def close(self, reason: str) -> None:
        self.closed = reason


def session(worker_id: str, workflows: tuple[str, ...] = ("wf",), steps: tuple[str, ...] = (),
            workflow_slots: int = 4, step_slots: int = 4) -> tuple[WorkerSession, FakeLink]:
    link = FakeLink()
    return WorkerSession(worker_id, frozenset(workflows), frozenset(steps), workflow_slots,
                         step_slots, link), link


def count_calls(store: Any, method: str, arg: int | None = None) -> list[Any]:
    """Record every call of the store's `method` from now on: its arguments,
    or only argument number `arg`."""
    calls: list[Any] = []
    original = getattr(store, method)

    async def counted(*args: Any) -> Any:
        calls.append(args if arg is None else args[arg])
        return await original(*args)

    setattr(store, method, counted)
    return calls
