"""The Store contract, run against every store through store_from_url."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import pytest

from coordinator.store import (
    EventRecord,
    Failure,
    NewMessage,
    NewStep,
    NewWorkflow,
    Note,
    Outcome,
    RecordResult,
    Recv,
    Send,
    SetEvent,
    StepKind,
    StepRecord,
    Store,
    StoreUnavailable,
    Value,
    Wait,
    WaitKind,
    WorkflowRecord,
    WorkflowStatus,
    store_from_url,
)

T = TypeVar("T")


def run(url: str, body: Callable[[Store], Awaitable[T]]) -> T:
    """Open a store on `url`, run `body(store)` in a new event loop, close it."""

    async def main() -> T:
        store = store_from_url(url)
        await store.open()
        try:
            return await body(store)
        finally:
            await store.close()

    return asyncio.run(main())


def wf(wid: str, name: str = "wf", created_at: int = 1000, deadline_at: int | None = None,
       data: bytes = b'{"x":1}') -> NewWorkflow:
    return NewWorkflow(wid, name, Value("json", data), created_at, deadline_at)


def ok(data: bytes = b"1") -> Outcome:
    return Outcome(output=Value("json", data))


def step(wid: str, epoch: int, number: int, outcome: Outcome | None = None, **kw: Any) -> NewStep:
    return NewStep(
        workflow_id=wid, epoch=epoch, step_number=number, name=kw.pop("name", f"s{number}"),
        kind=kw.pop("kind", StepKind.STEP), outcome=outcome or ok(), attempt=kw.pop("attempt", 1),
        started_at=kw.pop("started_at", 2000), completed_at=kw.pop("completed_at", 2001), **kw,
    )


async def claimed(s: Store, wid: str, owner: str = "node-a", **kw: Any) -> int:
    """Create `wid` and claim it; returns its epoch."""
    await s.create_workflow(wf(wid, **kw))
    got = await s.claim_workflows(owner, [kw.get("name", "wf")], 1, now=1500, lease_until=10_000)
    assert [w.workflow_id for w in got] == [wid]
    return got[0].epoch


# -- workflows ---------------------------------------------------------------


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


# -- steps -------------------------------------------------------------------


def test_record_step_recorded_and_duplicate(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        first = step("w1", epoch, 0, ok(b"first"), attempt=2)
        result, rec = await s.record_step(first)
        assert result is RecordResult.RECORDED and rec is not None
        assert (rec.step_number, rec.outcome, rec.attempt, rec.epoch, rec.completion_seq) == (
            0, ok(b"first"), 2, epoch, 1)
        assert await s.get_step("w1", 0) == rec
        result, dup = await s.record_step(step("w1", epoch, 0, ok(b"second"), attempt=3))
        assert result is RecordResult.DUPLICATE and dup == rec
        # A duplicate does not consume a sequence number.
        w = await s.get_workflow("w1")
        assert w is not None and w.step_seq == 1 and w.updated_at == 2001

    run(any_store_url, body)


def test_record_step_stale(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        _, rec = await s.record_step(step("w1", epoch, 0))
        assert await s.record_step(step("w1", epoch + 1, 1)) == (RecordResult.STALE, None)
        assert await s.record_step(step("w1", epoch - 1, 0)) == (RecordResult.STALE, rec)
        assert await s.record_step(step("unknown", 1, 0)) == (RecordResult.STALE, None)
        await s.finish_workflow("w1", epoch, WorkflowStatus.SUCCESS, ok(), 3000)
        assert await s.record_step(step("w1", epoch, 1)) == (RecordResult.STALE, None)
        assert await s.list_steps("w1") == [rec]
        assert (await s.get_workflow("w1")).step_seq == 1  # type: ignore[union-attr]

    run(any_store_url, body)


def test_completion_seq_follows_commit_order(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        seqs = []
        for number in [5, 2, 9]:
            result, rec = await s.record_step(step("w1", epoch, number))
            assert result is RecordResult.RECORDED and rec is not None
            seqs.append(rec.completion_seq)
        assert seqs == [1, 2, 3]
        assert [(r.step_number, r.completion_seq) for r in await s.list_steps("w1")] == [
            (2, 2), (5, 1), (9, 3)]
        assert (await s.get_workflow("w1")).step_seq == 3  # type: ignore[union-attr]
        # The sequence continues across epochs.
        epoch2 = (await s.claim_workflows("node-b", ["wf"], 1, now=20_000, lease_until=30_000))[0].epoch
        assert epoch2 == epoch + 1
        _, rec = await s.record_step(step("w1", epoch2, 10))
        assert rec is not None and rec.completion_seq == 4

    run(any_store_url, body)


def test_step_fields_round_trip(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        failure = Failure("TimeoutError", "took too long", "line 1\nline 2")
        new = [
            step("w1", epoch, 0, Outcome(error=failure), kind=StepKind.STEP, attempt=4),
            step("w1", epoch, 1, ok(b"sel"), kind=StepKind.SELECT, select_index=2,
                 select_step_number=7, name="pick", started_at=10, completed_at=20),
            step("w1", epoch, 2, Outcome(error=Failure("E", "", "")), kind=StepKind.RECV),
        ]
        recorded = []
        for n in new:
            result, rec = await s.record_step(n)
            assert result is RecordResult.RECORDED
            recorded.append(rec)
        assert await s.list_steps("w1") == recorded
        r0, r1, r2 = recorded
        assert r0 is not None and r0.outcome == Outcome(error=failure) and r0.attempt == 4
        assert r1 is not None and (r1.kind, r1.select_index, r1.select_step_number) == (
            StepKind.SELECT, 2, 7)
        assert (r1.name, r1.started_at, r1.completed_at) == ("pick", 10, 20)
        assert r2 is not None and r2.outcome.error == Failure("E", "", "")
        assert r2.select_index is None and r2.select_step_number is None

    run(any_store_url, body)


def test_list_steps_order_after_and_limit(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        for number in [3, 0, 4, 1, 2]:
            await s.record_step(step("w1", epoch, number))

        def numbers(rs: list[StepRecord]) -> list[int]:
            return [r.step_number for r in rs]

        assert numbers(await s.list_steps("w1")) == [0, 1, 2, 3, 4]
        assert numbers(await s.list_steps("w1", after_step_number=1)) == [2, 3, 4]
        assert numbers(await s.list_steps("w1", limit=2)) == [0, 1]
        assert numbers(await s.list_steps("w1", after_step_number=2, limit=1)) == [3]
        assert numbers(await s.list_steps("w1", after_step_number=4)) == []
        assert await s.list_steps("w1", limit=0) == []
        assert numbers(await s.get_steps("w1", [4, 1, 9])) == [1, 4]
        assert await s.get_steps("w1", [7]) == []

    run(any_store_url, body)


def test_migrations_are_idempotent(any_store_url: str) -> None:
    async def write(s: Store) -> None:
        await s.create_workflow(wf("w1"))

    async def read(s: Store) -> None:
        w = await s.get_workflow("w1")
        assert w is not None and w.workflow_id == "w1"

    run(any_store_url, write)
    run(any_store_url, read)
    run(any_store_url, read)


# -- events, messages, waits and parking --------------------------------------


def msg(wid: str, data: bytes = b"1", topic: str = "", key: str | None = None,
        created_at: int = 3000) -> NewMessage:
    return NewMessage(wid, topic, Value("json", data), key, created_at)


async def set_event(s: Store, wid: str, epoch: int, number: int, key: str, data: bytes,
                    completed_at: int = 2001) -> tuple[RecordResult, StepRecord | None]:
    return await s.record_step(
        step(wid, epoch, number, ok(data), kind=StepKind.SET_EVENT, name=key, completed_at=completed_at),
        SetEvent(key))


async def recv(s: Store, wid: str, epoch: int, number: int, topic: str = "",
               ) -> tuple[RecordResult, StepRecord | None]:
    # The outcome is a placeholder: the store records the message instead.
    return await s.record_step(
        step(wid, epoch, number, ok(b"null"), kind=StepKind.RECV, name=topic), Recv(topic))


def payload(rec: StepRecord | None) -> bytes:
    assert rec is not None and rec.outcome.output is not None
    return rec.outcome.output.data


async def claimable(s: Store, now: int, name: str = "wf") -> list[str]:
    """IDs claimable at `now` (claims them: they are released again)."""
    got = await s.claim_workflows("probe", [name], 100, now=now, lease_until=now + 1)
    await s.release_workflows("probe", None)
    return [w.workflow_id for w in got]


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


# -- PostgreSQL only ---------------------------------------------------------


def test_pg_concurrent_claims_never_overlap(pg_url: str) -> None:
    async def main() -> None:
        stores = [store_from_url(pg_url) for _ in range(2)]
        await asyncio.gather(*(s.open() for s in stores))
        try:
            for i in range(50):
                await stores[0].create_workflow(wf(f"w{i:02}", created_at=i))

            async def drain(s: Store, owner: str) -> list[str]:
                taken: list[str] = []
                while batch := await s.claim_workflows(owner, ["wf"], 3, 100, 10_000):
                    taken += [w.workflow_id for w in batch]
                    await asyncio.sleep(0)
                return taken

            owners = ["node-a", "node-b", "node-c", "node-d"]
            taken = await asyncio.gather(
                *(drain(stores[i % 2], owner) for i, owner in enumerate(owners)))
            flat = [wid for ids in taken for wid in ids]
            assert sorted(flat) == [f"w{i:02}" for i in range(50)]  # each exactly once
            everything = await stores[0].list_workflows(None, None, 100)
            assert all(w.epoch == 1 for w in everything)
            owner_of = {wid: owner for owner, ids in zip(owners, taken, strict=False) for wid in ids}
            assert all(w.owner == owner_of[w.workflow_id] for w in everything)
        finally:
            await asyncio.gather(*(s.close() for s in stores))

    asyncio.run(main())


def test_pg_concurrent_record_step_is_serialised(pg_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        # 40 distinct step numbers, each submitted twice at once.
        results = await asyncio.gather(
            *(s.record_step(step("w1", epoch, n % 40, ok(str(n).encode()))) for n in range(80)))
        kinds = [r for r, _ in results]
        assert kinds.count(RecordResult.RECORDED) == 40
        assert kinds.count(RecordResult.DUPLICATE) == 40
        steps = await s.list_steps("w1")
        assert sorted(r.completion_seq for r in steps) == list(range(1, 41))
        assert (await s.get_workflow("w1")).step_seq == 40  # type: ignore[union-attr]
        for _result, rec in results:  # a duplicate reports exactly the stored winner
            assert rec is not None and rec == steps[rec.step_number]

    run(pg_url, body)


def test_pg_recovers_from_lost_connections(pg_url: str, pg_admin_url: str) -> None:
    async def body(s: Store) -> None:
        await s.create_workflow(wf("w1"))
        dbname = pg_url.rsplit("/", 1)[1]
        async with await psycopg.AsyncConnection.connect(pg_admin_url, autocommit=True) as admin:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (dbname,))
        # The first use of a dead connection fails as StoreUnavailable (callers
        # retry); from then on connections are checked on checkout for a
        # while and dead ones replaced before anything is sent.
        try:
            await s.get_workflow("w1")
        except StoreUnavailable:
            pass
        for _ in range(3):
            w = await s.get_workflow("w1")
            assert w is not None

    run(pg_url, body)


def test_pg_unreachable_is_store_unavailable() -> None:
    store = store_from_url("postgresql://postgres@127.0.0.1:1/keel")
    with pytest.raises(StoreUnavailable, match="postgres"):
        asyncio.run(store.open())

    async def not_open() -> None:
        await store.get_workflow("w1")

    with pytest.raises(StoreUnavailable):
        asyncio.run(not_open())


def test_pg_wake_ups_are_never_lost(pg_url: str) -> None:
    """Parks racing the message or event they wait for: each ends claimable."""

    async def main() -> None:
        stores = [store_from_url(pg_url) for _ in range(2)]
        await asyncio.gather(*(s.open() for s in stores))
        a, b = stores
        try:
            n = 40
            for i in range(n):
                await a.create_workflow(wf(f"w{i:02}", created_at=i))
            await a.create_workflow(wf("setter", name="setter"))
            epochs = {w.workflow_id: w.epoch for w in await a.claim_workflows("x", ["wf"], n, 0, 10**9)}
            setter = (await a.claim_workflows("x", ["setter"], 1, 0, 10**9))[0].epoch

            async def recv_race(i: int) -> None:
                wid = f"w{i:02}"
                await asyncio.gather(
                    a.park(wid, epochs[wid], 10**9, Wait(WaitKind.RECV, topic="t"), 1000),
                    b.send_message(msg(wid, topic="t", created_at=1000)))

            async def event_race(i: int) -> None:
                wid = f"w{i:02}"
                await asyncio.gather(
                    a.park(wid, epochs[wid], 10**9, Wait(WaitKind.EVENT, target="setter", key=wid), 1000),
                    set_event(b, "setter", setter, i, wid, b"1", completed_at=1000))

            await asyncio.gather(*(recv_race(i) for i in range(n)))
            assert len(await claimable(a, now=1000)) == n
            epochs = {w.workflow_id: w.epoch for w in await a.claim_workflows("x", ["wf"], n, 0, 10**9)}
            await asyncio.gather(*(event_race(i) for i in range(n)))
            assert len(await claimable(a, now=1000)) == n
        finally:
            await asyncio.gather(*(s.close() for s in stores))

    asyncio.run(main())


async def wait_note(notes: list[str], want: str, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while want not in notes:
        assert loop.time() < deadline, f"no {want!r} within {timeout}s, got {notes}"
        await asyncio.sleep(0.01)


def test_pg_listen_gets_notes_from_another_store(pg_url: str) -> None:
    async def main() -> None:
        listener, writer = store_from_url(pg_url), store_from_url(pg_url)
        await asyncio.gather(listener.open(), writer.open())
        notes: list[str] = []

        def callback(note: Note) -> None:
            notes.append(note.encode())
            if note == "work" and notes.count("work") == 1:
                raise RuntimeError("a failing callback does not stop the listener")

        try:
            await listener.listen(callback)
            epoch = await claimed(writer, "w1")
            await wait_note(notes, "work")
            await writer.record_step(step("w1", epoch, 0))  # the hot path: no note
            await set_event(writer, "w1", epoch, 1, "k", b"1")
            await wait_note(notes, "event:w1")
            await writer.send_message(msg("w1", topic="t"))
            await wait_note(notes, "msg:w1")
            # A park that can resume at once makes work for a claimer.
            assert await writer.park("w1", epoch, 10**9, Wait(WaitKind.RECV, topic="t"), 2000)
            await wait_note(notes, "work")
            await writer.finish_workflow("w1", None, WorkflowStatus.SUCCESS, ok(), 3000)
            await wait_note(notes, "done:w1")
            await writer.create_workflow(wf("w2", deadline_at=10))
            await writer.expire_deadlines(10)
            await wait_note(notes, "done:w2")
            assert notes == ["work", "event:w1", "msg:w1", "work", "done:w1", "work", "done:w2"]
        finally:
            await asyncio.gather(listener.close(), writer.close())

    asyncio.run(main())


def test_pg_listen_survives_a_lost_connection(pg_url: str, pg_admin_url: str) -> None:
    dbname = pg_url.rsplit("/", 1)[1]

    async def listeners(admin: psycopg.AsyncConnection[Any]) -> list[int]:
        cur = await admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = 'keel-listen'",
            (dbname,))
        return [pid for (pid,) in await cur.fetchall()]

    async def main() -> None:
        listener, writer = store_from_url(pg_url), store_from_url(pg_url)
        await asyncio.gather(listener.open(), writer.open())
        notes: list[str] = []
        try:
            await listener.listen(lambda note: notes.append(note.encode()))
            epoch = await claimed(writer, "w1")
            await set_event(writer, "w1", epoch, 0, "k", b"0")
            await wait_note(notes, "event:w1")
            async with await psycopg.AsyncConnection.connect(pg_admin_url, autocommit=True) as admin:
                (old,) = await listeners(admin)
                await admin.execute("SELECT pg_terminate_backend(%s)", (old,))
                notes.clear()
                # Notes sent while it reconnects are lost: keep sending.
                number = 1
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 15
                while "event:w1" not in notes:
                    assert loop.time() < deadline, "the listener did not come back"
                    await set_event(writer, "w1", epoch, number, "k", b"1")
                    number += 1
                    await asyncio.sleep(0.05)
                new = await listeners(admin)
                assert len(new) == 1 and new != [old]
                await listener.close()
                assert await listeners(admin) == []  # close() ends the listener
        finally:
            await asyncio.gather(listener.close(), writer.close())

    asyncio.run(main())


def test_listen_is_harmless_on_sqlite(sqlite_url: str) -> None:
    async def body(s: Store) -> None:
        await s.listen(lambda note: None)

    run(sqlite_url, body)


def test_listen_is_harmless_on_memory() -> None:
    async def body(s: Store) -> None:
        await s.listen(lambda note: None)

    run("memory://", body)
