"""A client awaiting a workflow (Engine.await_workflow) reads the store only
when the workflow may have ended unseen: not while it runs here, nor while it
waits here for a slot (ctx.unclaimed), where the read was most of what a
workflow of a backlog cost beyond a direct start."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from coordinator.core.context import EngineConfig
from coordinator.core.engine import Engine
from coordinator.core.records import Note, NoteKind, Outcome, Value, WorkflowStatus
from coordinator.store.memory import MemoryStore
from tests.unit.fakes import FakeClock, count_calls, session
from tests.unit.test_engine import ARGS, ok, settle


def run(poll_interval: float, body: Callable[[Engine, list[str]], Awaitable[None]]) -> None:
    """`body(engine, reads)`: one worker of one slot, already busy with
    workflow "busy"; `reads` lists the workflows read from the store."""
    async def main() -> None:
        engine = Engine(MemoryStore(), EngineConfig(node_id="node-a", poll_interval=poll_interval),
                        FakeClock())
        await engine.start(run_loops=False)
        try:
            engine.register(session("w1", workflow_slots=1)[0])
            await engine.start_workflow("wf", ARGS, "busy", None)
            reads = count_calls(engine.store, "get_workflow", arg=0)
            await asyncio.wait_for(body(engine, reads), 10)
        finally:
            await engine.stop()

    asyncio.run(main())


def _cancelled_elsewhere(engine: Engine, workflow_id: str) -> Awaitable[Any]:
    """End it as another coordinator would: in the store, unseen here."""
    return engine.store.finish_workflow(workflow_id, None, WorkflowStatus.CANCELLED,
                                        Outcome(output=Value("json", b"null")), 5)


def test_a_workflow_waiting_here_for_a_slot_is_awaited_without_a_read() -> None:
    async def body(engine: Engine, reads: list[str]) -> None:
        waiting, _ = await engine.start_workflow("wf", ARGS, "waiting", None)
        assert waiting.owner is None  # every slot taken: created unclaimed
        awaiting = asyncio.create_task(engine.await_workflow("waiting", timeout=30))
        await settle()
        assert reads == [] and not awaiting.done()
        await engine.finish_workflow("busy", 1, ok())
        await engine.dispatch_workflows()  # the slot it freed takes "waiting"
        assert engine.dispatch.execution("waiting") is not None
        done = await engine.finish_workflow("waiting", 1, ok(b"2"))
        assert await asyncio.wait_for(awaiting, 5) == done
        assert reads == []

    run(60.0, body)


def test_one_ended_by_another_coordinator_is_read_once_its_note_came() -> None:
    """Before the await (the note dropped it from ctx.unclaimed: the first
    look reads) and while it waits (the note wakes it)."""
    async def body(engine: Engine, reads: list[str]) -> None:
        for wid in ("before", "during"):
            await engine.start_workflow("wf", ARGS, wid, None)
        before = await _cancelled_elsewhere(engine, "before")
        engine._on_note(Note(NoteKind.DONE, "before"))
        assert await asyncio.wait_for(engine.await_workflow("before", timeout=30), 5) == before
        awaiting = asyncio.create_task(engine.await_workflow("during", timeout=30))
        await settle()
        during = await _cancelled_elsewhere(engine, "during")
        engine._on_note(Note(NoteKind.DONE, "during"))
        assert await asyncio.wait_for(awaiting, 5) == during
        assert reads == ["before", "during"]

    run(60.0, body)


def test_one_ended_elsewhere_without_a_note_is_found_by_the_poll() -> None:
    async def body(engine: Engine, reads: list[str]) -> None:
        await engine.start_workflow("wf", ARGS, "silent", None)
        ended = await _cancelled_elsewhere(engine, "silent")
        assert await asyncio.wait_for(engine.await_workflow("silent", timeout=30), 5) == ended
        assert reads == ["silent"]  # after one poll interval, not at once

    run(0.05, body)
