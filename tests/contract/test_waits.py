"""The Store contract on waits: wait deadlines, parking, and what wakes a parked workflow."""

from __future__ import annotations

from coordinator.store import (
    RecordResult,
    Send,
    StepKind,
    Store,
    Wait,
    WaitKind,
    WorkflowStatus,
)

from .support import claimable, claimed, msg, ok, payload, recv, run, set_event, step, wf

WF = ["wf"]  # the names a claimer takes (support.wf's)


def test_wait_deadline_keeps_the_first(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        assert await s.wait_deadline("w1", 3, 5000) == 5000
        assert await s.wait_deadline("w1", 3, 9000) == 5000
        assert await s.wait_deadline("w1", 4, 9000) == 9000
        assert await s.wait_deadline("w2", 3, 7000) == 7000

    run(any_store_url, body)


def test_park_until_resume_at(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        sleep = Wait(WaitKind.SLEEP)
        assert not await s.park("w1", epoch + 1, 5000, sleep, 2000)  # stale
        assert not await s.park("w1", epoch - 1, 5000, sleep, 2000)
        assert not await s.park("nope", 1, 5000, sleep, 2000)
        assert (await s.get_workflow("w1")).owner == "node-a"  # type: ignore[union-attr]
        assert await s.park("w1", epoch, 5000, sleep, 2000)
        w = await s.get_workflow("w1")
        # Parking fences the parked execution off for good: the epoch moves on.
        assert w is not None and (w.owner, w.epoch, w.status) == (None, epoch + 1, WorkflowStatus.PENDING)
        result, _ = await s.record_step(step("w1", epoch, 0))
        assert result is RecordResult.STALE
        # Not claimable before resume_at, even with no lease held.
        assert await s.claim_workflows("node-b", ["wf"], 10, now=4999, lease_until=9000) == []
        got = await s.claim_workflows("node-b", ["wf"], 10, now=5000, lease_until=9000)
        assert [(w.workflow_id, w.epoch, w.owner) for w in got] == [("w1", epoch + 2, "node-b")]
        # The claim ended the park: once released it is claimable at any time.
        await s.release_workflows("node-b", None)
        assert await claimable(s, now=0) == ["w1"]
        # A final workflow cannot park.
        epoch = (await s.claim_workflows("node-c", ["wf"], 1, 0, 9000))[0].epoch
        await s.finish_workflow("w1", epoch, WorkflowStatus.SUCCESS, ok(), 3000)
        assert not await s.park("w1", epoch, 5000, sleep, 3000)

    run(any_store_url, body)


def test_park_recv_is_woken_by_a_message(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        await s.create_workflow(wf("w2", name="other"))
        assert await s.park("w1", epoch, 100_000, Wait(WaitKind.RECV, topic="t"), 2000)
        assert await claimable(s, now=3000) == []
        await s.send_message(msg("w1", topic="other", created_at=3000))
        await s.send_message(msg("w2", topic="t", created_at=3000))
        assert await claimable(s, now=3000) == []
        await s.send_message(msg("w1", topic="t", created_at=3000))
        assert await claimable(s, now=3000) == ["w1"]
        # Also a send from another workflow's step.
        epoch = (await s.claim_workflows("node-a", ["wf"], 1, 3000, 9000))[0].epoch
        _, rec = await recv(s, "w1", epoch, 0, "t")
        assert rec is not None
        assert await s.park("w1", epoch, 100_000, Wait(WaitKind.RECV, topic="t"), 4000)
        assert await claimable(s, now=5000) == []
        epoch2 = (await s.claim_workflows("node-a", ["other"], 1, 4000, 9000))[0].epoch
        result, _ = await s.record_step(
            step("w2", epoch2, 0, kind=StepKind.SEND, completed_at=5000),
            Send(msg("w1", b"2", "t", "step:w2:0", created_at=5000)))
        assert result is RecordResult.RECORDED
        assert await claimable(s, now=5000) == ["w1"]

    run(any_store_url, body)


def test_park_event_is_woken_by_set_event(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        await s.create_workflow(wf("w2", name="other"))
        epoch2 = (await s.claim_workflows("node-a", ["other"], 1, 1500, 9000))[0].epoch
        assert await s.park("w1", epoch, 100_000, Wait(WaitKind.EVENT, target="w2", key="k"), 2000)
        await set_event(s, "w2", epoch2, 0, "other", b"1", completed_at=3000)
        assert await claimable(s, now=3000) == []
        await set_event(s, "w2", epoch2, 1, "k", b"2", completed_at=3000)
        assert await claimable(s, now=3000) == ["w1"]

    run(any_store_url, body)


def test_park_when_it_arrived_already_resumes_at_once(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        await s.send_message(msg("w1", topic="t"))
        assert await s.park("w1", epoch, 100_000, Wait(WaitKind.RECV, topic="t"), 2000)
        assert await claimable(s, now=2000) == ["w1"]
        epoch = (await s.claim_workflows("node-a", ["wf"], 1, 2000, 9000))[0].epoch
        await recv(s, "w1", epoch, 0, "t")
        # A consumed message does not count.
        assert await s.park("w1", epoch, 100_000, Wait(WaitKind.RECV, topic="t"), 3000)
        assert await claimable(s, now=3000) == []
        epoch = (await s.claim_workflows("node-a", ["wf"], 1, 100_000, 200_000))[0].epoch
        await set_event(s, "w1", epoch, 1, "k", b"1")
        # Its own event, set before it parked.
        assert await s.park("w1", epoch, 100_000, Wait(WaitKind.EVENT, target="w1", key="k"), 4000)
        assert await claimable(s, now=4000) == ["w1"]
        epoch = (await s.claim_workflows("node-a", ["wf"], 1, 4000, 9000))[0].epoch
        assert await s.park("w1", epoch, 100_000, Wait(WaitKind.EVENT, target="w1", key="x"), 4000)
        assert await claimable(s, now=4000) == []

    run(any_store_url, body)


def test_send_and_claim_claims_a_recv_it_wakes_in_the_same_commit(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        recv_t = Wait(WaitKind.RECV, topic="t")
        epoch = await claimed(s, "w1")
        assert await s.park("w1", epoch, 90_000, recv_t, 2000)
        # Another topic: delivered, nobody woken or claimed.
        assert await s.send_and_claim(msg("w1", topic="u"), "node-b", 9000, WF) == (
            RecordResult.RECORDED, None)
        assert await claimable(s, now=4000) == []
        result, got = await s.send_and_claim(msg("w1", b"2", topic="t", key="k"), "node-b", 9000, WF)
        assert result is RecordResult.RECORDED and got is not None
        assert (got.workflow_id, got.owner, got.epoch) == ("w1", "node-b", epoch + 2)
        assert await claimable(s, now=4000) == []  # held by node-b now, not merely due
        # The message waits for the recv of the new execution, which consumes it.
        result, rec = await recv(s, "w1", epoch + 2, 0, topic="t")
        assert result is RecordResult.RECORDED and payload(rec) == b"2"
        # A duplicate, a workflow not parked, a missing one: nothing claimed.
        assert await s.send_and_claim(msg("w1", b"2", topic="t", key="k"), "node-c", 9000, WF) == (
            RecordResult.DUPLICATE, None)
        assert await s.send_and_claim(msg("w1", topic="t"), "node-c", 9000, WF) == (
            RecordResult.RECORDED, None)
        assert (await s.get_workflow("w1")).owner == "node-b"  # type: ignore[union-attr]
        assert await s.send_and_claim(msg("nope", topic="t"), "node-c", 9000, WF) == (
            RecordResult.NOT_FOUND, None)

    run(any_store_url, body)


def test_send_and_claim_leaves_a_workflow_of_another_name_to_whoever_takes_it(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        assert await s.park("w1", epoch, 90_000, Wait(WaitKind.RECV, topic="t"), 2000)
        assert await s.send_and_claim(msg("w1", topic="t"), "node-b", 9000, ["other"]) == (
            RecordResult.RECORDED, None)
        assert await claimable(s, now=4000) == ["w1"]  # woken: due, not claimed

    run(any_store_url, body)
