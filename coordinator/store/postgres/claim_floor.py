"""Where a claim starts reading the unowned workflows (PostgreSQL only).

The unowned are read oldest first through a partial index (workflows_claimable,
schema 14). A workflow claimed leaves that index's predicate, but on
PostgreSQL its entry stays until VACUUM: hinted dead by the first scan that
meets it, still read by every scan after. Created while no slot was free,
hundreds a second, those entries pile up at the index's old end and every
claim walked them all: 60 buffers a claim on an empty store, 587 after
100,000 had gone that way, and the claims of a dispatch loop that is behind
grew slower the longer it stayed behind (the soak's stalls; bench/SOAK.md).

So a claim starts at the oldest it claimed last, less a margin for clocks of
other coordinators a little behind ours. What makes an older workflow
unowned again — a release, a dead coordinator's work reaped, a resume —
through this store resets the floor; the same by another coordinator is seen
once the floor has aged out (a second, the dispatch loop's poll interval).
A row skipped because it was locked at the time waits as long at most.

Every workflow run leaves a dead entry in workflows_owned too, whose run-out
leases a claim read from the start of the index (57 ms a claim in a soak's
second minute): the engine looks for them once per poll interval, not at
every claim (Store.claim_workflows' `leases`).
"""

from __future__ import annotations

import time

# A floor older than this is not used: the next claim reads from the start.
TTL_S = 1.0
# Created by another coordinator whose clock is behind ours by at most this.
MARGIN_MS = 1_000


class ClaimFloor:
    def __init__(self) -> None:
        self._floor = 0  # created_at in ms; 0: read from the start
        self._set_at = 0.0
        self._generation = 0  # bumped by each reset

    def get(self) -> tuple[int, int]:
        """(the created_at a claim starts from now, a token for `claimed`)."""
        if self._floor and time.monotonic() - self._set_at > TTL_S:
            self.reset()  # a claim in flight read from it: its answer is no full read
        return self._floor, self._generation

    def claimed(self, token: int, oldest_created_at: int) -> None:
        """A claim that began with `token` (from `get`) took rows, the oldest
        created at `oldest_created_at`: no unowned one older is left (the
        claim takes the oldest), but for those locked at the time. Ignored
        if a reset came meanwhile."""
        if token != self._generation:
            return
        if not self._floor:
            self._set_at = time.monotonic()  # the floor's age: since the last read from the start
        self._floor = max(self._floor, oldest_created_at - MARGIN_MS, 1)

    def reset(self) -> None:
        self._floor = 0
        self._generation += 1
