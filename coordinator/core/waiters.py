"""Callers parked in the coordinator's memory until something they watch changes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any


class Waiters:
    """Futures by key: `waiting(key)` registers one, `wake(key)` settles them all.

    Register before looking at the store: a change committed meanwhile then
    wakes the future, so it is never missed between the look and the wait."""

    def __init__(self) -> None:
        self._table: dict[str, set[asyncio.Future[Any]]] = {}

    @contextlib.contextmanager
    def waiting(self, key: str) -> Iterator[asyncio.Future[Any]]:
        woken: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._table.setdefault(key, set()).add(woken)
        try:
            yield woken
        finally:
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
    """The four things callers wait for, each by workflow ID."""

    def __init__(self) -> None:
        self.finished = Waiters()  # the workflow became final (value: its record)
        self.steps = Waiters()  # one of its steps was committed (select)
        self.events = Waiters()  # it set an event, or ended (event readers, watchers)
        self.messages = Waiters()  # a message for it was committed (recv)
