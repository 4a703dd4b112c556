"""The Store contract on what the console reads: pages of workflows after a
cursor, pending and parked counts, and the worker that ran each step."""

from __future__ import annotations

from coordinator.core.records import Wait, WaitKind
from coordinator.store import Outcome, Store, Value, WorkflowStatus

from .support import claimed, run, step, wf

DONE = Outcome(output=Value("json", b"1"))


def test_pages_follow_the_cursor_newest_first_with_ties_by_id(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        # Two pairs share a created_at: ties are ordered by ID, across pages too.
        for wid, at, name in (("a", 1000, "x"), ("b", 2000, "y"), ("c", 2000, "x"), ("d", 3000, "x"),
                              ("e", 3000, "y"), ("f", 4000, "x")):
            await s.create_workflow(wf(wid, name=name, created_at=at, data=b'{"big": "payload"}'))
        order = ["f", "d", "e", "b", "c", "a"]
        seen, before = [], None
        while True:
            page = await s.list_workflows_page(None, None, before, 2)
            seen += [w.workflow_id for w in page]
            if len(page) < 2:
                break
            before = (page[-1].created_at, page[-1].workflow_id)
        assert seen == order
        assert [w.workflow_id for w in await s.list_workflows_page(None, None, None, 100)] == order
        assert [w.workflow_id for w in await s.list_workflows_page(None, "x", (3000, "d"), 10)] == ["c", "a"]
        page = await s.list_workflows_page(None, None, (2000, "b"), 10)
        assert [w.workflow_id for w in page] == ["c", "a"]
        assert all(w.input.data == b"" for w in page)  # listings read no payloads
        await s.finish_workflow("c", None, WorkflowStatus.CANCELLED, DONE, 5000)
        cancelled = await s.list_workflows_page(WorkflowStatus.CANCELLED, "x", None, 10)
        assert [w.workflow_id for w in cancelled] == ["c"]
        assert await s.list_workflows_page(WorkflowStatus.CANCELLED, "y", None, 10) == []
        assert await s.list_workflows_page(None, None, (1000, "a"), 10) == []

    run(any_store_url, body)


def test_pending_and_parked_counts(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        assert await s.count_pending() == (0, 0)
        epoch = await claimed(s, "w1")
        await s.create_workflow(wf("w2"))
        await s.create_workflow(wf("w3"))
        await s.finish_workflow("w3", None, WorkflowStatus.CANCELLED, DONE, 2000)
        assert await s.count_pending() == (2, 0)
        assert await s.park("w1", epoch, 9000, Wait(WaitKind.SLEEP), 2000)
        assert await s.count_pending() == (2, 1)

    run(any_store_url, body)


def test_the_worker_of_a_step_round_trips(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        await s.record_step(step("w1", epoch, 0, attempt=0, worker_id="worker-7"))
        await s.record_step(step("w1", epoch, 1, attempt=0))
        got = await s.list_steps("w1")
        assert [x.worker_id for x in got] == ["worker-7", ""]
        assert (await s.get_step("w1", 0)).worker_id == "worker-7"  # type: ignore[union-attr]

    run(any_store_url, body)
