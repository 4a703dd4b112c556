"""Group commit for SQLite: one writer thread, many units of work per commit.

SQLite has one writer and pays an fsync per commit. Under load, callers queue
units of work; the writer thread runs every unit waiting in the queue inside
one transaction, each in a savepoint of its own, and commits once. Nobody is
answered before that commit, so nothing is acknowledged before it is durable;
a lone caller waits no longer than before.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ...core.errors import StoreUnavailable

T = TypeVar("T")
Unit = Callable[[sqlite3.Connection], Any]
Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]

MAX_BATCH = 512


class Rollback(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a unit to undo its own writes; `then(db)`, run after the undo,
    gives the unit's result."""

    def __init__(self, then: Unit) -> None:
        super().__init__("rollback")
        self.then = then


class GroupCommitter:
    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._queue: queue.SimpleQueue[tuple[Unit, asyncio.AbstractEventLoop, asyncio.Future[Any]] | None]
        self._queue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        """Connect (and migrate) on the writer thread, then serve."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(target=self._serve, args=(loop, ready), name="sqlite-writer",
                                        daemon=True)
        self._thread.start()
        await ready

    async def run(self, unit: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((unit, loop, future))
        return await future

    async def stop(self) -> None:
        self._queue.put(None)
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 10)

    def _serve(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[None]) -> None:
        try:
            db = self._connect()
        except BaseException as e:  # reported to open()
            failed: list[Outcome] = [(ready, None, StoreUnavailable(f"sqlite: {e}"))]
            loop.call_soon_threadsafe(_settle, failed)
            return
        started: list[Outcome] = [(ready, None, None)]
        loop.call_soon_threadsafe(_settle, started)
        try:
            while (first := self._queue.get()) is not None:
                batch = [first]
                stopping = False
                while len(batch) < MAX_BATCH:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stopping = True
                        break
                    batch.append(item)
                self._commit(db, batch)
                if stopping:
                    break
        finally:
            db.close()

    @staticmethod
    def _commit(
        db: sqlite3.Connection, batch: list[tuple[Unit, asyncio.AbstractEventLoop, asyncio.Future[Any]]]
    ) -> None:
        outcomes: list[Outcome] = []
        try:
            db.execute("BEGIN IMMEDIATE")
            for unit, _, future in batch:
                db.execute("SAVEPOINT unit")
                try:
                    value = unit(db)
                except Rollback as rb:
                    db.execute("ROLLBACK TO unit")
                    value = rb.then(db)
                except sqlite3.OperationalError:
                    raise  # the database itself is in trouble: the whole batch fails
                except Exception as e:  # a bug in one unit fails that unit only
                    db.execute("ROLLBACK TO unit")
                    db.execute("RELEASE unit")
                    outcomes.append((future, None, e))
                    continue
                db.execute("RELEASE unit")
                outcomes.append((future, value, None))
            db.execute("COMMIT")
        except sqlite3.Error as e:
            if db.in_transaction:
                db.execute("ROLLBACK")
            failure = StoreUnavailable(f"sqlite: {e}")
            outcomes = [(future, None, failure) for _, _, future in batch]
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for (_, loop, _), outcome in zip(batch, outcomes, strict=True):
            by_loop.setdefault(loop, []).append(outcome)
        for loop, settled in by_loop.items():
            loop.call_soon_threadsafe(_settle, settled)


def _settle(outcomes: list[Outcome]) -> None:
    for future, value, error in outcomes:
        if future.done():
            continue  # the caller gave up (cancelled)
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
