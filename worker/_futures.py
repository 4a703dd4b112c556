"""Futures of durable waits other than steps, for `WorkflowContext.select`.

Each took its step number when it was started and is recorded there (a
child workflow's start, a go_recv or go_event future, a sleep's wake-up
time). Its value comes from the coordinator's decision: the SELECT step that
picks it records the value (a go_recv's message is consumed in that commit),
so a replay gets the same value. `.result()` on one that no select picked is
a select of its own: it takes the next step number, waits durably (parked if
long) and records the value.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from keel.v1 import common_pb2 as pb

from ._steps import outcome_value

if TYPE_CHECKING:
    from ._execution import Execution


class WaitFuture:
    """A future of a durable wait; its value is recorded by the select that takes it."""

    def __init__(self, execution: Execution, step_number: int) -> None:
        self._ex = execution
        self.step_number = step_number
        # The SELECT record that took it (its value, or its error).
        self._record: pb.StepRecord | None = None

    def __repr__(self) -> str:
        state = "done" if self.done() else "pending"
        return f"<{type(self).__name__} step {self.step_number} {state}>"

    def done(self) -> bool:
        """Whether this execution has its value (a select took it)."""
        return self._record is not None

    def _take(self, record: pb.StepRecord) -> None:
        self._record = record

    def result(self, timeout: float | None = None) -> Any:
        """Its value (or its error raised), waiting durably for it if no select
        took it yet. With `timeout`, TimeoutError if it is not done within
        that many seconds (a durable timer decides, so a replay agrees)."""
        if self._record is None:
            from ._context import go_sleep, select_futures  # built on this module

            futures: list[Any] = [self]
            if timeout is not None:
                futures.append(go_sleep(self._ex, timeout))
            index, _ = select_futures(self._ex, futures)
            if index == 1:
                raise TimeoutError(f"{self!r} not done within {timeout} s")
        assert self._record is not None
        return outcome_value(self._record)


class WorkflowFuture(WaitFuture):
    """A child workflow started with `WorkflowContext.start_workflow`: complete
    when the child ends; its value is the child's result (its error raised)."""

    def __init__(self, execution: Execution, step_number: int, workflow_id: str) -> None:
        super().__init__(execution, step_number)
        self.workflow_id = workflow_id

    def __repr__(self) -> str:
        return f"<WorkflowFuture {self.workflow_id} (step {self.step_number})>"


class RecvFuture(WaitFuture):
    """The next message on a topic (`go_recv`): consumed only by the select
    that picks it; a losing one leaves its message for later."""

    def __init__(self, execution: Execution, step_number: int, topic: str) -> None:
        super().__init__(execution, step_number)
        self.topic = topic


class EventFuture(WaitFuture):
    """Another workflow's event (`go_event`), once set: its latest value."""

    def __init__(self, execution: Execution, step_number: int, workflow_id: str, key: str) -> None:
        super().__init__(execution, step_number)
        self.workflow_id = workflow_id
        self.key = key


class SleepFuture(WaitFuture):
    """A durable timer (`go_sleep`): complete at its recorded wake-up time; its value is None."""

    def __init__(self, execution: Execution, step_number: int, wake_at_ms: int) -> None:
        super().__init__(execution, step_number)
        self.wake_at_ms = wake_at_ms

    def done(self) -> bool:
        return self._record is not None or time.time() * 1000 >= self.wake_at_ms

    def result(self, timeout: float | None = None) -> Any:
        if self._record is None and timeout is None:
            self._ex.sleep_until(self.wake_at_ms)  # parks if long
            return None
        return super().result(timeout)
