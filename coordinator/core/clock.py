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
