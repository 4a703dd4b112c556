"""SQLite's commits (store/sqlite/group_commit.py): a lone caller of a small
unit commits on the event loop's thread, callers that come together share the
writer's commit, other units always go to the writer, and another process
holding the write lock never blocks the loop."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from pathlib import Path

from coordinator.store.sqlite.group_commit import IDLE_AFTER_S, GroupCommitter, Rollback


def _committer(path: str) -> GroupCommitter:
    def connect() -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=5000")
        db.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
        return db
    return GroupCommitter(connect)


def _insert(n: int) -> tuple[int, str]:
    def unit(db: sqlite3.Connection) -> tuple[int, str]:
        db.execute("INSERT INTO t VALUES (?)", (n,))
        return n, threading.current_thread().name
    return unit  # type: ignore[return-value]


def test_a_lone_caller_commits_on_the_loop_and_callers_together_on_the_writer(tmp_path: Path) -> None:
    async def main() -> None:
        writer = _committer(f"{tmp_path}/c.db")
        await writer.start()
        try:
            n, thread = await writer.run(_insert(1), small=True)
            assert (n, thread) == (1, threading.current_thread().name)  # inline
            await asyncio.sleep(IDLE_AFTER_S * 4)
            n, thread = await writer.run(_insert(0))  # not small: a scan, a batch, a GC
            assert thread == "sqlite-writer"
            together = await asyncio.gather(*(writer.run(_insert(i), small=True) for i in range(2, 12)))
            assert [n for n, _ in together] == list(range(2, 12))
            assert {thread for _, thread in together[1:]} == {"sqlite-writer"}
            await asyncio.sleep(IDLE_AFTER_S * 4)
            count = await writer.run(lambda db: db.execute("SELECT count(*) FROM t").fetchone()[0])
            assert count == 12
        finally:
            await writer.stop()

    asyncio.run(main())


def test_a_unit_that_fails_inline_rolls_back_alone(tmp_path: Path) -> None:
    async def main() -> None:
        writer = _committer(f"{tmp_path}/c.db")
        await writer.start()
        try:
            def bad(db: sqlite3.Connection) -> None:
                db.execute("INSERT INTO t VALUES (7)")
                raise ValueError("a bug in one unit")
            with contextlib.suppress(ValueError):
                await writer.run(bad, small=True)
            await asyncio.sleep(IDLE_AFTER_S * 4)
            assert await writer.run(lambda db: db.execute("SELECT count(*) FROM t").fetchone()[0]) == 0
        finally:
            await writer.stop()

    asyncio.run(main())


def test_a_lone_unit_that_undoes_its_writes_is_run_again_by_the_writer(tmp_path: Path) -> None:
    """Inline, a lone unit has no savepoint: one that raises Rollback is
    undone with the whole transaction and handed to the writer, whose
    savepoint lets its `then` read after the undo."""
    async def main() -> None:
        writer = _committer(f"{tmp_path}/c.db")
        await writer.start()
        runs: list[str] = []
        try:
            def undone(db: sqlite3.Connection) -> tuple[int, str]:
                runs.append(threading.current_thread().name)
                db.execute("INSERT INTO t VALUES (9)")
                raise Rollback(lambda db: (db.execute("SELECT count(*) FROM t").fetchone()[0],
                                           threading.current_thread().name))
            assert await writer.run(undone, small=True) == (0, "sqlite-writer")
            assert runs == [threading.current_thread().name, "sqlite-writer"]
            await asyncio.sleep(IDLE_AFTER_S * 4)
            n, thread = await writer.run(_insert(1), small=True)
            assert (n, thread) == (1, threading.current_thread().name)  # inline again
        finally:
            await writer.stop()

    asyncio.run(main())


def test_another_process_holding_the_write_lock_does_not_block_the_loop(tmp_path: Path) -> None:
    """The lone caller hands its unit to the writer, which waits for the lock;
    the loop meanwhile keeps running."""
    path = f"{tmp_path}/c.db"

    async def main() -> None:
        writer = _committer(path)
        await writer.start()
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process's write, not yet committed
            await asyncio.sleep(IDLE_AFTER_S * 4)
            call = asyncio.create_task(writer.run(_insert(1), small=True))
            ticks = 0
            started = time.monotonic()
            while time.monotonic() - started < 0.3:
                await asyncio.sleep(0.01)
                ticks += 1
            assert not call.done() and ticks >= 10  # the loop ran; the unit waits for the lock
            other.execute("COMMIT")
            n, thread = await asyncio.wait_for(call, 5)
            assert (n, thread) == (1, "sqlite-writer")
        finally:
            other.close()
            await writer.stop()

    asyncio.run(main())
