"""What the engine reports as it works, for whoever measures it.

The core calls these hooks at the moments that matter (a workflow started or
ended, a step recorded, work handed to a worker, a store commit); the default
does nothing. coordinator/http/metrics.py turns them into Prometheus series.
Hooks are synchronous and must be cheap: they run on the event loop, inside
the operation they describe.
"""

from __future__ import annotations

import time

from .records import StepKind, WorkflowStatus


class Observer:
    """Hooks of the engine; every one does nothing here."""

    def workflow_started(self, name: str) -> None:
        """A new workflow was created (not an existing one returned)."""

    def workflow_finished(self, name: str, status: WorkflowStatus) -> None:
        """A workflow became final through this coordinator."""

    def step_recorded(self, name: str, kind: StepKind, seconds: float) -> None:
        """A step's outcome was committed; `seconds` from its start to its end."""

    def dispatched(self, what: str, seconds: float) -> None:
        """A workflow (`what` "workflow") or step task ("step") went to a
        worker, `seconds` after it became ready (created, or released)."""

    def store_commit(self, operation: str, seconds: float) -> None:
        """A store write the engine waited for took `seconds`."""

    def commit(self, operation: str) -> _Commit:
        """Time the store write in the block (reported only if it returned)."""
        return _Commit(self, operation)


class _Commit:
    """Observer.commit's block: a class, as it wraps every step's commit (a
    generator-based context manager costs several times as much)."""

    __slots__ = ("observer", "operation", "started")

    def __init__(self, observer: Observer, operation: str) -> None:
        self.observer = observer
        self.operation = operation

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.observer.store_commit(self.operation, time.perf_counter() - self.started)
