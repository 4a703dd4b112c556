"""The Store contract of select over anything (issue 11): children by parent,
the oldest message's time, a select parked on several wait keys, and what
wakes it (a message, an event, a child becoming final), on every store."""

from __future__ import annotations

import dataclasses

from coordinator.core.records import done_wait_key, message_wait_key
from coordinator.store import Outcome, Store, Wait, WaitKind, WorkflowStatus, event_wait_key

from .support import claimable, claimed, msg, ok, recv, run, set_event, wf


def test_children_know_their_parent_and_are_listed_by_it(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        await s.create_workflow(wf("p"))
        await s.create_workflow(dataclasses.replace(wf("p/1", created_at=1001), parent_workflow_id="p"))
        await s.create_workflow(dataclasses.replace(wf("p/2", created_at=1002), parent_workflow_id="p"))
        await s.create_workflow(dataclasses.replace(wf("q/1"), parent_workflow_id="q"))
        assert (await s.get_workflow("p/1")).parent_workflow_id == "p"  # type: ignore[union-attr]
        assert (await s.get_workflow("p")).parent_workflow_id is None  # type: ignore[union-attr]
        children = await s.list_children("p", 10)
        assert [(w.workflow_id, w.parent_workflow_id, w.input.data) for w in children] == [
            ("p/2", "p", b""), ("p/1", "p", b"")]
        assert [w.workflow_id for w in await s.list_children("p", 1)] == ["p/2"]
        assert await s.list_children("nobody", 10) == []
        listed = {w.workflow_id: w.parent_workflow_id for w in await s.list_workflows(None, None, 10)}
        assert listed["q/1"] == "q" and listed["p"] is None

    run(any_store_url, body)


def test_oldest_message_at_follows_consumption(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        assert await s.oldest_message_at("w1", "t") is None
        await s.send_message(msg("w1", b"1", topic="t", created_at=3000))
        await s.send_message(msg("w1", b"2", topic="t", created_at=3500))
        await s.send_message(msg("w1", b"3", topic="other", created_at=2000))
        assert await s.oldest_message_at("w1", "t") == 3000
        await recv(s, "w1", epoch, 0, topic="t")
        assert await s.oldest_message_at("w1", "t") == 3500
        assert await s.oldest_message_at("w2", "t") is None

    run(any_store_url, body)


def test_a_parked_select_wakes_on_any_of_its_keys(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        await s.create_workflow(wf("other", name="other"))
        await s.create_workflow(wf("child", name="child"))
        epoch = await claimed(s, "w1")
        keys = [message_wait_key("t"), event_wait_key("setter", "ready"), done_wait_key("child")]
        assert not await s.park_select("w1", epoch + 1, 90_000, keys, 2000)  # stale
        assert await s.park_select("w1", epoch, 90_000, keys, 2000)
        w = await s.get_workflow("w1")
        assert w is not None and (w.owner, w.epoch) == (None, epoch + 1)
        assert await claimable(s, now=5000) == []
        # A message on another topic, or for another workflow, wakes nothing.
        await s.send_message(msg("w1", topic="nope", created_at=3000))
        await s.send_message(msg("other", topic="t", created_at=3000))
        assert await claimable(s, now=5000) == []
        # One on its topic does, at the message's time.
        await s.send_message(msg("w1", topic="t", created_at=4000))
        assert await claimable(s, now=3999) == []
        assert await claimable(s, now=4000) == ["w1"]

    run(any_store_url, body)


def test_events_and_final_children_wake_parked_selects(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        setter = await claimed(s, "setter", name="setter")
        await s.create_workflow(wf("child", name="child"))
        for wid in ("a", "b"):
            epoch = await claimed(s, wid)
            key = event_wait_key("setter", "ready") if wid == "a" else done_wait_key("child")
            assert await s.park_select(wid, epoch, 90_000, [key], 2000)
        assert await claimable(s, now=5000) == []
        await set_event(s, "setter", setter, 0, "ready", b"1", completed_at=4000)
        assert await claimable(s, now=5000) == ["a"]
        assert await s.finish_workflow("child", None, WorkflowStatus.CANCELLED, Outcome(ok().output),
                                       4500) is not None
        assert sorted(await claimable(s, now=5000)) == ["a", "b"]

    run(any_store_url, body)


def test_a_forks_copied_events_wake_selects_parked_on_them(any_store_url: str) -> None:
    """A select may wait on an event of a workflow that does not exist yet;
    a fork that creates it with the source's events wakes it, as a set would."""
    async def body(s: Store) -> None:
        source = await claimed(s, "source", name="source")
        await set_event(s, "source", source, 0, "ready", b"1", completed_at=1000)
        epoch = await claimed(s, "waiter")
        assert await s.park_select("waiter", epoch, 90_000, [event_wait_key("copy", "ready")], 2000)
        assert await claimable(s, now=5000) == []
        forked, created = await s.fork_workflow("source", 1, "copy", 4000)
        assert created and forked is not None
        assert "waiter" in await claimable(s, now=5000)

    run(any_store_url, body)


def test_resume_parked_only_moves_a_parked_workflow_earlier(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        assert not await s.resume_parked("w1", 3000)  # running, not parked
        assert await s.park_select("w1", epoch, 90_000, [], 2000)
        assert not await s.resume_parked("w1", 95_000)
        assert await s.resume_parked("w1", 3000)
        assert await claimable(s, now=3000) == ["w1"]

    run(any_store_url, body)


def test_keys_of_an_old_select_do_not_wake_another_wait(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        assert await s.park_select("w1", epoch, 90_000, [message_wait_key("t")], 2000)
        epoch = (await s.claim_workflows("node-a", ["wf"], 1, now=90_000, lease_until=99_000))[0].epoch
        assert await s.park("w1", epoch, 90_500, Wait(WaitKind.RECV, topic="x"), 2000)
        await s.send_message(msg("w1", topic="t", created_at=3000))  # the old select's topic
        assert await claimable(s, now=5000) == []
        await s.send_message(msg("w1", topic="x", created_at=4000))
        assert await claimable(s, now=5000) == ["w1"]

    run(any_store_url, body)
