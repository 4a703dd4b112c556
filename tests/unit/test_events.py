"""Events in the engine: readers and watchers woken by a set_event committed
here, on the in-memory store (see test_engine.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from coordinator.core.engine import Engine
from coordinator.core.records import Value
from tests.unit.fakes import FakeClock, session
from tests.unit.test_engine import ARGS, ok, run, settle


def test_events_wake_readers_and_watchers() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        engine.register(session("w1")[0])
        await engine.start_workflow("wf", ARGS, "a", None)
        reader = asyncio.create_task(engine.get_event("a", "status", timeout=5))
        await settle()
        await engine.set_event("a", 1, 0, "status", Value("json", b'"paid"'))
        event = await reader
        assert event is not None and event.value == Value("json", b'"paid"') and event.seq == 1

        async def watch() -> list[int]:
            stream: AsyncIterator[Any] = engine.watch_events("a", 0)
            return [e.seq async for e in stream]

        watcher = asyncio.create_task(watch())
        await settle()
        await engine.set_event("a", 1, 1, "status", Value("json", b'"shipped"'))
        await engine.finish_workflow("a", 1, ok())
        assert await watcher == [1, 2]  # ends with the workflow

    run(body)


def test_a_watcher_gets_an_event_committed_here_before_reading_the_store() -> None:
    """Woken with the next event in order, a watcher hands it on at once; the
    read after it catches events committed meanwhile (no gap, no repeat)."""
    async def body(engine: Engine, clock: FakeClock) -> None:
        engine.register(session("w1")[0])
        await engine.start_workflow("wf", ARGS, "a", None)
        store = engine.store
        list_events = store.list_events
        reads = asyncio.Event()
        reads.set()

        async def gated(workflow_id: str, after_seq: int, limit: int) -> Any:
            await reads.wait()
            return await list_events(workflow_id, after_seq, limit)

        store.list_events = gated  # type: ignore[method-assign]
        stream: AsyncIterator[Any] = engine.watch_events("a", 0)
        first = asyncio.ensure_future(stream.__anext__())
        await settle()  # read nothing, now waits
        reads.clear()  # the store's reads stall from here
        await engine.set_event("a", 1, 0, "k", Value("json", b"1"))
        assert (await asyncio.wait_for(first, 5)).seq == 1  # no read needed
        following = asyncio.ensure_future(stream.__anext__())
        await engine.set_event("a", 1, 1, "k", Value("json", b"2"))
        await engine.set_event("a", 1, 2, "k", Value("json", b"3"))  # both before the watcher runs
        await settle()
        assert not following.done()  # their wake-ups came while it read: the read has them
        reads.set()
        assert (await asyncio.wait_for(following, 5)).seq == 2
        await engine.finish_workflow("a", 1, ok())
        assert [e.seq async for e in stream] == [3]

    run(body)
