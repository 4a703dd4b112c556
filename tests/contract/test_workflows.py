"""The Store contract on workflows: create, claim, leases, finish, deadlines, listing."""

from __future__ import annotations

import asyncio
import time

from coordinator.store import (
    Failure,
    Outcome,
    Store,
    Value,
    Wait,
    WaitKind,
    WorkflowRecord,
    WorkflowStatus,
    store_from_url,
)

from .support import claimed, ok, run, step, wf


def test_create_is_idempotent(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        first, created = await s.create_workflow(wf("w1", deadline_at=9000))
        assert created
        assert first.status is WorkflowStatus.PENDING
        assert (first.epoch, first.step_seq, first.owner, first.outcome) == (0, 0, None, None)
        assert (first.created_at, first.updated_at, first.deadline_at) == (1000, 1000, 9000)
        again, created = await s.create_workflow(wf("w1", name="other", data=b"different"))
        assert not created
        assert again == first
        assert await s.get_workflow("w1") == first

    run(any_store_url, body)


def test_get_unknown_workflow_and_step(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        assert await s.get_workflow("nope") is None
        assert await s.get_step("nope", 0) is None
        assert await s.list_steps("nope") == []

    run(any_store_url, body)


def test_binary_payloads_round_trip(any_store_url: str) -> None:
    blob = bytes(range(256)) + b"\x00\x00end\x00"

    async def body(s: Store) -> None:
        created, _ = await s.create_workflow(wf("w1", data=blob))
        assert created.input == Value("json", blob)
        assert (await s.get_workflow("w1")).input.data == blob  # type: ignore[union-attr]
        epoch = (await s.claim_workflows("a", ["wf"], 1, 1500, 9000))[0].epoch
        await s.record_step(step("w1", epoch, 0, Outcome(output=Value("raw", blob))))
        got = await s.get_step("w1", 0)
        assert got is not None and got.outcome.output == Value("raw", blob)
        assert isinstance(got.outcome.output.data, bytes)
        done = await s.finish_workflow("w1", epoch, WorkflowStatus.SUCCESS, ok(blob), 3000)
        assert done is not None and done.outcome == ok(blob)
        assert (await s.get_workflow("w1")).outcome == ok(blob)  # type: ignore[union-attr]

    run(any_store_url, body)


def test_claim_bumps_epoch_and_respects_names_limit_and_age(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        for i, created_at in enumerate([300, 100, 200, 400]):
            await s.create_workflow(wf(f"a{i}", name="alpha", created_at=created_at))
        await s.create_workflow(wf("b0", name="beta", created_at=50))
        got = await s.claim_workflows("node-a", ["alpha"], 2, now=1000, lease_until=5000)
        assert [w.workflow_id for w in got] == ["a1", "a2"]  # oldest first
        assert all(w.epoch == 1 and w.owner == "node-a" and w.updated_at == 1000 for w in got)
        assert (await s.get_workflow("a1")).epoch == 1  # type: ignore[union-attr]
        got = await s.claim_workflows("node-a", ["alpha", "beta"], 10, now=1000, lease_until=5000)
        assert [w.workflow_id for w in got] == ["b0", "a0", "a3"]
        assert await s.claim_workflows("node-a", ["alpha", "beta"], 10, 1000, 5000) == []
        assert await s.claim_workflows("node-a", [], 10, 1000, 5000) == []
        assert await s.claim_workflows("node-a", ["gamma"], 10, 1000, 5000) == []

    run(any_store_url, body)


def test_has_claimable_says_whether_a_claim_would_find_more(any_store_url: str) -> None:
    """Asked after a claim filled every free slot: a held wait gives its slot
    back only if a workflow waits for one. Neither the running, the parked
    until later nor another name counts; the parked and due do."""
    async def body(s: Store) -> None:
        assert not await s.has_claimable(["alpha"], 1000)
        for i, created_at in enumerate([100, 200]):
            await s.create_workflow(wf(f"a{i}", name="alpha", created_at=created_at))
        await s.create_workflow(wf("b0", name="beta", created_at=50))
        assert await s.has_claimable(["alpha"], 1000)
        assert not await s.has_claimable(["gamma"], 1000)
        assert not await s.has_claimable([], 1000)
        [a0] = await s.claim_workflows("node-a", ["alpha"], 1, now=1000, lease_until=5000)
        assert await s.has_claimable(["alpha"], 1000)  # a1 still waits
        await s.claim_workflows("node-a", ["alpha"], 1, now=1000, lease_until=5000)
        assert not await s.has_claimable(["alpha"], 1000)
        assert await s.has_claimable(["alpha", "beta"], 1000)
        assert await s.park(a0.workflow_id, a0.epoch, 3000, Wait(WaitKind.SLEEP), 1500)
        assert not await s.has_claimable(["alpha"], 2000)  # parked until 3000
        assert await s.has_claimable(["alpha"], 3000)  # and due then

    run(any_store_url, body)


def test_claim_honours_leases_and_release(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        await s.create_workflow(wf("w1"))
        await s.create_workflow(wf("w2", created_at=2000))
        got = await s.claim_workflows("node-a", ["wf"], 10, now=1000, lease_until=5000)
        assert [(w.workflow_id, w.epoch) for w in got] == [("w1", 1), ("w2", 1)]
        # Held by node-a until its lease passes.
        assert await s.claim_workflows("node-b", ["wf"], 10, now=5000, lease_until=9000) == []
        got = await s.claim_workflows("node-b", ["wf"], 1, now=5001, lease_until=9000)
        assert [(w.workflow_id, w.epoch, w.owner) for w in got] == [("w1", 2, "node-b")]
        # Released leases can be taken at once.
        await s.release_workflows("node-a", ["w1"])  # not node-a's any more: no effect
        assert (await s.get_workflow("w1")).owner == "node-b"  # type: ignore[union-attr]
        await s.release_workflows("node-b", ["w1"])
        assert (await s.get_workflow("w1")).owner is None  # type: ignore[union-attr]
        await s.release_workflows("node-a", None)
        got = await s.claim_workflows("node-c", ["wf"], 10, now=5002, lease_until=9000)
        assert [(w.workflow_id, w.epoch) for w in got] == [("w1", 3), ("w2", 2)]
        await s.release_workflows("node-c", [])

    run(any_store_url, body)


def test_claim_takes_every_kind_of_claimable_oldest_first(any_store_url: str) -> None:
    # The SQL stores find each kind through an index of its own (schema
    # version 11): one claim must still see them all, the oldest first, and
    # nothing parked until due, held, or final.
    async def body(s: Store) -> None:
        for i, created_at in enumerate([100, 200, 300, 400, 500, 600, 700]):
            await s.create_workflow(wf(f"w{i}", created_at=created_at))
        got = await s.claim_workflows("node-a", ["wf"], 10, now=1000, lease_until=5000)
        epochs = {w.workflow_id: w.epoch for w in got}
        sleep = Wait(WaitKind.SLEEP)
        assert await s.park("w0", epochs["w0"], 8000, sleep, 1000)  # parked, not due at 6000
        assert await s.park("w1", epochs["w1"], 3000, sleep, 1000)  # parked, due
        await s.release_workflows("node-a", ["w2"])  # released: claimable at once
        assert await s.renew_leases("node-a", ["w3"], 9000) == 1  # held past 6000
        await s.finish_workflow("w4", epochs["w4"], WorkflowStatus.SUCCESS, ok(), 1500)  # final
        # w5 and w6 keep node-a's lease until 5000: run out at 6000.
        got = await s.claim_workflows("node-b", ["wf"], 3, now=6000, lease_until=9000)
        assert [w.workflow_id for w in got] == ["w1", "w2", "w5"]
        assert all(w.owner == "node-b" for w in got)
        got = await s.claim_workflows("node-b", ["wf"], 10, now=6000, lease_until=9000)
        assert [w.workflow_id for w in got] == ["w6"]
        assert await s.claim_workflows("node-c", ["wf"], 10, now=6000, lease_until=9000) == []
        got = await s.claim_workflows("node-c", ["wf"], 10, now=8000, lease_until=9500)
        assert [(w.workflow_id, w.epoch) for w in got] == [("w0", epochs["w0"] + 2)]

    run(any_store_url, body)


def test_renew_leases_counts_pending_only(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        for i in range(3):
            await s.create_workflow(wf(f"w{i}", created_at=i))
        got = await s.claim_workflows("node-a", ["wf"], 10, now=10, lease_until=100)
        await s.finish_workflow("w0", got[0].epoch, WorkflowStatus.SUCCESS, ok(), 20)
        ids = ["w0", "w1", "w2"]
        assert await s.renew_leases("node-a", ids, 500) == 2
        assert await s.renew_leases("node-b", ids, 500) == 0
        # The renewed lease keeps other owners out past the old expiry.
        assert await s.claim_workflows("node-b", ["wf"], 10, now=200, lease_until=900) == []
        # A lease the owner does not renew (it forgot the workflow) expires.
        assert await s.renew_leases("node-a", ["w1"], 1000) == 1
        got = await s.claim_workflows("node-b", ["wf"], 10, now=600, lease_until=900)
        assert [w.workflow_id for w in got] == ["w2"]

    run(any_store_url, body)


def test_finish_workflow(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        before = await s.get_workflow("w1")
        assert await s.finish_workflow("w1", epoch + 1, WorkflowStatus.SUCCESS, ok(), 3000) is None
        assert await s.get_workflow("w1") == before
        failure = Failure("ValueError", "bad input", "Traceback ...")
        done = await s.finish_workflow("w1", epoch, WorkflowStatus.ERROR, Outcome(error=failure), 3000)
        assert done is not None
        assert (done.status, done.outcome, done.updated_at, done.owner) == (
            WorkflowStatus.ERROR, Outcome(error=failure), 3000, None)
        assert await s.get_workflow("w1") == done
        assert await s.finish_workflow("w1", epoch, WorkflowStatus.SUCCESS, ok(), 4000) is None
        assert await s.finish_workflow("w1", None, WorkflowStatus.CANCELLED, ok(), 4000) is None
        assert await s.get_workflow("w1") == done
        # Without an epoch (e.g. a cancel from a client) any PENDING workflow finishes.
        await s.create_workflow(wf("w2"))
        cancelled = await s.finish_workflow(
            "w2", None, WorkflowStatus.CANCELLED, Outcome(error=Failure("Cancelled", "by user")), 5)
        assert cancelled is not None and cancelled.status is WorkflowStatus.CANCELLED
        assert await s.finish_workflow("unknown", None, WorkflowStatus.SUCCESS, ok(), 5) is None
        # Final workflows are never claimed.
        assert await s.claim_workflows("node-z", ["wf"], 10, now=99_999, lease_until=100_000) == []

    run(any_store_url, body)


def test_expire_deadlines(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        await s.create_workflow(wf("past", deadline_at=100))
        await s.create_workflow(wf("now", deadline_at=200))
        await s.create_workflow(wf("future", deadline_at=201))
        await s.create_workflow(wf("none"))
        await s.create_workflow(wf("done", deadline_at=50))
        await s.finish_workflow("done", None, WorkflowStatus.SUCCESS, ok(), 60)
        expired = await s.expire_deadlines(200)
        assert sorted(w.workflow_id for w in expired) == ["now", "past"]
        for w in expired:
            assert w.status is WorkflowStatus.CANCELLED and w.updated_at == 200
            assert w.outcome is not None and w.outcome.error is not None
            assert w.outcome.error.type == "WorkflowTimeout"
            assert await s.get_workflow(w.workflow_id) == w
        for wid, status in [("future", "PENDING"), ("none", "PENDING"), ("done", "SUCCESS")]:
            assert (await s.get_workflow(wid)).status.value == status  # type: ignore[union-attr]
        assert await s.expire_deadlines(200) == []

    run(any_store_url, body)


def test_list_workflows(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        for i in range(5):
            await s.create_workflow(wf(f"w{i}", name="even" if i % 2 == 0 else "odd", created_at=i))
        await s.finish_workflow("w2", None, WorkflowStatus.SUCCESS, ok(), 10)

        def ids(ws: list[WorkflowRecord]) -> list[str]:
            return [w.workflow_id for w in ws]

        assert ids(await s.list_workflows(None, None, 100)) == ["w4", "w3", "w2", "w1", "w0"]
        assert ids(await s.list_workflows(None, None, 2)) == ["w4", "w3"]
        assert ids(await s.list_workflows(None, "even", 100)) == ["w4", "w2", "w0"]
        assert ids(await s.list_workflows(WorkflowStatus.PENDING, "even", 100)) == ["w4", "w0"]
        assert ids(await s.list_workflows(WorkflowStatus.SUCCESS, None, 100)) == ["w2"]
        assert ids(await s.list_workflows(WorkflowStatus.ERROR, None, 100)) == []

    run(any_store_url, body)


def test_claim_mixes_fresh_due_parked_and_expired_in_age_order(any_store_url: str) -> None:
    # The claim reads three parts (unowned, parked and due, lease expired):
    # together they give the same workflows, oldest first, as one scan would.
    async def body(s: Store) -> None:
        sleep = Wait(WaitKind.SLEEP)
        for i in range(4):
            await s.create_workflow(wf(f"p{i}", created_at=100 + i))
        parked = await s.claim_workflows("node-a", ["wf"], 10, now=1000, lease_until=5000)
        for w, resume_at in zip(parked, [1500, 9000, 1200, 9000], strict=True):
            assert await s.park(w.workflow_id, w.epoch, resume_at, sleep, 1000)
        await s.create_workflow(wf("held", created_at=150))
        await s.claim_workflows("node-b", ["wf"], 1, now=1000, lease_until=1800)  # expires at 1800
        await s.create_workflow(wf("fresh", created_at=50))
        await s.create_workflow(wf("late", created_at=300))
        got = await s.claim_workflows("node-c", ["wf"], 3, now=2000, lease_until=9000)
        assert [w.workflow_id for w in got] == ["fresh", "p0", "p2"]
        got = await s.claim_workflows("node-c", ["wf"], 10, now=2000, lease_until=9000)
        assert [w.workflow_id for w in got] == ["held", "late"]  # p1, p3 not due
        assert await s.claim_workflows("node-c", ["wf"], 10, now=8999, lease_until=9500) == []
        got = await s.claim_workflows("node-c", ["wf"], 10, now=9000, lease_until=9500)
        assert [(w.workflow_id, w.epoch) for w in got] == [("p1", 3), ("p3", 3)]

    run(any_store_url, body)


def test_a_released_workflow_is_claimed_first_whatever_was_claimed_after_it(any_store_url: str) -> None:
    # PostgreSQL's claims read the unowned from a floor of created_at (the
    # oldest they took last): a release must take the floor away.
    async def body(s: Store) -> None:
        await s.create_workflow(wf("old", created_at=1_000))
        await s.create_workflow(wf("new", created_at=50_000))
        assert [w.workflow_id for w in await s.claim_workflows("a", ["wf"], 1, 60_000, 90_000)] == ["old"]
        assert [w.workflow_id for w in await s.claim_workflows("a", ["wf"], 1, 60_000, 90_000)] == ["new"]
        await s.release_workflows("a", ["old"])
        await s.create_workflow(wf("newer", created_at=55_000))
        got = await s.claim_workflows("a", ["wf"], 5, 60_000, 90_000)
        assert [w.workflow_id for w in got] == ["old", "newer"]

    run(any_store_url, body)


def test_an_old_workflow_another_coordinator_released_is_claimed_soon(any_store_url: str) -> None:
    # The floor of one coordinator's claims does not see another's release:
    # it ages out within the dispatch loop's poll interval.
    async def body(a: Store) -> None:
        await a.create_workflow(wf("old", created_at=1_000))
        await a.create_workflow(wf("new", created_at=50_000))
        b = store_from_url(any_store_url)
        await b.open()
        try:
            assert [w.workflow_id for w in await b.claim_workflows("b", ["wf"], 1, 60_000, 90_000)] == ["old"]
            assert [w.workflow_id for w in await a.claim_workflows("a", ["wf"], 1, 60_000, 90_000)] == ["new"]
            await b.release_workflows("b", ["old"])
            deadline = time.monotonic() + 5
            while not (got := await a.claim_workflows("a", ["wf"], 5, 60_000, 90_000)):
                assert time.monotonic() < deadline, "a released workflow was not claimed within 5 s"
                await asyncio.sleep(0.05)
            assert [w.workflow_id for w in got] == ["old"]
        finally:
            await b.close()

    run(any_store_url, body)


def test_a_claim_not_asked_for_leases_leaves_the_run_out_ones(any_store_url: str) -> None:
    # The engine looks for run-out leases once per poll interval (the index
    # of the owned holds an entry of every workflow run until VACUUM).
    async def body(s: Store) -> None:
        await s.create_workflow(wf("held", created_at=1_000))
        await s.create_workflow(wf("parked", created_at=2_000))
        await s.create_workflow(wf("free", created_at=3_000))
        got = await s.claim_workflows("a", ["wf"], 2, 5_000, 6_000)
        epochs = {w.workflow_id: w.epoch for w in got}
        assert await s.park("parked", epochs["parked"], 6_500, Wait(WaitKind.SLEEP), 5_000)
        # At 7,000 held's lease has run out and parked is due.
        got = await s.claim_workflows("b", ["wf"], 5, 7_000, 9_000, leases=False)
        assert [w.workflow_id for w in got] == ["parked", "free"]
        got = await s.claim_workflows("b", ["wf"], 5, 7_000, 9_000)
        assert [w.workflow_id for w in got] == ["held"]

    run(any_store_url, body)
