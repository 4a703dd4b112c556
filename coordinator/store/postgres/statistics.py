"""The planner's statistics of keel's tables, kept fresh where nothing else does.

PostgreSQL plans a prepared statement once per session and keeps the plan
until the table's statistics change. A coordinator that starts on an empty
database prepares its statements against empty tables; there a lookup by
`workflow_id = ? AND status = 'PENDING'` costs the same through
`workflows_by_status` as through the primary key, and may be planned through
it: a walk of every PENDING entry, the dead ones included, at each step
record and each end. autovacuum's ANALYZE re-plans them within a minute of
the table growing; on a server with autovacuum off nothing does, and a
10-minute soak there slowed from 80 ms to a minute per workflow. So with
autovacuum off the coordinator runs ANALYZE on its busiest tables itself,
every `every` seconds (and says so at start-up).

It VACUUMs the tables whose rows are updated too. Every workflow run leaves
dead entries in the partial indexes the dispatch loop's claims read (the
unowned, the owned, the due) and in those on status; until VACUUM removes
them, claims and their planning walk them (a claim took 47–108 ms by the
eighth minute of a soak at 400 workflows a second), and a plan made on
fresh statistics may pick an index of status full of them: the soak then
fell behind for minutes. SKIP_LOCKED: where another coordinator vacuums
the same table at the time, this one does not wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from .pool import Pool

log = logging.getLogger(__name__)

EVERY = 30.0  # seconds between two rounds
_VACUUMED = "workflows, messages, step_tasks"  # rows updated: dead versions
_ANALYZED = "steps, events"  # rows inserted (and deleted by retention only)


class Statistics:
    def __init__(self, pool: Pool, every: float = EVERY) -> None:
        self._pool = pool
        self.every = every
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._refresh())

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                async with self._pool.connection() as conn:
                    await conn.execute(f"VACUUM (ANALYZE, SKIP_LOCKED) {_VACUUMED}")
                    await conn.execute(f"ANALYZE (SKIP_LOCKED) {_ANALYZED}")
            except Exception as e:  # the store away: the next round tries again
                log.info("VACUUM and ANALYZE of keel's tables failed: %s", e)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
