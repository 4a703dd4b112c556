"""The Store contract on steps: record_step (recorded, duplicate, stale), completion order, listing."""

from __future__ import annotations

from coordinator.store import (
    Failure,
    Outcome,
    RecordResult,
    StepKind,
    StepRecord,
    Store,
    WorkflowStatus,
)

from .support import claimed, ok, run, step


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
        # A duplicate does not consume a sequence number. A step leaves
        # updated_at alone (the claim's): on PostgreSQL that makes its
        # update of the row a HOT one, no entry in any index.
        w = await s.get_workflow("w1")
        assert w is not None and w.step_seq == 1 and w.updated_at == 1500  # the claim's

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


def test_list_histories_of_several_workflows(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        a, b = await claimed(s, "a"), await claimed(s, "b")
        await claimed(s, "none")
        for number in [3, 0, 1]:
            await s.record_step(step("a", a, number))
        await s.record_step(step("b", b, 7))
        got = await s.list_histories(["a", "none", "b", "unknown"])
        assert {wid: [x.step_number for x in steps] for wid, steps in got.items()} == {
            "a": [0, 1, 3], "none": [], "b": [7], "unknown": []}
        assert got["a"] == await s.list_steps("a")
        assert await s.list_histories([]) == {}

    run(any_store_url, body)
