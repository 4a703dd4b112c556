"""The engine's side of issue 15 on the in-memory store with fake workers:
step timeouts (fenced off, retried, failed), a cancelled workflow's steps
revoked, ScheduleStep checked against the record, and exact deadlines."""

from __future__ import annotations

import asyncio

import pytest

from coordinator.core.engine import Engine
from coordinator.core.errors import FailedPrecondition, InvalidArgument, NotFound
from coordinator.core.records import NewStep, Outcome, StepKind, Value, WorkflowStatus
from tests.unit.fakes import FakeClock, session
from tests.unit.test_engine import ARGS, ok, run, settle


def step(wid: str, epoch: int, n: int, outcome: Outcome | None = None, attempt: int = 0,
         name: str = "charge", now: int = 0) -> NewStep:
    """An outcome as the API makes it: completed now (the fake clock's time)."""
    return NewStep(wid, epoch, n, name, StepKind.STEP, outcome or ok(), attempt, now, now)


def test_an_attempt_past_its_timeout_is_fenced_off_retried_then_failed() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        engine.register(session("runner", workflows=("wf",))[0])
        one, one_link = session("one", workflows=(), steps=("charge",), step_slots=1)
        engine.register(one)
        await engine.start_workflow("wf", ARGS, "a", None)
        scheduled = asyncio.create_task(
            engine.schedule_step("a", 1, 0, "charge", ARGS, timeout_ms=2000, max_attempts=2))
        await settle()
        assert one_link.steps == [("a", 0, "charge", 1)]
        clock.advance(1.9)
        await engine.expire_step_attempts()
        assert one.free_step_slots == 0  # still in time
        clock.advance(0.2)
        await engine.expire_step_attempts()  # attempt 1 timed out: released, its slot free
        assert one.free_step_slots == 1
        # Its outcome (lost, refused, or just late) can no longer be recorded.
        with pytest.raises(FailedPrecondition, match="ran past its timeout"):
            await engine.record_step(step("a", 1, 0, ok(b'"late"'), attempt=1, now=clock.now_ms()))
        await engine.dispatch_tasks()
        assert one_link.steps[-1] == ("a", 0, "charge", 2)
        clock.advance(2.1)
        await engine.expire_step_attempts()  # the last allowed attempt: the step fails
        record = await scheduled
        assert record.outcome.error is not None and record.outcome.error.type == "StepTimeout"
        assert "attempt 2 ran past its timeout of 2 s" in record.outcome.error.message
        assert one.free_step_slots == 1

    run(body)


def test_the_coordinator_default_bounds_attempts_without_a_timeout() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        engine.register(session("runner", workflows=("wf",))[0])
        engine.register(session("one", workflows=(), steps=("charge",), step_slots=1)[0])
        await engine.start_workflow("wf", ARGS, "a", None)
        scheduled = asyncio.create_task(engine.schedule_step("a", 1, 0, "charge", ARGS))
        await settle()
        clock.advance(engine.config.step_timeout + 1)
        await engine.expire_step_attempts()
        record = await scheduled
        assert record.outcome.error is not None and record.outcome.error.type == "StepTimeout"

    run(body)


def test_cancelling_a_workflow_revokes_its_steps_and_says_why_outcomes_are_refused() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        engine.register(session("runner", workflows=("wf",))[0])
        one, one_link = session("one", workflows=(), steps=("charge",), step_slots=1)
        engine.register(one)
        await engine.start_workflow("wf", ARGS, "a", None)
        scheduled = asyncio.create_task(engine.schedule_step("a", 1, 0, "charge", ARGS))
        await settle()
        await engine.cancel_workflow("a")
        assert one_link.revoked == [("a", 1, "cancelled")]
        assert one.free_step_slots == 1
        with pytest.raises(FailedPrecondition, match="the workflow is already CANCELLED"):
            await engine.record_step(step("a", 1, 0, ok(), attempt=1, now=clock.now_ms()))
        with pytest.raises(FailedPrecondition):
            await scheduled

    run(body)


def test_schedule_step_of_a_recorded_number_under_another_name_is_refused() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        engine.register(session("runner", workflows=("wf",), steps=("charge",))[0])
        await engine.start_workflow("wf", ARGS, "a", None)
        await engine.record_step(step("a", 1, 0, name="charge"))
        assert (await engine.schedule_step("a", 1, 0, "charge", ARGS)).name == "charge"
        with pytest.raises(InvalidArgument, match="recorded as 'charge'.*not deterministic"):
            await engine.schedule_step("a", 1, 0, "refund", ARGS)

    run(body)


def test_history_of_an_unknown_workflow_is_not_found() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        with pytest.raises(NotFound):
            await engine.get_history("nope", -1, 10)
        await engine.start_workflow("wf", ARGS, "a", None)
        assert await engine.get_history("a", -1, 10) == ([], False)

    run(body)


def test_sending_to_a_final_workflow_is_refused() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        await engine.start_workflow("wf", ARGS, "a", None)
        assert await engine.send("a", "", Value("json", b"1"), None) is True
        await engine.cancel_workflow("a")
        with pytest.raises(FailedPrecondition, match="already CANCELLED"):
            await engine.send("a", "", Value("json", b"1"), None)
        with pytest.raises(NotFound):
            await engine.send("nope", "", Value("json", b"1"), None)

    run(body)


def test_a_workflow_deadline_arms_a_timer_for_its_exact_time() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        engine.deadline_timers.enabled = True  # as with the loops running
        loop = asyncio.get_running_loop()
        before = loop.time()
        await engine.start_workflow("wf", ARGS, "a", 1500)
        [handle] = engine.deadline_timers._handles
        assert 1.5 <= handle.when() - before < 1.6  # not the next poll of the store
        clock.advance(1.5)
        handle._run()  # type: ignore[attr-defined]  # fire it now
        await settle()
        wf = await engine.get_workflow("a")
        assert wf.status is WorkflowStatus.CANCELLED

    run(body)
