"""Parking and waking made cheap (issue 17): a recv parks in its own call, a
held wait gives its slot to a workflow waiting for one, and a woken workflow's
short history goes with its assignment. In-process, on the memory store."""

from __future__ import annotations

import asyncio
import dataclasses

from coordinator.api import convert
from coordinator.core.engine import Engine
from coordinator.core.records import Outcome, Value
from coordinator.core.waits import SHORT_HISTORY
from tests.unit.fakes import FakeClock, session
from tests.unit.test_engine import ARGS, run, step


def test_recv_parks_in_its_own_call_and_wakes_with_its_history() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        worker, link = session("w1", workflow_slots=1)
        engine.register(worker)
        await engine.start_workflow("wf", ARGS, "a", None)
        first = await engine.record_step(step("a", 1, 0))
        deadline = await engine.receive("a", 1, 1, "t", timeout_ms=60_000, hold_ms=0, park=True)
        assert deadline == clock.now_ms() + 60_000
        assert worker.free_workflow_slots == 1 and engine.dispatch.execution("a") is None
        wf = await engine.get_workflow("a")
        assert (wf.owner, wf.epoch) == (None, 2)  # parked: no Park call needed
        assert await engine.send("a", "t", Value("json", b'"hi"'), None)
        await engine.dispatch_workflows()
        woken = link.workflows[-1]
        assert (woken.epoch, woken.history) == (3, (first,))
        got = await engine.receive("a", 3, 1, "t", timeout_ms=60_000, hold_ms=0, park=True)
        assert not isinstance(got, int) and got.outcome.output == Value("json", b'"hi"')

    run(body)


def test_a_long_history_is_not_read_with_the_claim() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        worker, link = session("w1", workflow_slots=1)
        engine.register(worker)
        await engine.start_workflow("wf", ARGS, "a", None)
        for n in range(SHORT_HISTORY + 1):
            await engine.record_step(step("a", 1, n))
        await engine.receive("a", 1, SHORT_HISTORY + 1, "t", 60_000, 0, park=True)
        await engine.send("a", "t", Value("json", b"1"), None)
        await engine.dispatch_workflows()
        assert link.workflows[-1].epoch == 3 and link.workflows[-1].history is None

    run(body)


def test_a_held_recv_ends_when_a_workflow_waits_for_a_slot() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        worker, link = session("w1", workflow_slots=1)
        engine.register(worker)
        await engine.start_workflow("wf", ARGS, "a", None)
        # Held for an hour of a clock that never moves: only a wanted slot ends it.
        held = asyncio.ensure_future(engine.receive("a", 1, 0, "t", 60_000, 3_600_000, park=True))
        for _ in range(50):  # let it reach its hold
            await asyncio.sleep(0)
        assert not held.done()
        await engine.start_workflow("wf", ARGS, "b", None)  # no free slot: it waits in the store
        assert await asyncio.wait_for(held, 5) == clock.now_ms() + 60_000
        assert worker.free_workflow_slots == 1  # parked, its slot back
        await engine.dispatch_workflows()
        assert [w.workflow_id for w in link.workflows] == ["a", "b"]

    run(body)


def test_an_assignment_carries_a_short_history_only() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        engine.register(session("w1")[0])
        wf, _ = await engine.start_workflow("wf", ARGS, "a", None)
        small = await engine.record_step(step("a", 1, 0))
        sent = convert.run_workflow(dataclasses.replace(wf, step_seq=1, history=(small,))).run_workflow
        assert sent.history_complete and [s.step_number for s in sent.history] == [0]
        big = dataclasses.replace(small, outcome=Outcome(
            output=Value("json", b'"' + b"x" * convert.ASSIGNED_HISTORY_BYTES + b'"')))
        sent = convert.run_workflow(dataclasses.replace(wf, step_seq=1, history=(big,))).run_workflow
        assert sent.has_history and not sent.history_complete and not sent.history  # paged instead

    run(body)


def test_a_set_event_makes_the_coordinator_claim_only_when_it_woke_a_parked_reader() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        engine.register(session("w1", workflow_slots=2)[0])
        await engine.start_workflow("wf", ARGS, "setter", None)
        await engine.start_workflow("wf", ARGS, "reader", None)
        assert isinstance(await engine.read_event("reader", 1, 0, "setter", "k", 60_000, 0, park=True), int)
        work = engine.ctx.work
        hints = work.generation
        await engine.set_event("setter", 1, 0, "other", Value("json", b"1"))
        assert work.generation == hints  # no one parked on it: no claim
        await engine.set_event("setter", 1, 1, "k", Value("json", b"2"))
        assert work.generation == hints + 1  # the parked reader is claimable now
        await engine.dispatch_workflows()
        assert (await engine.get_workflow("reader")).owner is not None

    run(body)
