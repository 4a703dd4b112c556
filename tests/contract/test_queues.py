"""The Store contract for queues: limits kept in the store, enqueue with
deduplication, and dequeue within every limit, on every store."""

from __future__ import annotations

import asyncio

from coordinator.core.records import EnqueueResult, NewQueued, QueueRecord
from coordinator.store import Store, WorkflowStatus, store_from_url
from tests.contract.support import ok, run, wf


def queued(wid: str, queue: str = "q", name: str = "wf", created_at: int = 1000, **kw: object) -> NewQueued:
    return NewQueued(wf(wid, name=name, created_at=created_at), queue, **kw)  # type: ignore[arg-type]


async def dequeue(s: Store, limit: int = 100, now: int = 2000, names: list[str] | None = None,
                  on_worker: dict[str, int] | None = None) -> list[str]:
    started, _ = await s.dequeue_workflows("node-a", names or ["wf"], limit, now, now + 9000, on_worker or {})
    return [w.workflow_id for w in started]


def test_set_queue_upserts_and_counts(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        first = await s.set_queue(QueueRecord("q", concurrency=5, created_at=10, updated_at=10))
        assert (first.concurrency, first.created_at) == (5, 10)
        again = await s.set_queue(QueueRecord("q", rate_limit=3, rate_period_ms=1000, created_at=20,
                                              updated_at=20))
        assert again == QueueRecord("q", None, None, 3, 1000, None, 10, 20)
        await s.set_queue(QueueRecord("a", worker_concurrency=1, partition_concurrency=2))
        assert [q.queue.name for q in await s.list_queues()] == ["a", "q"]
        assert await s.get_queue("nope") is None
        await s.enqueue_workflow(queued("w1"))
        await s.enqueue_workflow(queued("w2"))
        assert await dequeue(s, limit=1) == ["w1"]
        state = await s.get_queue("q")
        assert state is not None and (state.enqueued, state.running) == (1, 1)

    run(any_store_url, body)


def test_enqueue_exists_duplicate_and_unknown_queue(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        assert await s.enqueue_workflow(queued("w1")) == (EnqueueResult.NO_QUEUE, None)
        await s.set_queue(QueueRecord("q"))
        result, record = await s.enqueue_workflow(queued("w1", deduplication_id="d"))
        assert result is EnqueueResult.CREATED and record is not None
        assert (record.status, record.queue, record.epoch, record.started_at) == (
            WorkflowStatus.ENQUEUED, "q", 0, None)
        result, record = await s.enqueue_workflow(queued("w1", deduplication_id="other"))
        assert result is EnqueueResult.EXISTS and record is not None and record.workflow_id == "w1"
        result, record = await s.enqueue_workflow(queued("w2", deduplication_id="d"))
        assert result is EnqueueResult.DUPLICATE and record is not None and record.workflow_id == "w1"
        assert await s.get_workflow("w2") is None
        # Running still holds it; once final it is free again.
        assert await dequeue(s) == ["w1"]
        assert (await s.enqueue_workflow(queued("w2", deduplication_id="d")))[0] is EnqueueResult.DUPLICATE
        await s.finish_workflow("w1", 1, WorkflowStatus.SUCCESS, ok(), 3000)
        assert (await s.enqueue_workflow(queued("w2", deduplication_id="d")))[0] is EnqueueResult.CREATED

    run(any_store_url, body)


def test_dequeue_by_priority_then_enqueue_order_within_concurrency(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        await s.set_queue(QueueRecord("q", concurrency=2))
        for i, priority in enumerate([5, 1, 5, 0, 1]):
            await s.enqueue_workflow(queued(f"w{i}", priority=priority, timeout_ms=500))
        assert await dequeue(s) == ["w3", "w1"]
        assert await dequeue(s) == []  # full
        # Enqueued while full: nobody need look before a running one ends.
        assert (await s.enqueue_workflow(queued("w5", priority=9)))[0] is EnqueueResult.CREATED_WAITING
        w3 = await s.get_workflow("w3")
        assert w3 is not None and (w3.status, w3.owner, w3.epoch, w3.started_at, w3.deadline_at) == (
            WorkflowStatus.PENDING, "node-a", 1, 2000, 2500)
        await s.finish_workflow("w3", 1, WorkflowStatus.SUCCESS, ok(), 3000)
        assert await dequeue(s) == ["w4"]
        # Cancelling an enqueued one takes it out.
        assert (await s.finish_workflow("w0", None, WorkflowStatus.CANCELLED, ok(), 3000)) is not None
        await s.finish_workflow("w4", 1, WorkflowStatus.SUCCESS, ok(), 3000)
        assert await dequeue(s) == ["w2"]

    run(any_store_url, body)


def test_worker_partition_and_names(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        await s.set_queue(QueueRecord("q", worker_concurrency=2, partition_concurrency=1))
        for i, key in enumerate(["a", "a", "b", "b", "c"]):
            await s.enqueue_workflow(queued(f"w{i}", partition_key=key))
        await s.enqueue_workflow(queued("other", name="other"))
        assert await dequeue(s, on_worker={"q": 1}) == ["w0"]
        assert await dequeue(s, on_worker={"q": 0}) == ["w2", "w4"]  # a is busy
        assert await dequeue(s, on_worker={"q": 0}) == []  # every key is busy
        assert await dequeue(s, names=["other"]) == ["other"]

    run(any_store_url, body)


def test_rate_limit_counts_starts_in_the_window(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        await s.set_queue(QueueRecord("q", rate_limit=2, rate_period_ms=1000))
        for i in range(5):
            await s.enqueue_workflow(queued(f"w{i}"))
        started, retry_at = await s.dequeue_workflows("n", ["wf"], 10, 2000, 9000, {})
        assert [w.workflow_id for w in started] == ["w0", "w1"] and retry_at == 3000
        started, retry_at = await s.dequeue_workflows("n", ["wf"], 10, 2999, 9000, {})
        assert started == [] and retry_at == 3000
        assert await dequeue(s, now=3000) == ["w2", "w3"]

    run(any_store_url, body)


def test_concurrent_dequeues_never_exceed_the_limit(any_store_url: str) -> None:
    """Several stores on one database dequeue at once: the limit holds."""
    if any_store_url.startswith("memory"):
        return  # one event loop: nothing runs at once

    async def main() -> None:
        stores = [store_from_url(any_store_url) for _ in range(4)]
        for s in stores:
            await s.open()
        try:
            await stores[0].set_queue(QueueRecord("q", concurrency=3))
            for i in range(30):
                await stores[0].enqueue_workflow(queued(f"w{i}"))
            got = await asyncio.gather(*(dequeue(s, limit=3) for s in stores for _ in range(3)))
            assert sum(len(g) for g in got) == 3
        finally:
            for s in stores:
                await s.close()

    asyncio.run(main())
