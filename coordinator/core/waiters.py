"""Callers parked in the coordinator's memory until something they watch changes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from .records import StepRecord


class Waiters:
    """Futures by key: `waiting(key)` registers one, `wake(key)` settles them all.

    Register before looking at the store: a change committed meanwhile then
    wakes the future, so it is never missed between the look and the wait."""

    def __init__(self) -> None:
        self._table: dict[str, set[asyncio.Future[Any]]] = {}

    @contextlib.contextmanager
    def waiting(self, key: str) -> Iterator[asyncio.Future[Any]]:
        woken = self.add(key)
        try:
            yield woken
        finally:
            self.discard(key, woken)

    def add(self, key: str) -> asyncio.Future[Any]:
        woken: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._table.setdefault(key, set()).add(woken)
        return woken

    def discard(self, key: str, woken: asyncio.Future[Any]) -> None:
        waiters = self._table.get(key)
        if waiters is not None:
            waiters.discard(woken)
            if not waiters:
                del self._table[key]

    def wake(self, key: str, value: Any = None) -> None:
        """Wake the waiters of `key`, handing them `value` (what changed, if known)."""
        for woken in self._table.pop(key, ()):
            if not woken.done():
                woken.set_result(value)


class Wakeups:
    """What callers wait for, each by workflow ID (`step` by workflow and step)."""

    def __init__(self) -> None:
        self.finished = Waiters()  # the workflow became final (value: its record)
        self.steps = Waiters()  # one of its steps was committed (value: the record, if known)
        self.step = Waiters()  # this step was committed (value: the record, if known)
        self.events = Waiters()  # it set an event, or ended (event readers, watchers)
        self.messages = Waiters()  # a message for it was committed (recv)

    def step_recorded(self, workflow_id: str, step_number: int, record: StepRecord | None) -> None:
        """A step was committed: here (with its record) or elsewhere (None: look)."""
        self.step.wake(_step_key(workflow_id, step_number), record)
        self.steps.wake(workflow_id, record)

    def add_step_waiters(self, workflow_id: str, step_number: int) -> tuple[asyncio.Future[Any], ...]:
        """Futures woken by this step's commit, and by any change to the workflow's steps."""
        return (self.step.add(_step_key(workflow_id, step_number)), self.steps.add(workflow_id))

    def discard_step_waiters(self, workflow_id: str, step_number: int,
                             woken: tuple[asyncio.Future[Any], ...]) -> None:
        self.step.discard(_step_key(workflow_id, step_number), woken[0])
        self.steps.discard(workflow_id, woken[1])


def _step_key(workflow_id: str, step_number: int) -> str:
    return f"{step_number}:{workflow_id}"
