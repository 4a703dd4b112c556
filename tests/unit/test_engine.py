"""The engine in-process: scheduling, fencing, select, parking and recovery on
the in-memory store, with fake worker links and a fake clock. No processes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest

from coordinator.core.context import EngineConfig
from coordinator.core.engine import Engine
from coordinator.core.errors import FailedPrecondition, NotFound
from coordinator.core.records import (
    NewStep,
    Note,
    NoteKind,
    Outcome,
    StepKind,
    Value,
    Wait,
    WaitKind,
    WorkflowStatus,
)
from coordinator.store.memory import MemoryStore
from tests.unit.fakes import FakeClock, count_calls, session

ARGS = Value("json", b'{"args": [], "kwargs": {}}')


def ok(data: bytes = b"1") -> Outcome:
    return Outcome(output=Value("json", data))


def step(wid: str, epoch: int, n: int, outcome: Outcome | None = None, attempt: int = 0,
         name: str | None = None) -> NewStep:
    return NewStep(wid, epoch, n, name or f"s{n}", StepKind.STEP, outcome or ok(), attempt, 1, 2)


async def make_engine(clock: FakeClock) -> Engine:
    engine = Engine(MemoryStore(), EngineConfig(node_id="node-a", worker_timeout=5.0, poll_interval=0.05),
                    clock)
    await engine.store.open()
    await engine.start(run_loops=False)
    return engine


def run(body: Callable[[Engine, FakeClock], Awaitable[None]]) -> None:
    async def main() -> None:
        clock = FakeClock()
        engine = await make_engine(clock)
        try:
            await asyncio.wait_for(body(engine, clock), 10)
        finally:
            await engine.stop()
            await engine.store.close()

    asyncio.run(main())


async def settle() -> None:
    """Let tasks the engine created (releases) run."""
    for _ in range(5):
        await asyncio.sleep(0)


# -- scheduling -----------------------------------------------------------------


def test_start_hands_the_workflow_to_a_free_worker_at_once() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        worker, link = session("w1", workflow_slots=1)
        engine.register(worker)
        wf, created = await engine.start_workflow("wf", ARGS, "a", None)
        assert created and wf.epoch == 1 and wf.owner == "node-a"
        assert [w.workflow_id for w in link.workflows] == ["a"]
        again, created = await engine.start_workflow("wf", ARGS, "a", None)
        assert not created and again.workflow_id == "a"
        assert len(link.workflows) == 1  # never a second run
        # The only slot is taken: the next one waits in the store, unclaimed.
        b, _ = await engine.start_workflow("wf", ARGS, "b", None)
        assert b.owner is None and worker.free_workflow_slots == 0
        await engine.dispatch_workflows()
        assert [w.workflow_id for w in link.workflows] == ["a"]
        await engine.finish_workflow("a", 1, ok())
        await engine.dispatch_workflows()
        assert [w.workflow_id for w in link.workflows] == ["a", "b"]

    run(body)


def test_a_workflow_nobody_serves_waits_for_a_worker() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        await engine.start_workflow("other", ARGS, "x", None)
        worker, link = session("w1", workflows=("wf",))
        engine.register(worker)
        await engine.dispatch_workflows()
        assert link.workflows == []
        late, late_link = session("w2", workflows=("other",))
        engine.register(late)
        await engine.dispatch_workflows()
        assert [w.workflow_id for w in late_link.workflows] == ["x"]

    run(body)


def test_a_draining_worker_gets_nothing_new() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        worker, link = session("w1")
        engine.register(worker)
        engine.drain(worker)
        await engine.start_workflow("wf", ARGS, "a", None)
        await engine.dispatch_workflows()
        assert link.workflows == []

    run(body)


# -- fencing ------------------------------------------------------------------


def test_stale_epochs_are_fenced_and_the_first_outcome_wins() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        engine.register(session("w1")[0])
        await engine.start_workflow("wf", ARGS, "a", None)
        first = await engine.record_step(step("a", 1, 0, ok(b"1")))
        again = await engine.record_step(step("a", 1, 0, ok(b"2")))
        assert again == first  # a retry gets the committed record
        with pytest.raises(FailedPrecondition, match="execution 7 is stale"):
            await engine.record_step(step("a", 7, 1))
        await engine.finish_workflow("a", 1, ok())
        with pytest.raises(FailedPrecondition, match="already SUCCESS"):
            await engine.record_step(step("a", 1, 1))

    run(body)


def test_assigned_steps_are_fenced_by_attempt_and_move_when_a_worker_dies() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        runner, _ = session("runner", workflows=("wf",))
        engine.register(runner)
        one, one_link = session("one", workflows=(), steps=("charge",), step_slots=1)
        engine.register(one)
        await engine.start_workflow("wf", ARGS, "a", None)
        scheduled = asyncio.create_task(engine.schedule_step("a", 1, 0, "charge", ARGS))
        await settle()
        assert one_link.steps == [("a", 0, "charge", 1)]
        two, two_link = session("two", workflows=(), steps=("charge",), step_slots=1)
        engine.register(two)
        engine.unregister(one)  # presumed dead: its task is released in the store
        await settle()
        await engine.dispatch_tasks()  # and claimed again, under attempt 2
        assert two_link.steps == [("a", 0, "charge", 2)]
        with pytest.raises(FailedPrecondition, match="attempt 1 was fenced off"):
            await engine.record_step(step("a", 1, 0, attempt=1, name="charge"))
        record = await engine.record_step(step("a", 1, 0, ok(b'"paid"'), attempt=2, name="charge"))
        assert (await scheduled) == record
        assert two.free_step_slots == 1

    run(body)


def test_a_steps_own_worker_is_preferred_and_capacity_is_respected() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        own, own_link = session("own", workflows=("wf",), steps=("s",), step_slots=1)
        other, other_link = session("other", workflows=(), steps=("s",), step_slots=5)
        engine.register(own)
        engine.register(other)
        await engine.start_workflow("wf", ARGS, "a", None)
        tasks = [asyncio.create_task(engine.schedule_step("a", 1, n, "s", ARGS)) for n in range(3)]
        await settle()
        assert [s[1] for s in own_link.steps] == [0]
        assert [s[1] for s in other_link.steps] == [1, 2]
        for n, attempt in ((0, 1), (1, 1), (2, 1)):
            await engine.record_step(step("a", 1, n, attempt=attempt, name="s"))
        await asyncio.gather(*tasks)

    run(body)


# -- select -----------------------------------------------------------------


def test_select_records_the_first_committed_and_replays_it() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        engine.register(session("w1")[0])
        await engine.start_workflow("wf", ARGS, "a", None)
        waiting = asyncio.create_task(engine.select("a", 1, 2, [0, 1]))
        await settle()
        assert not waiting.done()
        await engine.record_step(step("a", 1, 1, ok(b'"second"')))  # step 1 commits first
        await engine.record_step(step("a", 1, 0, ok(b'"first"')))
        decided = await waiting
        assert (decided.select_index, decided.select_step_number) == (1, 1)
        assert json.loads(decided.outcome.output.data) == {  # type: ignore[union-attr]
            "index": 1, "step_number": 1, "candidates": [0, 1]}
        assert await engine.select("a", 1, 2, [0, 1]) == decided  # replayed: the same winner

    run(body)


def test_select_of_a_stale_execution_is_refused() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        engine.register(session("w1")[0])
        await engine.start_workflow("wf", ARGS, "a", None)
        with pytest.raises(FailedPrecondition, match="lost its lease"):
            await engine.select("a", 3, 2, [0, 1])

    run(body)


# -- waits and parking --------------------------------------------------------


def test_recv_parks_and_a_message_makes_it_claimable_again() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        worker, link = session("w1", workflow_slots=1)
        engine.register(worker)
        await engine.start_workflow("wf", ARGS, "a", None)
        deadline = await engine.receive("a", 1, 0, "t", timeout_ms=60_000, hold_ms=0)
        assert deadline == clock.now_ms() + 60_000
        await engine.park("a", 1, deadline, Wait(WaitKind.RECV, topic="t"))
        assert worker.free_workflow_slots == 1  # the slot is back
        await engine.dispatch_workflows()
        assert len(link.workflows) == 1  # nothing arrived: it stays parked
        assert await engine.send("a", "t", Value("json", b'"hi"'), "k1")
        assert not await engine.send("a", "t", Value("json", b'"hi"'), "k1")  # delivered once
        await engine.dispatch_workflows()
        # Parking fences the parked execution (epoch 2), the claim makes epoch 3.
        assert [(w.workflow_id, w.epoch) for w in link.workflows] == [("a", 1), ("a", 3)]
        got = await engine.receive("a", 3, 0, "t", timeout_ms=60_000, hold_ms=0)
        assert not isinstance(got, int) and got.outcome.output == Value("json", b'"hi"')
        with pytest.raises(FailedPrecondition):
            await engine.receive("a", 1, 1, "t", 1000, 0)  # the parked execution is fenced

    run(body)


def test_a_wait_times_out_with_null_on_the_fake_clock() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        engine.register(session("w1")[0])
        await engine.start_workflow("wf", ARGS, "a", None)
        assert isinstance(await engine.read_event("a", 1, 0, "b", "k", 5_000, 0), int)
        clock.advance(6)
        record = await engine.read_event("a", 1, 0, "b", "k", 5_000, 0)
        assert not isinstance(record, int) and record.outcome.output == Value("json", b"null")

    run(body)


def test_sleep_records_its_wake_up_time_once() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        engine.register(session("w1")[0])
        await engine.start_workflow("wf", ARGS, "a", None)
        first = await engine.sleep("a", 1, 0, 30_000)
        clock.advance(10)
        again = await engine.sleep("a", 1, 0, 30_000)  # a replay after a crash
        assert first == again
        assert json.loads(first.outcome.output.data) == clock.now_ms() - 10_000 + 30_000  # type: ignore[union-attr]

    run(body)


def test_send_to_a_missing_workflow() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        engine.register(session("w1")[0])
        await engine.start_workflow("wf", ARGS, "a", None)
        with pytest.raises(NotFound, match="nope"):
            await engine.send("nope", "", Value("json", b"1"), None)
        record = await engine.send_from_workflow("a", 1, 0, "nope", "", Value("json", b"1"))
        assert record.outcome.error is not None and record.outcome.error.type == "WorkflowNotFound"

    run(body)


# -- recovery and deadlines ---------------------------------------------------


def test_a_silent_worker_loses_its_workflows_to_another() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        dead, dead_link = session("dead")
        engine.register(dead)
        await engine.start_workflow("wf", ARGS, "a", None)
        alive, alive_link = session("alive")
        engine.register(alive)
        clock.advance(3)
        engine.heartbeat(alive)
        clock.advance(3)  # dead is silent for 6 s > worker_timeout, alive for 3 s
        await engine.check_liveness()
        assert dead_link.closed == "missed heartbeats" and not alive_link.closed
        await settle()  # the release runs in a task of its own
        await engine.dispatch_workflows()
        assert [(w.workflow_id, w.epoch) for w in alive_link.workflows] == [("a", 2)]
        with pytest.raises(FailedPrecondition):
            await engine.record_step(step("a", 1, 0))  # the dead one's execution is fenced

    run(body)


def test_a_reconnecting_worker_replaces_its_old_session() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        old, old_link = session("w1")
        engine.register(old)
        await engine.start_workflow("wf", ARGS, "a", None)
        new, new_link = session("w1")
        engine.register(new)
        assert old_link.closed == "replaced by a new connection"
        await settle()
        await engine.dispatch_workflows()
        assert [(w.workflow_id, w.epoch) for w in new_link.workflows] == [("a", 2)]

    run(body)


def test_deadlines_cancel_and_revoke() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        worker, link = session("w1")
        engine.register(worker)
        await engine.start_workflow("wf", ARGS, "a", timeout_ms=2_000)
        await engine.expire_deadlines()
        assert (await engine.get_workflow("a")).status is WorkflowStatus.PENDING
        clock.advance(3)
        await engine.expire_deadlines()
        wf = await engine.get_workflow("a")
        assert wf.status is WorkflowStatus.CANCELLED and wf.outcome is not None
        assert link.revoked == [("a", 1, "timed out")]
        assert worker.free_workflow_slots == worker.workflow_slots

    run(body)


def test_cancel_revokes_and_await_returns_the_final_record() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        worker, link = session("w1")
        engine.register(worker)
        await engine.start_workflow("wf", ARGS, "a", None)
        waiting = asyncio.create_task(engine.await_workflow("a", timeout=5))
        await settle()
        cancelled = await engine.cancel_workflow("a")
        assert (await waiting) == cancelled and cancelled.status is WorkflowStatus.CANCELLED
        assert link.revoked == [("a", 1, "cancelled")]
        assert (await engine.cancel_workflow("a")) == cancelled  # idempotent

    run(body)


def test_the_note_of_our_own_end_wakes_nobody_but_another_coordinators_does() -> None:
    """On PostgreSQL our own end's NOTIFY can arrive before our commit returns:
    it must not send awaiters to read the store (the commit hands them the
    record). An end committed elsewhere (a note while we end nothing) wakes
    them, and they read it."""
    async def main() -> None:
        engine = Engine(MemoryStore(), EngineConfig(node_id="node-a", poll_interval=60.0), FakeClock())
        await engine.start(run_loops=False)
        try:
            engine.register(session("w1")[0])
            for wid in ("ours", "theirs"):
                await engine.start_workflow("wf", ARGS, wid, None)
            reads = count_calls(engine.store, "get_workflow", arg=0)
            ours = asyncio.create_task(engine.await_workflow("ours", timeout=30))
            theirs = asyncio.create_task(engine.await_workflow("theirs", timeout=30))
            await settle()
            assert reads == []  # running here: the first look reads nothing
            engine.ctx.ending.add("ours")  # as while finish_workflow commits
            engine._on_note(Note(NoteKind.DONE, "ours"))
            await settle()
            assert not ours.done() and reads == []
            engine.ctx.ending.discard("ours")
            done = await engine.finish_workflow("ours", 1, ok())
            assert await asyncio.wait_for(ours, 5) == done

            cancelled = await engine.store.finish_workflow(  # as another coordinator would
                "theirs", None, WorkflowStatus.CANCELLED, Outcome(output=Value("json", b"null")), 5)
            engine._on_note(Note(NoteKind.DONE, "theirs"))
            assert await asyncio.wait_for(theirs, 5) == cancelled
            assert reads == ["theirs"]
        finally:
            await engine.stop()

    asyncio.run(main())


# -- several coordinators on one store ------------------------------------------


def run_two(body: Callable[[Engine, Engine, FakeClock], Awaitable[None]]) -> None:
    """Two coordinators (engines) sharing one in-memory store and one fake clock."""

    async def main() -> None:
        clock, name = FakeClock(), f"shared-{id(body)}"
        engines = []
        for node in ("node-a", "node-b"):
            engine = Engine(MemoryStore(name), EngineConfig(node_id=node, poll_interval=0.05,
                                                            node_timeout=3.0), clock)
            await engine.start(run_loops=False)
            engines.append(engine)
        try:
            await asyncio.wait_for(body(engines[0], engines[1], clock), 10)
        finally:
            for engine in engines:
                await engine.stop()

    asyncio.run(main())


def test_a_step_only_another_coordinator_serves_runs_there() -> None:
    async def body(a: Engine, b: Engine, clock: FakeClock) -> None:
        a.register(session("w1", workflows=("cross",), steps=("local_a",))[0])
        remote, remote_link = session("w2", workflows=(), steps=("remote_b",))
        b.register(remote)
        await a.start_workflow("cross", ARGS, "x", None)
        waiting = asyncio.create_task(a.schedule_step("x", 1, 0, "remote_b", ARGS))
        await settle()
        await b.dispatch_tasks()  # B claims the task a worker of its own serves
        assert remote_link.steps == [("x", 0, "remote_b", 1)]
        record = await b.record_step(step("x", 1, 0, ok(b'"done"'), attempt=1, name="remote_b"))
        assert await waiting == record  # A learns it from the store
        assert remote.free_step_slots == remote.step_slots

    run_two(body)


def test_a_silent_coordinator_is_taken_over_and_fenced() -> None:
    async def body(a: Engine, b: Engine, clock: FakeClock) -> None:
        worker_a, link_a = session("w1")
        a.register(worker_a)
        await a.start_workflow("wf", ARGS, "x", None)
        worker_b, link_b = session("w2")
        b.register(worker_b)
        clock.advance(2)
        await b.heartbeat_node()
        clock.advance(2)  # A has been silent for 4 s > node_timeout
        await b.heartbeat_node()
        await b.dispatch_workflows()
        assert [(w.workflow_id, w.epoch) for w in link_b.workflows] == [("x", 2)]
        # A comes back: it learns it was presumed dead, and nothing it writes counts.
        await a.heartbeat_node()
        assert link_a.revoked == [("x", 1, "this coordinator was presumed dead")]
        with pytest.raises(FailedPrecondition):
            await a.record_step(step("x", 1, 0))

    run_two(body)


def test_coordinators_with_skewed_clocks_agree_on_the_stores() -> None:
    async def main() -> None:
        store_time = FakeClock(now_ms=5_000_000)
        fast, slow = FakeClock(now_ms=5_010_000), FakeClock(now_ms=4_990_000)  # +10 s, -10 s
        engines = [Engine(MemoryStore("skew", clock=store_time.now_ms), EngineConfig(node_id=n), c)
                   for n, c in (("fast", fast), ("slow", slow))]
        for engine in engines:
            await engine.sync_clock()
            assert abs(engine.clock.now_ms() - store_time.now_ms()) <= 1
        a, b = engines
        await a.start(run_loops=False)
        await b.start(run_loops=False)
        await a.start_workflow("wf", ARGS, "x", timeout_ms=5_000)  # its deadline in the store's time
        for clock in (store_time, fast, slow):
            clock.advance(4)
        await b.expire_deadlines()
        assert (await b.get_workflow("x")).status is WorkflowStatus.PENDING  # not early on the slow one
        for clock in (store_time, fast, slow):
            clock.advance(2)
        await b.expire_deadlines()
        assert (await b.get_workflow("x")).status is WorkflowStatus.CANCELLED
        for engine in engines:
            await engine.stop()

    asyncio.run(main())
