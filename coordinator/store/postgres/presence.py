"""A coordinator's presence: a session advisory lock named after its node ID,
held on a connection of its own for the life of the process.

When the process dies, the kernel closes its connections and PostgreSQL
releases the lock at once, so the others see the death on their next reap
(`pg_try_advisory_xact_lock` succeeds on it) instead of waiting out the
heartbeat timeout. A paused or cut-off process still holds the lock: for it,
the heartbeat timeout decides, as on any store.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import Any

import psycopg

from .pool import CONNECT_TIMEOUT, connect

log = logging.getLogger(__name__)

_CHECK = 5.0  # seconds between checks that the lock's connection still works
_RETRY = 0.5


def node_lock(node_id: str) -> int:
    """The 64-bit advisory lock ID of a node (a namespace of its own): the first
    8 bytes of a SHA-256, as NODE_LOCK_SQL computes it in PostgreSQL."""
    digest = hashlib.sha256(f"keel-node:{node_id}".encode()).digest()[:8]
    return int.from_bytes(digest, "big", signed=True)


# node_lock(node_id) in SQL, over a column `node_id`.
NODE_LOCK_SQL = ("('x' || substr(encode(sha256(convert_to('keel-node:' || node_id, 'UTF8')), 'hex'), "
                 "1, 16))::bit(64)::bigint")


class Presence:
    def __init__(self, url: str) -> None:
        self._url = url
        self._task: asyncio.Task[None] | None = None

    async def hold(self, node_id: str) -> None:
        """Take the node's lock (and keep it, reconnecting if the link is lost);
        returns once it is held, or after a few seconds if a previous life of
        the node (paused, not dead) still holds it."""
        await self.close()
        held = asyncio.Event()
        self._task = asyncio.create_task(self._hold(node_lock(node_id), held), name="keel-presence")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(held.wait(), 2 * CONNECT_TIMEOUT)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _hold(self, lock: int, held: asyncio.Event) -> None:
        while True:
            conn: psycopg.AsyncConnection[Any] | None = None
            try:
                conn = await connect(self._url, application_name="keel-presence",
                                     keepalives=1, keepalives_idle=10, keepalives_interval=5,
                                     keepalives_count=3)
                while not await _try_lock(conn, lock):
                    await asyncio.sleep(_RETRY)
                held.set()
                while True:  # keep the session (and so the lock) alive
                    await asyncio.sleep(_CHECK)
                    await asyncio.wait_for(conn.execute("SELECT 1"), CONNECT_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # psycopg.Error, OSError, TimeoutError
                log.warning("lost the presence lock's connection, taking it again: %s", e)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
            await asyncio.sleep(_RETRY)


async def _try_lock(conn: psycopg.AsyncConnection[Any], lock: int) -> bool:
    cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (lock,))
    row = await cur.fetchone()
    return bool(row and row[0])
