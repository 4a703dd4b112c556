"""Limits on what callers hold open: worker streams and event watches.

Past a limit the call is refused with RESOURCE_EXHAUSTED (through the error
table), so one misbehaving client cannot take every connection's memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..core.errors import ResourceExhausted


class Gauge:
    """How many of something are open, at most `limit` at once."""

    def __init__(self, what: str, limit: int, flag: str) -> None:
        self.what = what
        self.limit = limit
        self.flag = flag
        self.open = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold one for the duration; ResourceExhausted if all are taken."""
        if self.open >= self.limit:
            raise ResourceExhausted(
                f"too many {self.what}: {self.open} open, the limit is {self.limit} ({self.flag}); "
                "retry later")
        self.open += 1
        try:
            yield
        finally:
            self.open -= 1
