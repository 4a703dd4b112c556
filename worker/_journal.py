"""The replay journal of one workflow execution: step numbers and recorded outcomes.

Every durable operation of a workflow calls `Journal.begin` once, in call
order: it takes the next step number and, if the history has that number,
returns the recorded outcome after checking that the code calls the same
operation as the one recorded. No I/O here: the execution fills the journal
from the coordinator's history and does the calls.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from keel.v1 import common_pb2 as pb

from ._errors import NonDeterminismError


def describe(name: str, kind: int) -> str:
    """How an error message names a durable operation, e.g. "STEP_KIND_STEP 'charge'"."""
    return f"{pb.StepKind.Name(kind)} {name!r}"


class Journal:
    """Step numbering and the recorded history of one workflow execution. Thread-safe:
    step numbers are taken under a lock, since futures may resolve on other threads."""

    def __init__(self, workflow_id: str, history: Iterable[pb.StepRecord] = ()) -> None:
        self.workflow_id = workflow_id
        self._history: dict[int, pb.StepRecord] = {}
        self._next = 0
        self._lock = threading.Lock()
        # Set once a replay diverged from the history. The workflow then fails
        # with it even if its code catches the exception raised at the call.
        self.fatal: NonDeterminismError | None = None
        self.load(history)

    def load(self, records: Iterable[pb.StepRecord]) -> None:
        """Add recorded steps (a page of the history)."""
        for record in records:
            self._history[record.step_number] = record

    @property
    def last_loaded(self) -> int:
        """The highest step number in the history, -1 when it is empty."""
        return max(self._history, default=-1)

    def __len__(self) -> int:
        return len(self._history)

    def next_step(self) -> int:
        """Take the next step number (0, 1, 2, ... in call order)."""
        with self._lock:
            n = self._next
            self._next += 1
            return n

    def recorded(self, step_number: int, name: str, kind: int) -> pb.StepRecord | None:
        """The recorded outcome at this step number, or None if nothing is recorded there.

        Raises NonDeterminismError (and sets `fatal`) if the record is of another
        operation than the one the code calls now; the message names both.
        """
        record = self._history.get(step_number)
        if record is None:
            return None
        if record.name != name or record.kind != kind:
            self.fatal = NonDeterminismError(
                f"workflow {self.workflow_id} is not deterministic: at step {step_number} the code "
                f"now calls {describe(name, kind)}, but the history recorded "
                f"{describe(record.name, record.kind)}"
            )
            raise self.fatal
        return record

    def begin(self, name: str, kind: int) -> tuple[int, pb.StepRecord | None]:
        """Start a durable operation: its step number, and its recorded outcome if
        this is a replay of it (None when it must run)."""
        n = self.next_step()
        return n, self.recorded(n, name, kind)
