"""Group commit for SQLite: one writer thread, many units of work per commit.

SQLite has one writer and pays an fsync per commit. Under load, callers queue
units of work; the writer thread runs every unit waiting in the queue inside
one transaction, each in a savepoint of its own, and commits once. Nobody is
answered before that commit, so nothing is acknowledged before it is durable;
a lone caller waits no longer than before.

A small unit (a few rows by key, the steps' path) whose caller finds the
store idle (nothing queued, the last commit a while ago) commits on the
caller's thread instead, the event loop's: the hand-off to the
writer and back costs two thread wake-ups, 0.14 ms of a 1-ms step. Under load
commits follow each other closely and go through the writer, batched; an
inline commit blocks the loop for its fsync, so the next caller, finding the
last commit just made, queues. It may also run SQLite's WAL checkpoint (once
the WAL holds 1000 pages): 2.4 ms at most in 5,000 lone commits on the
project's machine. Such a lone unit runs without the savepoint a batch gives
each of its units, and the connection keeps a busy timeout of 0, set to
wait only when the writer finds another process holding the write lock:
four statements (BEGIN, the unit's two, COMMIT) where there were eight,
0.23 → 0.18 ms of CPU for a step's commit.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ...core.errors import StoreUnavailable

T = TypeVar("T")
Unit = Callable[[sqlite3.Connection], Any]
Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]

MAX_BATCH = 512
# How long a commit waits for another process's write lock (the connection's busy_timeout).
BUSY_TIMEOUT_MS = 5000
# The store counts as idle this long after its last commit ended. Under load
# the next unit comes at once (98 % of wf_throughput's go to the writer); a
# lone workflow's next step comes a round trip later, at least 0.3 ms: at
# 0.5 ms, 14 % of a lone workflow's steps took the writer's two hand-offs.
IDLE_AFTER_S = 0.0002


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
        # The connection is used by one thread at a time: the writer's batch
        # or an inline commit holds this.
        self._using = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._queued = 0  # units handed to the writer and not yet answered
        self._last_end = 0.0  # time.monotonic() at the end of the last commit

    async def start(self) -> None:
        """Connect (and migrate) on the writer thread, then serve."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(target=self._serve, args=(loop, ready), name="sqlite-writer",
                                        daemon=True)
        self._thread.start()
        await ready

    async def run(self, unit: Callable[[sqlite3.Connection], T], small: bool = False) -> T:
        """Run `unit` in a commit; a `small` one (a few rows by key: it holds
        the loop only for its fsync) may run on the caller's thread."""
        db = self._db
        idle = not self._queued and time.monotonic() - self._last_end >= IDLE_AFTER_S
        if small and db is not None and idle and self._using.acquire(blocking=False):
            try:
                results = _transaction(db, [unit], wait=False)
            finally:
                self._last_end = time.monotonic()
                self._using.release()
            if results is not None:
                [(value, error)] = results
                if error is not None:
                    raise error
                return value  # type: ignore[no-any-return]
            # Another process holds the write lock (the writer waits for it),
            # or the unit undid its writes (the writer runs it in a savepoint).
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queued += 1
        try:
            self._queue.put((unit, loop, future))
            return await future
        finally:
            self._queued -= 1

    async def stop(self) -> None:
        self._db = None  # no more inline commits: the writer closes it
        self._queue.put(None)
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 10)

    def _serve(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[None]) -> None:
        try:
            db = self._connect()
            # Never wait for another process's lock, but where _begin says.
            db.execute("PRAGMA busy_timeout=0")
        except BaseException as e:  # reported to open()
            failed: list[Outcome] = [(ready, None, StoreUnavailable(f"sqlite: {e}"))]
            loop.call_soon_threadsafe(_settle, failed)
            return
        self._db = db
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
                with self._using:
                    self._commit(db, batch)
                    self._last_end = time.monotonic()
                if stopping:
                    break
        finally:
            db.close()

    @staticmethod
    def _commit(
        db: sqlite3.Connection, batch: list[tuple[Unit, asyncio.AbstractEventLoop, asyncio.Future[Any]]]
    ) -> None:
        results = _transaction(db, [unit for unit, _, _ in batch])
        assert results is not None  # it waits for the lock
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for (_, loop, future), (value, error) in zip(batch, results, strict=True):
            by_loop.setdefault(loop, []).append((future, value, error))
        for loop, settled in by_loop.items():
            loop.call_soon_threadsafe(_settle, settled)


def _transaction(db: sqlite3.Connection, units: list[Unit], wait: bool = True
                 ) -> list[tuple[Any, BaseException | None]] | None:
    """Run the units in one transaction, each in a savepoint of its own, and
    commit: (value, error) of each. Unless `wait`, None at once if another
    process holds the write lock (the loop's thread must not wait for it),
    and a lone unit runs alone (_alone)."""
    results: list[tuple[Any, BaseException | None]] = []
    if not wait:
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return None
    try:
        if wait:
            _begin(db)
        elif len(units) == 1:
            return _alone(db, units[0])
        for unit in units:
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
                results.append((None, e))
                continue
            db.execute("RELEASE unit")
            results.append((value, None))
        db.execute("COMMIT")
    except sqlite3.Error as e:
        if db.in_transaction:
            db.execute("ROLLBACK")
        failure = StoreUnavailable(f"sqlite: {e}")
        results = [(None, failure) for _ in units]
    return results


def _begin(db: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, waiting up to BUSY_TIMEOUT_MS for another process's write lock."""
    try:
        db.execute("BEGIN IMMEDIATE")
        return
    except sqlite3.OperationalError:
        pass  # held by another process: wait for it this time
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        db.execute("BEGIN IMMEDIATE")
    finally:
        db.execute("PRAGMA busy_timeout=0")


def _alone(db: sqlite3.Connection, unit: Unit) -> list[tuple[Any, BaseException | None]] | None:
    """One unit in the transaction begun, with no savepoint: the whole
    transaction is its own (the database's own errors are _transaction's).
    A unit that undoes its writes (Rollback) gets None, and the writer runs
    it again, in a savepoint, where its `then` may read after the undo."""
    try:
        value = unit(db)
    except Rollback:
        db.execute("ROLLBACK")
        return None
    except sqlite3.OperationalError:
        raise  # the database itself is in trouble
    except Exception as e:  # a bug in the unit
        db.execute("ROLLBACK")
        return [(None, e)]
    db.execute("COMMIT")
    return [(value, None)]


def _settle(outcomes: list[Outcome]) -> None:
    for future, value, error in outcomes:
        if future.done():
            continue  # the caller gave up (cancelled)
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
