"""Parking a select on PostgreSQL: several wait keys at once, without losing
a wake-up to a concurrent writer (see wakeups.py for the single-key case).

The writers wake parked selects in their own transaction: a message's and a
workflow's end from triggers (schema version 6), an event from
keel_set_event (version 16). A writer of a message or an event takes the
advisory lock of its wait key before it looks; a child becoming final holds
its row lock. The parker takes the same locks before it writes
select_waits, so whichever of the two comes second sees the other's commit:
the writer sees the select_waits rows, or the engine's look after the park
sees the message, event or final child.

Lock order: children's rows (FOR SHARE, as a finishing child locks its own
row before its trigger locks the parent's), then the parker's own row, then
the advisory locks in a fixed order.
"""

from __future__ import annotations

from typing import Any

from ..sql.queries import POSTGRES, Queries
from .pool import Pool
from .wakeups import LOCK, LOCK_PARKING, wait_lock

Q = Queries(POSTGRES)

_LOCK_CHILDREN = POSTGRES.render(
    "SELECT 1 FROM workflows WHERE workflow_id = ANY(?) ORDER BY workflow_id FOR SHARE")


async def park_select(pool: Pool, workflow_id: str, epoch: int, resume_at: int,
                      wait_keys: list[str]) -> bool:
    keys = sorted(set(wait_keys))
    children = [k.removeprefix("done:") for k in keys if k.startswith("done:")]
    locks = sorted({wait_lock(k, workflow_id) for k in keys if not k.startswith("done:")})
    async with pool.connection() as conn:
        async with conn.transaction():
            if children:
                await conn.execute(_LOCK_CHILDREN, (children,))
            cur = await conn.execute(LOCK_PARKING, (workflow_id, epoch))
            if await cur.fetchone() is None:
                return False
            for lock in locks:
                await conn.execute(LOCK, (lock,))
            cur = await conn.execute(Q.park_select, (resume_at, workflow_id, epoch))
            if await cur.fetchone() is None:
                return False
            await conn.execute(Q.clear_select_waits, (workflow_id,))
            params: list[Any] = [(workflow_id, key) for key in keys]
            if params:
                async with conn.cursor() as c:
                    await c.executemany(Q.insert_select_wait, params)
    return True
