"""The Store contract, run against every store through store_from_url."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import pytest

from coordinator.store import (
    Failure,
    NewStep,
    NewWorkflow,
    Outcome,
    RecordResult,
    StepKind,
    StepRecord,
    Store,
    StoreUnavailable,
    Value,
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


def test_create_is_idempotent(store_url: str) -> None:
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

    run(store_url, body)


def test_get_unknown_workflow_and_step(store_url: str) -> None:
    async def body(s: Store) -> None:
        assert await s.get_workflow("nope") is None
        assert await s.get_step("nope", 0) is None
        assert await s.list_steps("nope") == []

    run(store_url, body)


def test_binary_payloads_round_trip(store_url: str) -> None:
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

    run(store_url, body)


def test_claim_bumps_epoch_and_respects_names_limit_and_age(store_url: str) -> None:
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

    run(store_url, body)


def test_claim_honours_leases_and_release(store_url: str) -> None:
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

    run(store_url, body)


def test_renew_leases_counts_pending_only(store_url: str) -> None:
    async def body(s: Store) -> None:
        for i in range(3):
            await s.create_workflow(wf(f"w{i}", created_at=i))
        got = await s.claim_workflows("node-a", ["wf"], 10, now=10, lease_until=100)
        await s.finish_workflow("w0", got[0].epoch, WorkflowStatus.SUCCESS, ok(), 20)
        assert await s.renew_leases("node-a", 500) == 2
        assert await s.renew_leases("node-b", 500) == 0
        # The renewed lease keeps other owners out past the old expiry.
        assert await s.claim_workflows("node-b", ["wf"], 10, now=200, lease_until=900) == []

    run(store_url, body)


def test_finish_workflow(store_url: str) -> None:
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

    run(store_url, body)


def test_expire_deadlines(store_url: str) -> None:
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

    run(store_url, body)


def test_list_workflows(store_url: str) -> None:
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

    run(store_url, body)


# -- steps -------------------------------------------------------------------


def test_record_step_recorded_and_duplicate(store_url: str) -> None:
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

    run(store_url, body)


def test_record_step_stale(store_url: str) -> None:
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

    run(store_url, body)


def test_completion_seq_follows_commit_order(store_url: str) -> None:
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

    run(store_url, body)


def test_step_fields_round_trip(store_url: str) -> None:
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

    run(store_url, body)


def test_list_steps_order_after_and_limit(store_url: str) -> None:
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

    run(store_url, body)


def test_migrations_are_idempotent(store_url: str) -> None:
    async def write(s: Store) -> None:
        await s.create_workflow(wf("w1"))

    async def read(s: Store) -> None:
        w = await s.get_workflow("w1")
        assert w is not None and w.workflow_id == "w1"

    run(store_url, write)
    run(store_url, read)
    run(store_url, read)


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
        # The pool checks connections on checkout and replaces dead ones.
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
