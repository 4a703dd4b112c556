"""The LISTEN side of PostgreSQL notes: a background task per `listen` call,
on a connection of its own, that reconnects whenever it is lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import psycopg

from ...core.records import Note
from .pool import CONNECT_TIMEOUT, connect
from .wakeups import CHANNEL

log = logging.getLogger(__name__)

# The listener checks its connection when nothing arrived for this long
# (TCP keepalives catch a silent peer too), and reconnects with backoff.
_LISTEN_CHECK = 30.0
_RETRY_MIN = 0.05
_RETRY_MAX = 5.0
_LISTEN_APP_NAME = "keel-listen"


class Listeners:
    def __init__(self, url: str) -> None:
        self._url = url
        self._tasks: list[asyncio.Task[None]] = []

    async def add(self, callback: Callable[[Note], None]) -> None:
        """Deliver NOTIFYs on "keel" to `callback` from a background task with
        its own connection, reconnecting whenever it is lost, until close().
        Returns once listening (or after the first attempt failed); never raises.
        Notes sent while the listener is reconnecting are lost."""
        started = asyncio.Event()
        task = asyncio.create_task(self._listen_loop(callback, started), name="keel-listen")
        self._tasks.append(task)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(started.wait(), 2 * CONNECT_TIMEOUT)

    async def close(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _listen_loop(self, callback: Callable[[Note], None], started: asyncio.Event) -> None:
        delay = _RETRY_MIN
        outage = False
        while True:
            conn: psycopg.AsyncConnection[Any] | None = None
            try:
                conn = await connect(
                    self._url, application_name=_LISTEN_APP_NAME,
                    keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3,
                )
                await conn.execute(f"LISTEN {CHANNEL}")
                if outage:
                    log.info("listening for changes on PostgreSQL again")
                outage, delay = False, _RETRY_MIN
                started.set()
                while True:
                    async for note in conn.notifies(timeout=_LISTEN_CHECK):
                        parsed = Note.decode(note.payload)
                        if parsed is None:
                            continue  # from a newer coordinator: nothing we act on
                        try:
                            callback(parsed)
                        except Exception:
                            log.exception("listen callback failed on %r", note.payload)
                    # Quiet for a while: make sure the connection still works.
                    # (Notes arriving meanwhile wait for the next notifies().)
                    await asyncio.wait_for(conn.execute("SELECT 1"), CONNECT_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # psycopg.Error, OSError, TimeoutError, ...
                if not outage:
                    log.warning("lost the PostgreSQL listener connection, reconnecting: %s", e)
                    outage = True
                else:
                    log.debug("listener reconnect failed: %s", e)
                started.set()
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
            await asyncio.sleep(delay)
            delay = min(2 * delay, _RETRY_MAX)
