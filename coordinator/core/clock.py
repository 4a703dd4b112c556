"""Time as the core sees it, so tests can substitute it."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Wall-clock time in milliseconds since the Unix epoch (stored times)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (intervals and liveness)."""


class SystemClock:
    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def monotonic(self) -> float:
        return time.monotonic()


class StoreClock:
    """A local clock corrected to the store's: coordinators sharing a store
    compare deadlines, sleeps and leases against one clock even when their
    own clocks differ. `sync` sets the offset from a reading of the store's
    clock taken between two local readings."""

    def __init__(self, base: Clock) -> None:
        self.base = base
        self.offset_ms = 0

    def now_ms(self) -> int:
        return self.base.now_ms() + self.offset_ms

    def monotonic(self) -> float:
        return self.base.monotonic()

    def sync(self, before_ms: int, store_ms: int, after_ms: int) -> None:
        self.offset_ms = store_ms - (before_ms + after_ms) // 2
