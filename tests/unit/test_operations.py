"""Operating verbs on the engine (in-memory store, fake clock): resume, fork,
retention, schedules."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from coordinator.core.context import EngineConfig
from coordinator.core.engine import Engine
from coordinator.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from coordinator.core.operate import schedule_workflow_id
from coordinator.core.records import Failure, Outcome, WorkflowStatus
from coordinator.store.memory import MemoryStore
from tests.unit.fakes import FakeClock, session
from tests.unit.test_engine import ARGS, ok, step

# 2026-01-01T00:00:00Z, in ms.
T0 = 1_767_225_600_000


def run(body: Callable[[Engine, FakeClock], Awaitable[None]], now_ms: int = T0,
        retention: float | None = None) -> None:
    async def main() -> None:
        clock = FakeClock(now_ms)
        engine = Engine(MemoryStore(), EngineConfig(node_id="node-a", poll_interval=0.05,
                                                    retention=retention), clock)
        await engine.store.open()
        await engine.start(run_loops=False)
        try:
            await asyncio.wait_for(body(engine, clock), 10)
        finally:
            await engine.stop()

    asyncio.run(main())


def test_resume_a_cancelled_workflow_keeps_its_steps_and_fences_the_old_run() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        worker, link = session("w1")
        engine.register(worker)
        wf, _ = await engine.start_workflow("wf", ARGS, "r1", None)
        epoch = link.workflows[-1].epoch
        await engine.record_step(step("r1", epoch, 0))
        await engine.record_step(step("r1", epoch, 1))
        await engine.cancel_workflow("r1")
        with pytest.raises(FailedPrecondition):  # the old run cannot record its third step
            await engine.record_step(step("r1", epoch, 2))

        resumed = await engine.resume_workflow("r1")
        assert resumed.status is WorkflowStatus.PENDING and resumed.epoch > epoch
        await engine.dispatch_workflows()
        again = link.workflows[-1]
        assert again.workflow_id == "r1" and again.epoch > resumed.epoch
        assert [s.step_number for s in await engine.list_steps("r1")] == [0, 1]
        await engine.record_step(step("r1", again.epoch, 2))
        done = await engine.finish_workflow("r1", again.epoch, ok(b'"done"'))
        assert done.status is WorkflowStatus.SUCCESS

        with pytest.raises(FailedPrecondition, match="SUCCESS"):
            await engine.resume_workflow("r1")
        await engine.start_workflow("wf", ARGS, "pending", None)
        with pytest.raises(FailedPrecondition, match="PENDING"):
            await engine.resume_workflow("pending")
        with pytest.raises(NotFound):
            await engine.resume_workflow("nope")

    run(body)


def test_resume_a_failed_workflow_runs_the_failed_step_again() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        worker, link = session("w1")
        engine.register(worker)
        await engine.start_workflow("wf", ARGS, "f1", None)
        epoch = link.workflows[-1].epoch
        await engine.record_step(step("f1", epoch, 0))
        await engine.record_step(step("f1", epoch, 1, Outcome(error=Failure("IOError", "no file"))))
        await engine.finish_workflow("f1", epoch, Outcome(error=Failure("IOError", "no file")))
        await engine.resume_workflow("f1")
        assert [s.step_number for s in await engine.list_steps("f1")] == [0]

    run(body)


def test_fork_copies_the_steps_before_the_start() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        worker, link = session("w1")
        engine.register(worker)
        await engine.start_workflow("wf", ARGS, "src", None)
        epoch = link.workflows[-1].epoch
        for n in range(4):
            await engine.record_step(step("src", epoch, n, ok(str(n).encode())))
        await engine.finish_workflow("src", epoch, ok())

        fork = await engine.fork_workflow("src", 2, "fork-1")
        assert (fork.forked_from, fork.name, fork.status) == ("src", "wf", WorkflowStatus.PENDING)
        assert [s.step_number for s in await engine.list_steps("fork-1")] == [0, 1]
        assert (await engine.fork_workflow("src", 2, "fork-1")).workflow_id == "fork-1"  # a retry
        made_up = await engine.fork_workflow("src", 0)
        assert made_up.workflow_id not in ("src", "fork-1")
        assert await engine.list_steps(made_up.workflow_id) == []
        with pytest.raises(AlreadyExists):
            await engine.fork_workflow("src", 1, "src")
        with pytest.raises(NotFound):
            await engine.fork_workflow("nope", 0, "x")
        await engine.dispatch_workflows()
        assert {w.workflow_id for w in link.workflows} >= {"fork-1", made_up.workflow_id}

    run(body)


def test_retention_deletes_only_old_finished_workflows() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        await engine.start_workflow("wf", ARGS, "old", None)
        await engine.start_workflow("wf", ARGS, "running", None)
        await engine.cancel_workflow("old")
        clock.advance(3600)
        await engine.start_workflow("wf", ARGS, "young", None)
        await engine.cancel_workflow("young")
        assert await engine.collect_garbage(dry_run=True) == 1
        assert await engine.collect_garbage() == 1
        with pytest.raises(NotFound):
            await engine.get_workflow("old")
        for wid in ("running", "young"):
            await engine.get_workflow(wid)

    run(body, retention=1800)


def test_schedules_start_one_workflow_per_tick_and_skip_missed_ones() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        with pytest.raises(InvalidArgument, match="cron expression"):
            await engine.set_schedule("bad", "wf", "61 * * * *", "UTC", ARGS)
        with pytest.raises(InvalidArgument, match="time zone 'Mars/Base'"):
            await engine.set_schedule("bad", "wf", "* * * * *", "Mars/Base", ARGS)
        s = await engine.set_schedule("every", "wf", "* * * * * *", "UTC", ARGS)
        assert s.next_tick_at == T0 + 1000
        assert await engine.fire_schedules() == []
        clock.advance(1.2)
        started = await engine.fire_schedules()
        assert [w.workflow_id for w in started] == ["sched-every-2026-01-01T00:00:01Z"]
        assert started[0].workflow_id == schedule_workflow_id("every", T0 + 1000)
        assert await engine.fire_schedules() == []  # the same tick never twice
        clock.advance(10)  # nobody ran for ten ticks: only the latest is fired
        assert [w.workflow_id for w in await engine.fire_schedules()] == ["sched-every-2026-01-01T00:00:11Z"]

        paused = await engine.pause_schedule("every", True)
        assert paused.paused
        clock.advance(5)
        assert await engine.fire_schedules() == []
        resumed = await engine.pause_schedule("every", False)
        assert resumed.next_tick_at == T0 + 17_000  # ticks missed while paused are not replayed
        clock.advance(1)
        assert [w.workflow_id for w in await engine.fire_schedules()] == ["sched-every-2026-01-01T00:00:17Z"]

        paris = await engine.set_schedule("daily", "wf", "0 9 * * *", "Europe/Paris", ARGS)
        assert paris.next_tick_at == T0 + 8 * 3600_000  # 09:00 in Paris is 08:00 UTC in January
        assert [x.name for x in await engine.list_schedules()] == ["daily", "every"]
        await engine.delete_schedule("daily")
        with pytest.raises(NotFound):
            await engine.delete_schedule("daily")
        with pytest.raises(NotFound):
            await engine.pause_schedule("daily", True)

    run(body)


def test_two_coordinators_fire_a_tick_once() -> None:
    async def main() -> None:
        clock = FakeClock(T0)
        store_name = "ops-two-coordinators"
        engines = [Engine(MemoryStore(store_name), EngineConfig(node_id=f"n{i}"), clock) for i in range(2)]
        for e in engines:
            await e.start(run_loops=False)
        await engines[0].set_schedule("s", "wf", "* * * * * *", "UTC", ARGS)
        started = []
        for _ in range(5):
            clock.advance(1)
            for e in engines:
                started += [w.workflow_id for w in await e.fire_schedules()]
        assert len(started) == len(set(started)) == 5
        for e in engines:
            await e.stop()

    asyncio.run(main())


def test_a_cron_expression_that_never_ticks_is_refused() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        with pytest.raises(InvalidArgument, match="'0 0 30 2 \\*' never ticks"):
            await engine.set_schedule("feb30", "wf", "0 0 30 2 *", "UTC", ARGS)

    run(body)


def test_operating_requests_are_checked() -> None:
    from keel.v1 import client_service_pb2 as cpb

    from coordinator.api import requests_ops

    token = requests_ops.page_token(T0, "w" * 200)
    assert requests_ops.read_page_token(token) == (T0, "w" * 200)
    for bad in ("", "zz", "[" * 100_000, requests_ops.page_token(10**30, "w"),
                requests_ops.page_token(T0, "w" * 201)):
        with pytest.raises(InvalidArgument, match="invalid page_token"):
            requests_ops.read_page_token(bad)
    with pytest.raises(InvalidArgument, match="start_step must not be negative"):
        requests_ops.fork_workflow(cpb.ForkWorkflowRequest(workflow_id="w", start_step=-1))
    fork = cpb.ForkWorkflowRequest(workflow_id="w", start_step=2)
    assert requests_ops.fork_workflow(fork) == ("w", 2, None)
    with pytest.raises(InvalidArgument, match="schedule name is too long"):
        requests_ops.set_schedule(
            cpb.SetScheduleRequest(name="s" * 101, workflow_name="wf", cron="* * * * *"), 1000)
    with pytest.raises(InvalidArgument, match="cron is required"):
        requests_ops.set_schedule(cpb.SetScheduleRequest(name="s", workflow_name="wf"), 1000)
    name, wf, expression, timezone, value = requests_ops.set_schedule(
        cpb.SetScheduleRequest(name="s", workflow_name="wf", cron=" * * * * * "), 1000)
    assert (name, wf, expression, timezone, value) == ("s", "wf", "* * * * *", "UTC", ARGS)
