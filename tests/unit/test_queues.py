"""Queues in the engine, on the in-memory store with fake workers: pushed
starts, limits per queue and per worker, the backlog flag, errors."""

from __future__ import annotations

import json

import pytest

from coordinator.core.engine import Engine
from coordinator.core.errors import AlreadyExists, NotFound
from coordinator.core.records import QueueRecord, WorkflowStatus
from tests.unit.fakes import FakeClock, session
from tests.unit.test_engine import ARGS, ok, run


async def enqueue(engine: Engine, wid: str, queue: str = "q", **kw: object) -> str:
    wf, _ = await engine.enqueue(queue, "wf", ARGS, wid, kw.get("timeout_ms"),  # type: ignore[arg-type]
                                 kw.get("priority", 0), kw.get("dedup"), kw.get("key"))  # type: ignore[arg-type]
    return wf.workflow_id


def test_enqueued_work_starts_within_the_queue_limit_and_slots_pass_on() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        worker, link = session("w1", workflow_slots=10)
        engine.register(worker)
        await engine.set_queue(QueueRecord("q", concurrency=2))
        for i in range(4):
            await enqueue(engine, f"a{i}")
        assert engine.ctx.work.queue_backlog
        await engine.dispatch_queues()
        assert [w.workflow_id for w in link.workflows] == ["a0", "a1"]
        assert (await engine.get_workflow("a2")).status is WorkflowStatus.ENQUEUED
        await engine.dispatch_queues()  # full: nothing, and nothing to look for
        assert len(link.workflows) == 2 and not engine.ctx.work.queue_backlog
        await engine.finish_workflow("a0", 1, ok())
        assert engine.ctx.work.queue_backlog  # its slot is free
        await engine.dispatch_queues()
        assert [w.workflow_id for w in link.workflows] == ["a0", "a1", "a2"]
        state = await engine.get_queue("q")
        assert (state.enqueued, state.running) == (1, 2)

    run(body)


def test_worker_concurrency_spreads_over_workers() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        w1, link1 = session("w1", workflow_slots=10)
        w2, link2 = session("w2", workflow_slots=10)
        engine.register(w1)
        engine.register(w2)
        await engine.set_queue(QueueRecord("q", worker_concurrency=2))
        for i in range(6):
            await enqueue(engine, f"a{i}")
        await engine.dispatch_queues()
        await engine.dispatch_queues()
        assert (len(link1.workflows), len(link2.workflows)) == (2, 2)

    run(body)


def test_enqueue_errors_and_cancel_of_an_enqueued_workflow() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        with pytest.raises(NotFound, match="no queue named 'nope'"):
            await enqueue(engine, "x", queue="nope")
        await engine.set_queue(QueueRecord("q", concurrency=1))
        await enqueue(engine, "a", dedup="d")
        with pytest.raises(AlreadyExists, match="held by workflow 'a'") as e:
            await enqueue(engine, "b", dedup="d")
        assert e.value.existing_id == "a"
        cancelled = await engine.cancel_workflow("a")
        assert cancelled.status is WorkflowStatus.CANCELLED
        assert await enqueue(engine, "b", dedup="d") == "b"  # free again

    run(body)


def test_enqueue_from_a_workflow_is_a_durable_step() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        worker, link = session("w1", workflow_slots=10)
        engine.register(worker)
        await engine.set_queue(QueueRecord("q"))
        parent, _ = await engine.start_workflow("wf", ARGS, "p", None)
        record = await engine.enqueue_from_workflow("p", parent.epoch, 0, "q", "wf", ARGS, None, 1000,
                                                    0, None, None)
        assert record.name == "enqueue:q" and record.outcome.output is not None
        child = json.loads(record.outcome.output.data)
        assert child == "p-0"
        again = await engine.enqueue_from_workflow("p", parent.epoch, 0, "q", "wf", ARGS, None, None,
                                                   0, None, None)
        assert again == record
        await engine.dispatch_queues()
        started = await engine.get_workflow("p-0")
        assert started.status is WorkflowStatus.PENDING and started.deadline_at == clock.now_ms() + 1000

    run(body)
