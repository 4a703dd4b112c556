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
from .peers import LISTEN_APP_NAME, Peers
from .pool import CONNECT_TIMEOUT, connect
from .wakeups import CHANNEL

log = logging.getLogger(__name__)

# Every this many seconds the listener looks who else listens (peers.py),
# which also checks its connection (TCP keepalives catch a silent peer too);
# it reconnects with backoff.
_LOOK_EVERY = 2.0
_RETRY_MIN = 0.05
_RETRY_MAX = 5.0


class Listeners:
    def __init__(self, url: str, peers: Peers) -> None:
        self._url = url
        self._peers = peers
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
                    self._url, application_name=LISTEN_APP_NAME,
                    keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3,
                )
                await conn.execute(f"LISTEN {CHANNEL}")
                await self._peers.joined(conn)
                if outage:
                    log.info("listening for changes on PostgreSQL again")
                outage, delay = False, _RETRY_MIN
                started.set()
                while True:
                    async for note in conn.notifies(timeout=_LOOK_EVERY):
                        if self._peers.heard(note.payload, note.pid, conn.info.backend_pid):
                            continue
                        parsed = Note.decode(note.payload)
                        if parsed is None:
                            continue  # from a newer coordinator: nothing we act on
                        try:
                            callback(parsed)
                        except Exception:
                            log.exception("listen callback failed on %r", note.payload)
                    # (Notes arriving meanwhile wait for the next notifies().)
                    await asyncio.wait_for(self._peers.look(conn), CONNECT_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # psycopg.Error, OSError, TimeoutError, ...
                self._peers.lost()
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
