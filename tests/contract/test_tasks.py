"""The Store contract for step tasks (steps any coordinator may run) and for
the coordinators sharing a store (nodes), on every store."""

from __future__ import annotations

import asyncio
import time

from coordinator.core.records import NewTask
from coordinator.store import RecordResult, Store, Value, WorkflowStatus, store_from_url
from tests.contract.support import claimed, ok, run, step, wait_note

ARGS = Value("json", b'{"args": [1], "kwargs": {}}')


def task(wid: str, n: int, name: str = "charge", owner: str | None = None, created_at: int = 2000,
         epoch: int = 1) -> NewTask:
    return NewTask(wid, n, name, ARGS, epoch, created_at, owner, 9000 if owner else None)


def test_create_task_queues_once_and_not_after_the_step_is_recorded(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        created, recorded = await s.create_task(task("w1", 0, epoch=epoch))
        assert recorded is None and created is not None
        assert (created.attempt, created.owner, created.input, created.epoch) == (0, None, ARGS, epoch)
        again, recorded = await s.create_task(task("w1", 0, name="other", epoch=epoch))
        assert again == created and recorded is None  # queued already: as it is
        assert await s.get_task("w1", 0) == created
        mine, _ = await s.create_task(task("w1", 1, owner="node-a", epoch=epoch))
        assert mine is not None and (mine.attempt, mine.owner, mine.lease_until) == (1, "node-a", 9000)
        await s.record_step(step("w1", epoch, 2))
        none, done = await s.create_task(task("w1", 2, epoch=epoch))
        assert none is None and done is not None and done.step_number == 2

    run(any_store_url, body)


def test_claim_tasks_by_name_oldest_first_bumping_the_attempt(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        await s.create_task(task("w1", 0, created_at=3000, epoch=epoch))
        await s.create_task(task("w1", 1, created_at=2000, epoch=epoch))
        await s.create_task(task("w1", 2, name="ship", created_at=1000, epoch=epoch))
        got = await s.claim_tasks("node-b", ["charge"], 1, now=5000, lease_until=8000)
        assert [(t.step_number, t.attempt, t.owner) for t in got] == [(1, 1, "node-b")]
        got = await s.claim_tasks("node-c", ["charge", "ship"], 10, now=5000, lease_until=8000)
        assert [(t.step_number, t.attempt) for t in got] == [(2, 1), (0, 1)]
        assert await s.claim_tasks("node-c", ["charge", "ship"], 10, now=5000, lease_until=8000) == []
        # An expired lease is claimable again, under the next attempt.
        got = await s.claim_tasks("node-d", ["charge"], 10, now=8001, lease_until=12000)
        assert [(t.step_number, t.attempt, t.owner) for t in got] == [(1, 2, "node-d"), (0, 2, "node-d")]
        assert await s.renew_task_leases("node-d", [("w1", 1), ("w1", 2)], 20_000) == 1
        await s.release_tasks("node-d", [("w1", 1)])
        got = await s.claim_tasks("node-e", ["charge"], 10, now=8002, lease_until=12000)
        assert [(t.step_number, t.attempt) for t in got] == [(1, 3)]
        await s.release_tasks("node-e", None)
        assert (await s.get_task("w1", 1)).owner is None  # type: ignore[union-attr]

    run(any_store_url, body)


def test_tasks_of_final_workflows_or_recorded_steps_are_not_claimed(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        e1 = await claimed(s, "w1")
        e2 = await claimed(s, "w2")
        await s.create_task(task("w1", 0, epoch=e1))
        await s.create_task(task("w2", 0, epoch=e2))
        await s.record_step(step("w1", e1, 0))  # recorded by its own worker meanwhile
        await s.finish_workflow("w2", e2, WorkflowStatus.SUCCESS,
                                ok(), 3000)
        assert await s.claim_tasks("n", ["charge"], 10, now=5000, lease_until=9000) == []

    run(any_store_url, body)


def test_complete_task_is_fenced_by_attempt_and_answers_retries(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        await s.create_task(task("w1", 0, epoch=epoch))
        await s.claim_tasks("a", ["charge"], 1, now=5000, lease_until=6000)
        await s.claim_tasks("b", ["charge"], 1, now=6001, lease_until=9000)  # attempt 2
        late = step("w1", epoch, 0, ok(b'"late"'), attempt=1, name="charge")
        assert await s.complete_task(late) == (RecordResult.STALE, None)
        current = step("w1", epoch, 0, ok(b'"paid"'), attempt=2, name="charge")
        result, record = await s.complete_task(current)
        assert result is RecordResult.RECORDED and record is not None
        assert (record.attempt, record.completion_seq, record.outcome) == (2, 1, ok(b'"paid"'))
        assert await s.get_step("w1", 0) == record
        assert await s.get_task("w1", 0) is None
        assert await s.complete_task(current) == (RecordResult.DUPLICATE, record)  # a retry
        assert await s.complete_task(late) == (RecordResult.STALE, None)  # still fenced off

    run(any_store_url, body)


def test_complete_task_takes_any_epoch_of_a_pending_workflow(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        await s.create_task(task("w1", 0, epoch=epoch))
        await s.claim_tasks("a", ["charge"], 1, now=5000, lease_until=9000)
        await s.release_workflows("node-a", None)  # the workflow moves to a new execution
        newer = await s.claim_workflows("node-b", ["wf"], 1, now=5000, lease_until=9000)
        assert newer[0].epoch == epoch + 1
        result, record = await s.complete_task(step("w1", epoch, 0, attempt=1, name="charge"))
        assert result is RecordResult.RECORDED and record is not None
        await s.finish_workflow("w1", epoch + 1, WorkflowStatus.SUCCESS,
                                ok(), 3000)
        await s.create_task(task("w1", 1, epoch=epoch))
        result, _ = await s.complete_task(step("w1", epoch, 1, attempt=0, name="charge"))
        assert result is RecordResult.STALE  # the workflow is final

    run(any_store_url, body)


def test_nodes_heartbeat_and_the_dead_are_reaped_with_their_work(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        await s.register_node("a", "life-1", 1000)
        await s.register_node("b", "life-1", 1000)
        epoch = await claimed(s, "w1", owner="a")
        await s.create_task(task("w1", 0, epoch=epoch))
        taken = await s.claim_tasks("a", ["charge"], 1, now=1000, lease_until=99_000)
        assert [t.owner for t in taken] == ["a"]
        assert await s.heartbeat_node("b", "life-1", 5000)
        assert not await s.heartbeat_node("b", "life-0", 5000)  # another life of b
        assert await s.reap_nodes(silent_since=4000) == ["a"]
        assert [n.node_id for n in await s.list_nodes()] == ["b"]
        assert not await s.heartbeat_node("a", "life-1", 6000)  # a was presumed dead
        # Its workflow and its task are free at once, not after their leases.
        assert [w.workflow_id for w in await s.claim_workflows("b", ["wf"], 5, 6000, 9000)] == ["w1"]
        assert [t.attempt for t in await s.claim_tasks("b", ["charge"], 5, 6000, 9000)] == [2]
        await s.register_node("a", "life-2", 7000)  # a restart is a new life
        assert await s.heartbeat_node("a", "life-2", 7001)
        await s.remove_node("a", "life-1")  # an old life cannot remove the new one
        await s.remove_node("b", "life-1")
        assert [(n.node_id, n.incarnation) for n in await s.list_nodes()] == [("a", "life-2")]
        assert abs(await s.clock_ms() - time.time() * 1000) < 60_000

    run(any_store_url, body)


def test_pg_task_notes(pg_url: str) -> None:
    async def main() -> None:
        listener, writer = store_from_url(pg_url), store_from_url(pg_url)
        await asyncio.gather(listener.open(), writer.open())
        notes: list[str] = []
        try:
            await listener.listen(lambda note: notes.append(note.encode()))
            epoch = await claimed(writer, "w1")
            await writer.create_task(task("w1", 0, epoch=epoch))
            await wait_note(notes, "task")
            await writer.claim_tasks("a", ["charge"], 1, now=5000, lease_until=9000)
            await writer.complete_task(step("w1", epoch, 0, attempt=1, name="charge"))
            await wait_note(notes, "step:0:w1")
        finally:
            await asyncio.gather(listener.close(), writer.close())

    asyncio.run(main())



def test_pg_a_coordinator_whose_process_is_gone_is_reaped_at_once(pg_url: str) -> None:
    async def main() -> None:
        alive, gone = store_from_url(pg_url), store_from_url(pg_url)
        await asyncio.gather(alive.open(), gone.open())
        try:
            await alive.register_node("alive", "life-1", 1000)
            await gone.register_node("gone", "life-1", 1000)
            epoch = await claimed(gone, "w1", owner="gone")
            assert epoch == 1
            assert await alive.reap_nodes(silent_since=0) == []  # both hold their locks
            await gone.close()  # its connections close, as when its process dies
            # Fresh heartbeat or not, it is reaped once PostgreSQL has ended its
            # backend (a moment after the client closed the connection).
            deadline = asyncio.get_running_loop().time() + 10
            while (dead := await alive.reap_nodes(silent_since=0)) == []:
                assert asyncio.get_running_loop().time() < deadline, "the gone node was never reaped"
                await asyncio.sleep(0.05)
            assert dead == ["gone"]
            taken = await alive.claim_workflows("alive", ["wf"], 5, 2000, 9000)
            assert [w.workflow_id for w in taken] == ["w1"]
        finally:
            await alive.close()

    asyncio.run(main())


def test_reaping_a_node_frees_the_tasks_of_running_workflows_only(any_store_url: str) -> None:
    # The SQL stores drop the tasks of final workflows as they reap, looking
    # each task's workflow up (never listing every finished workflow).
    async def body(s: Store) -> None:
        await s.register_node("a", "life-1", 1000)
        live = await claimed(s, "w1", owner="a")
        done = await claimed(s, "w2", owner="a")
        await s.create_task(task("w1", 0, epoch=live, owner="a"))
        await s.create_task(task("w2", 0, epoch=done, owner="a"))
        await s.finish_workflow("w2", done, WorkflowStatus.SUCCESS, ok(), 3000)
        assert await s.reap_nodes(silent_since=4000) == ["a"]
        got = await s.claim_tasks("b", ["charge"], 5, now=5000, lease_until=9000)
        assert [(t.workflow_id, t.step_number) for t in got] == [("w1", 0)]

    run(any_store_url, body)
