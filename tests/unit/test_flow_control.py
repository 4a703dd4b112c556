"""Writes to a worker stream are flow-controlled (issue 18, point 7): a worker
that does not read its stream is assigned nothing more, and what waits for it
in the coordinator's memory is bounded by the link's buffer and one claim batch,
not by the slots it declared."""

from __future__ import annotations

import asyncio

from coordinator.api.stream import StreamLink
from coordinator.core.claims import CLAIM_BATCH
from coordinator.core.dispatch import Dispatcher
from coordinator.core.records import NewWorkflow, Value
from coordinator.core.records import WorkflowRecord as WR
from coordinator.core.records import WorkflowStatus as WS
from tests.unit.fakes import count_calls, session
from tests.unit.test_engine import Engine, FakeClock, run

BIG = Value("json", b'{"args": ["' + b"x" * 100_000 + b'"]}')


def record(n: int) -> WR:
    return WR(f"w{n}", "wf", WS.PENDING, BIG, None, 1, 1, 1, 0, None, "node-a")


def test_a_link_is_congested_past_its_buffer_until_written() -> None:
    async def main() -> None:
        woken: list[bool] = []
        link = StreamLink(limit_bytes=250_000, on_writable=lambda: woken.append(True))
        for n in range(3):
            assert not link.congested
            link.send_workflow(record(n))
        assert link.congested and link.pending_bytes > 250_000
        waiter = asyncio.create_task(link.wait_writable())
        await asyncio.sleep(0)
        assert not waiter.done() and not woken
        _, size = link.queue.get_nowait()
        link.written(size)  # what the stream's writer does once gRPC took it
        assert not link.congested and woken == [True]
        await asyncio.wait_for(waiter, 1)

    asyncio.run(main())


def test_a_congested_worker_gets_nothing_until_it_catches_up() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        for n in range(100):
            await engine.store.create_workflow(NewWorkflow(f"w{n:03}", "wf", BIG, 1000 + n, None))
        s, link = session("w-1", workflow_slots=5000)
        engine.register(s)
        await engine.dispatch_workflows()
        # One batch at a time, whatever the slots.
        assert len(link.workflows) == CLAIM_BATCH
        link.congested = True  # the worker stopped reading
        for _ in range(3):
            await engine.dispatch_workflows()
        assert len(link.workflows) == CLAIM_BATCH and s.free_workflow_slots == 0
        assert s.free_step_slots == 0
        link.congested = False
        engine.stream_writable(s)
        assert engine.ctx.work.wake.is_set()  # the dispatch loop looks again
        await engine.dispatch_workflows()
        assert len(link.workflows) == 2 * CLAIM_BATCH

    run(body)


def test_a_claim_in_flight_holds_its_slots_from_the_starts_served_meanwhile() -> None:
    """A worker is never handed more than its slots: while the dispatch loop's
    claim waits for the store, a start waits for it, then finds what is left."""
    async def body(engine: Engine, clock: FakeClock) -> None:
        for n in range(10):
            await engine.store.create_workflow(NewWorkflow(f"w{n:03}", "wf", BIG, 1000 + n, None))
        s, link = session("w-1", workflow_slots=4)
        engine.register(s)
        gate = slow_claims(engine)
        dispatching = asyncio.create_task(engine.dispatch_workflows())
        await asyncio.sleep(0)
        assert s.free_workflow_slots == 0  # held by the claim in flight
        starting = asyncio.create_task(engine.start_workflow("wf", BIG, "started-meanwhile", None))
        await asyncio.sleep(0.01)
        assert not starting.done()  # it waits for the claim
        gate.set()
        await dispatching
        wf, _ = await starting
        assert wf.owner is None  # the claim took every slot: created unclaimed
        assert len(link.workflows) == 4 and s.running == 4 and s.free_workflow_slots == 0

    run(body)


def test_a_start_gets_the_slots_a_claim_in_flight_did_not_need() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        s, link = session("w-1", workflow_slots=1)
        engine.register(s)
        gate = slow_claims(engine)
        dispatching = asyncio.create_task(engine.dispatch_workflows())  # finds nothing
        await asyncio.sleep(0)
        starting = asyncio.create_task(engine.start_workflow("wf", BIG, "alone", None))
        await asyncio.sleep(0.01)
        gate.set()
        await dispatching
        wf, _ = await starting
        assert wf.owner == "node-a" and [w.workflow_id for w in link.workflows] == ["alone"]
        assert not engine.ctx.work.starved  # nobody waits for a slot: held waits stay held

    run(body)


def test_a_claim_that_fills_every_slot_wants_one_only_if_more_wait() -> None:
    """A claim taking exactly as many as the worker's free slots: held waits
    give their slots back (starved) only if another workflow waits for one.
    It once did at every such claim, and a recv held on a one-slot worker
    parked for nothing. The store is asked once, and only when a wait would
    hold a slot: not on the path of every claim of a backlog."""
    async def body(engine: Engine, clock: FakeClock) -> None:
        asked = count_calls(engine.store, "has_claimable")
        await engine.store.create_workflow(NewWorkflow("w-only", "wf", BIG, 1000, None))
        s, link = session("w-1", workflow_slots=1)
        engine.register(s)
        await engine.dispatch_workflows()
        assert [w.workflow_id for w in link.workflows] == ["w-only"] and asked == []
        assert not await engine.ctx.slot_is_wanted()
        assert not await engine.ctx.slot_is_wanted() and len(asked) == 1
        s2, link2 = session("w-2", workflow_slots=1)
        engine.register(s2)
        for n in range(2):
            await engine.store.create_workflow(NewWorkflow(f"w-{n}", "wf", BIG, 2000 + n, None))
        engine.ctx.work.more()
        await engine.dispatch_workflows()
        assert [w.workflow_id for w in link2.workflows] == ["w-0"]
        assert await engine.ctx.slot_is_wanted()  # w-1 waits for a slot
        assert engine.ctx.work.starved and len(asked) == 2

    run(body)


def test_a_claim_that_takes_the_workflow_a_start_wanted_a_slot_for_ends_the_want() -> None:
    """A start found every slot taken (held by a claim in flight, say) and
    created its workflow unowned, wanting a slot; the next claim took it. A
    wait held afterwards keeps its slot: nothing else waits. (The want
    outlived the claim, and such a recv parked at once: a CI flake.)"""
    async def body(engine: Engine, clock: FakeClock) -> None:
        s, link = session("w-1", workflow_slots=1)
        engine.register(s)
        await engine.store.create_workflow(NewWorkflow("w-wanted", "wf", BIG, 1000, None))
        engine.ctx.work.more()
        engine.ctx.work.want_slot()  # as the start that found no slot did
        await engine.dispatch_workflows()
        assert [w.workflow_id for w in link.workflows] == ["w-wanted"]
        assert not await engine.ctx.slot_is_wanted()

    run(body)


def test_a_full_claim_asks_at_once_for_a_wait_holding_its_slot() -> None:
    """A wait holding its slot when a claim fills every free one is woken
    (to give the slot back) if the store says more wait."""
    async def body(engine: Engine, clock: FakeClock) -> None:
        for n in range(2):
            await engine.store.create_workflow(NewWorkflow(f"w-{n}", "wf", BIG, 1000 + n, None))
        s, _ = session("w-1", workflow_slots=1)
        engine.register(s)
        with engine.ctx.work.slot_wanted() as wanted:
            await engine.dispatch_workflows()
            assert wanted.done()

    run(body)


def slow_claims(engine: Engine) -> asyncio.Event:
    """Make the store's claims wait for the returned gate."""
    claim, gate = engine.store.claim_workflows, asyncio.Event()

    async def slow_claim(*args: object) -> list[WR]:
        await gate.wait()
        return await claim(*args)  # type: ignore[arg-type]

    engine.store.claim_workflows = slow_claim  # type: ignore[method-assign]
    return gate


def test_only_holds_of_workflow_slots_make_starts_wait() -> None:
    """Dispatcher.unheld: cleared by a claim's (or a dequeue's) hold of
    workflow slots until its release; a hold of step slots leaves it set."""
    async def main() -> None:
        engine_session, _ = session("w-1", workflow_slots=2, step_slots=2)
        dispatcher = Dispatcher()
        dispatcher.add_worker(engine_session)
        steps = dispatcher.hold(engine_session, 5, step=True)
        assert steps is not None and dispatcher.unheld.is_set()
        first, second = dispatcher.hold(engine_session, 1), dispatcher.hold(engine_session, 5)
        assert first is not None and second is not None and second.count == 1
        assert not dispatcher.unheld.is_set() and engine_session.free_workflow_slots == 0
        dispatcher.release(first)
        dispatcher.release(first)  # twice: counted once
        assert not dispatcher.unheld.is_set()
        dispatcher.release(second)
        assert dispatcher.unheld.is_set() and engine_session.free_workflow_slots == 2
        dispatcher.release(steps)
        assert engine_session.free_step_slots == 2

    asyncio.run(main())
