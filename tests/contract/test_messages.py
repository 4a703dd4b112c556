"""The Store contract on events and messages: set_event, send, recv."""

from __future__ import annotations

import asyncio
import dataclasses

from coordinator.store import (
    EventRecord,
    NewMessage,
    NewStep,
    Outcome,
    RecordResult,
    Send,
    StepKind,
    Store,
    Value,
    Wait,
    WaitKind,
    WorkflowStatus,
    event_wait_key,
)

from .support import claimable, claimed, msg, ok, payload, recv, run, set_event, step, wf


def test_set_event_appends_events(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        for number, key, data in [(0, "a", b'"a1"'), (1, "b", b'"b1"'), (2, "a", b'"a2"')]:
            result, rec = await set_event(s, "w1", epoch, number, key, data, completed_at=2000 + number)
            assert result is RecordResult.RECORDED and rec is not None
            assert rec.kind is StepKind.SET_EVENT and payload(rec) == data
        events = await s.list_events("w1", 0, 100)
        assert events == [
            EventRecord("w1", 1, "a", Value("json", b'"a1"'), 0, 2000),
            EventRecord("w1", 2, "b", Value("json", b'"b1"'), 1, 2001),
            EventRecord("w1", 3, "a", Value("json", b'"a2"'), 2, 2002),
        ]
        assert await s.get_event("w1", "a") == events[2]  # the latest wins
        assert await s.get_event("w1", "b") == events[1]
        assert await s.get_event("w1", "c") is None
        assert await s.get_event("nope", "a") is None
        # The same step again: the first record wins and no event is added.
        first = await s.get_step("w1", 1)
        assert await set_event(s, "w1", epoch, 1, "b", b'"again"') == (RecordResult.DUPLICATE, first)
        assert await set_event(s, "w1", epoch + 1, 3, "b", b'"stale"') == (RecordResult.STALE, None)
        assert await s.list_events("w1", 0, 100) == events
        assert (await s.get_workflow("w1")).step_seq == 3  # type: ignore[union-attr]
        assert await s.list_events("w1", 1, 100) == events[1:]
        assert await s.list_events("w1", 1, 1) == events[1:2]
        assert await s.list_events("w1", 3, 100) == []
        assert await s.list_events("nope", 0, 100) == []
        # Event seq is per workflow.
        epoch2 = await claimed(s, "w2")
        await set_event(s, "w2", epoch2, 0, "a", b"1")
        assert [e.seq for e in await s.list_events("w2", 0, 10)] == [1]

    run(any_store_url, body)


def test_set_event_reports_the_event_it_appended(any_store_url: str) -> None:
    """What readers woken by the commit are answered with, unread: exactly
    what get_event would return (or None where a store cannot tell)."""
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        await set_event(s, "w1", epoch, 0, "a", b"1")

        def new(number: int, data: bytes, epoch: int = epoch) -> NewStep:
            return step("w1", epoch, number, ok(data), kind=StepKind.SET_EVENT, name="a",
                        completed_at=3000 + number)

        result, rec, event, woken = await s.set_event(new(1, b"2"), "a")
        assert result is RecordResult.RECORDED and rec is not None and payload(rec) == b"2"
        assert await s.get_step("w1", 1) == rec  # what was stored is what was answered
        expected = EventRecord("w1", 2, "a", Value("json", b"2"), 1, 3001)
        assert event == await s.get_event("w1", "a") == expected
        assert woken is False  # no one was parked on it
        first = await s.get_step("w1", 1)
        # Nothing written: who was woken cannot be told (the caller claims).
        assert await s.set_event(new(1, b"3"), "a") == (RecordResult.DUPLICATE, first, None, True)
        assert await s.set_event(new(2, b"4", epoch + 1), "a") == (RecordResult.STALE, None, None, True)
        assert [e.seq for e in await s.list_events("w1", 0, 10)] == [1, 2]
        # Every column of the step is stored (PostgreSQL writes it in a function of its own).
        audited = dataclasses.replace(new(5, b"5"), name="b", attempt=3, started_at=2500,
                                      worker_token="tok", worker_id="w-9")
        result, rec5, _, _ = await s.set_event(audited, "b")
        assert result is RecordResult.RECORDED and rec5 is not None
        assert await s.get_step("w1", 5) == rec5
        assert (rec5.name, rec5.attempt, rec5.started_at, rec5.worker_id) == ("b", 3, 2500, "w-9")

    run(any_store_url, body)


def test_set_event_says_whether_it_woke_a_workflow_parked_on_it(any_store_url: str) -> None:
    """The coordinator claims after a set_event only when it woke someone:
    a reader parked in get_event on the key, or a select parked on it."""
    async def body(s: Store) -> None:
        setter = await claimed(s, "w1")
        for wid in ("reader", "selector"):
            await s.create_workflow(wf(wid, name="other"))
        epochs = {w.workflow_id: w.epoch for w in await s.claim_workflows("n", ["other"], 2, 1500, 9000)}

        def event(number: int, key: str) -> NewStep:
            return step("w1", setter, number, ok(b"1"), kind=StepKind.SET_EVENT, name=key,
                        completed_at=3000 + number)

        assert await s.park("reader", epochs["reader"], 100_000,
                            Wait(WaitKind.EVENT, target="w1", key="r"), 2000)
        assert await s.park_select("selector", epochs["selector"], 100_000,
                                   [event_wait_key("w1", "s")], 2000)
        assert (await s.set_event(event(0, "other"), "other"))[3] is False
        assert (await s.set_event(event(1, "r"), "r"))[3] is True
        assert (await s.set_event(event(2, "s"), "s"))[3] is True
        # The reader woke and is no longer parked on the key: a second value wakes no one.
        assert (await s.set_event(event(3, "r"), "r"))[3] is False
        assert sorted(await claimable(s, now=4000, name="other")) == ["reader", "selector"]

    run(any_store_url, body)


def test_send_to_a_final_workflow_writes_nothing(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        assert await s.finish_workflow("w1", epoch, WorkflowStatus.SUCCESS, ok(), 2000)
        assert await s.send_message(msg("w1", b"1")) is RecordResult.STALE
        assert await s.send_message(msg("w1", b"1", key="k")) is RecordResult.STALE
        assert await s.send_and_claim(msg("w1", b"1"), "node-b", 9000, ["wf"]) == (RecordResult.STALE, None)
        assert await s.oldest_message_at("w1", "") is None  # nothing was written
        # A workflow's send (a step) to a final one is stored, never read, as before.
        await s.create_workflow(wf("w2"))
        epoch2 = (await s.claim_workflows("n", ["wf"], 1, 1000, 9000))[0].epoch
        sent = NewMessage("w1", "a", Value("json", b"3"), "step:w2:0", 3000)
        result, _ = await s.record_step(step("w2", epoch2, 0), Send(sent))
        assert result is RecordResult.RECORDED

    run(any_store_url, body)


def test_send_message_not_found_and_idempotency(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        assert await s.send_message(msg("nope")) is RecordResult.NOT_FOUND
        epoch = await claimed(s, "w1")
        await s.create_workflow(wf("w2", name="other"))
        assert await s.send_message(msg("w1", b"1", key="k")) is RecordResult.RECORDED
        assert await s.send_message(msg("w1", b"2", key="k")) is RecordResult.DUPLICATE
        # Keys are per destination; messages without a key are never duplicates.
        assert await s.send_message(msg("w2", b"3", key="k")) is RecordResult.RECORDED
        assert await s.send_message(msg("w1", b"4")) is RecordResult.RECORDED
        assert await s.send_message(msg("w1", b"4")) is RecordResult.RECORDED
        got = [await recv(s, "w1", epoch, n) for n in range(4)]
        assert [payload(r) for _, r in got[:3]] == [b"1", b"4", b"4"]
        assert got[3] == (RecordResult.EMPTY, None)

    run(any_store_url, body)


def test_recv_is_fifo_per_topic_and_workflow(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        for wid in ["w1", "w2"]:
            await s.create_workflow(wf(wid))
        epochs = {w.workflow_id: w.epoch for w in await s.claim_workflows("a", ["wf"], 2, 1500, 9000)}
        for m in [msg("w1", b'"a1"', "a"), msg("w2", b'"x1"', "a"), msg("w1", b'"b1"', "b"),
                  msg("w1", b'"a2"', "a")]:
            assert await s.send_message(m) is RecordResult.RECORDED
        await s.send_message(NewMessage("w1", "a", Value("raw", b"\x00a3"), None, 3000))
        e1 = epochs["w1"]
        result, rec = await recv(s, "w1", e1, 0, "a")
        assert result is RecordResult.RECORDED and rec is not None
        assert (rec.kind, rec.outcome, rec.completion_seq) == (
            StepKind.RECV, Outcome(output=Value("json", b'"a1"')), 1)
        assert await s.get_step("w1", 0) == rec
        assert payload((await recv(s, "w1", e1, 1, "b"))[1]) == b'"b1"'
        assert payload((await recv(s, "w1", e1, 2, "a"))[1]) == b'"a2"'
        _, rec = await recv(s, "w1", e1, 3, "a")
        assert rec is not None and rec.outcome.output == Value("raw", b"\x00a3")
        # Nothing left: EMPTY, and nothing is written.
        assert await recv(s, "w1", e1, 4, "a") == (RecordResult.EMPTY, None)
        assert await recv(s, "w1", e1, 4, "b") == (RecordResult.EMPTY, None)
        assert await recv(s, "w1", e1, 4, "c") == (RecordResult.EMPTY, None)
        assert await s.get_step("w1", 4) is None
        assert (await s.get_workflow("w1")).step_seq == 4  # type: ignore[union-attr]
        assert payload((await recv(s, "w2", epochs["w2"], 0, "a"))[1]) == b'"x1"'
        # A stale execution consumes nothing.
        await s.send_message(msg("w1", b'"a4"', "a"))
        assert await recv(s, "w1", e1 + 1, 5, "a") == (RecordResult.STALE, None)
        assert payload((await recv(s, "w1", e1, 5, "a"))[1]) == b'"a4"'

    run(any_store_url, body)


def test_recv_duplicate_returns_first_and_consumes_nothing(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        await s.send_message(msg("w1", b"1"))
        await s.send_message(msg("w1", b"2"))
        result, first = await recv(s, "w1", epoch, 0)
        assert result is RecordResult.RECORDED and payload(first) == b"1"
        assert await recv(s, "w1", epoch, 0) == (RecordResult.DUPLICATE, first)
        assert payload((await recv(s, "w1", epoch, 1))[1]) == b"2"
        assert (await s.get_workflow("w1")).step_seq == 2  # type: ignore[union-attr]

    run(any_store_url, body)


def test_recv_duplicate_after_the_queue_drained(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        await s.send_message(msg("w1", b"1"))
        _, first = await recv(s, "w1", epoch, 0)
        assert await recv(s, "w1", epoch, 0) == (RecordResult.DUPLICATE, first)

    run(any_store_url, body)


def test_concurrent_recvs_consume_each_message_once(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        await s.send_message(msg("w1", b"only"))
        results = await asyncio.gather(recv(s, "w1", epoch, 0), recv(s, "w1", epoch, 1))
        assert sorted(r.value for r, _ in results) == ["empty", "recorded"]
        assert [payload(rec) for r, rec in results if r is RecordResult.RECORDED] == [b"only"]
        # Five messages, ten racing recvs: each message once, in commit order.
        for i in range(5):
            await s.send_message(msg("w1", str(i).encode()))
        many = await asyncio.gather(*(recv(s, "w1", epoch, 10 + i) for i in range(10)))
        got = sorted((rec for r, rec in many if r is RecordResult.RECORDED and rec is not None),
                     key=lambda r: r.completion_seq)
        assert [payload(r) for r in got] == [str(i).encode() for i in range(5)]
        assert [r for r, _ in many].count(RecordResult.EMPTY) == 5
        assert await recv(s, "w1", epoch, 20) == (RecordResult.EMPTY, None)

    run(any_store_url, body)


def test_send_effect_delivers_exactly_once(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        await s.create_workflow(wf("w2", name="other"))

        def sending(number: int, to: str, key: str | None) -> tuple[NewStep, Send]:
            return (step("w1", epoch, number, ok(b"null"), kind=StepKind.SEND, name="t"),
                    Send(msg(to, f"m{number}".encode(), "t", key)))

        result, first = await s.record_step(*sending(0, "w2", "step:w1:0"))
        assert result is RecordResult.RECORDED and first is not None and first.completion_seq == 1
        assert await s.record_step(*sending(0, "w2", "step:w1:0")) == (RecordResult.DUPLICATE, first)
        # Even without an idempotency key the step number keeps it once.
        assert await s.record_step(*sending(0, "w2", None)) == (RecordResult.DUPLICATE, first)
        # An unknown destination, or a key used before: nothing is written.
        assert await s.record_step(*sending(1, "nope", None)) == (RecordResult.NOT_FOUND, None)
        await s.send_message(msg("w2", b"outside", "t", "used"))
        assert await s.record_step(*sending(1, "w2", "used")) == (RecordResult.DUPLICATE, None)
        assert await s.get_step("w1", 1) is None
        assert (await s.get_workflow("w1")).step_seq == 1  # type: ignore[union-attr]
        epoch2 = (await s.claim_workflows("a", ["other"], 1, 1500, 9000))[0].epoch
        got = [await recv(s, "w2", epoch2, n, "t") for n in range(3)]
        assert [payload(r) for _, r in got[:2]] == [b"m0", b"outside"]
        assert got[2] == (RecordResult.EMPTY, None)

    run(any_store_url, body)
