"""The engine's select over anything (issue 11) on the in-memory store, with a
fake clock: completion points, the recorded value, what a losing go_recv
leaves, holding then parking, child workflows and their cancellation."""

from __future__ import annotations

import json

from coordinator.core.engine import Engine
from coordinator.core.records import NewMessage, StepKind, StepRecord, Value, WorkflowStatus
from coordinator.core.selects import FOREVER_MS
from tests.unit.fakes import FakeClock, count_calls, session
from tests.unit.test_engine import ARGS, ok, run, settle, step


def value(record: StepRecord | int) -> object:
    assert isinstance(record, StepRecord) and record.outcome.output is not None
    return json.loads(record.outcome.output.data)


async def running(engine: Engine, wid: str = "a") -> int:
    worker, _ = session(f"worker-{wid}", workflows=("wf", "child"))
    engine.register(worker)
    wf, _ = await engine.start_workflow("wf", ARGS, wid, None)
    return wf.epoch


def test_an_earlier_step_beats_a_later_message_which_stays() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        epoch = await running(engine)
        await engine.record_step(step("a", epoch, 0))  # a step, completed first
        clock.advance(1)
        await engine.start_wait("a", epoch, 1, "t", None)  # go_recv("t")
        clock.advance(1)
        await engine.send("a", "t", ok(b'"hi"').output, None)  # type: ignore[arg-type]
        decision = await engine.select_any("a", epoch, 2, [0, 1], [], None)
        assert isinstance(decision, StepRecord) and decision.select_index == 0
        assert value(decision) == {"index": 0, "step_number": 0, "candidates": [0, 1]}
        # The message is still there: the go_recv, selected alone, takes it.
        assert await engine.store.oldest_message_at("a", "t") is not None
        taken = await engine.select_any("a", epoch, 3, [1], [], None)
        assert isinstance(taken, StepRecord) and (taken.select_index, value(taken)) == (0, "hi")
        assert await engine.store.oldest_message_at("a", "t") is None
        # A go_recv that won before is taken: nothing is consumed for it again.
        await engine.send("a", "t", ok(b'"next"').output, None)  # type: ignore[arg-type]
        again = await engine.select_any("a", epoch, 4, [1], [1], None)
        assert isinstance(again, StepRecord)
        assert value(again) == {"index": 0, "step_number": 1, "candidates": [1]}
        assert await engine.store.oldest_message_at("a", "t") is not None
        # The decision is recorded once: asked again, the same answer.
        assert await engine.select_any("a", epoch, 3, [1], [], None) == taken

    run(body)


def test_a_message_before_the_timer_wins_and_the_timer_after_it() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        epoch = await running(engine)
        await engine.start_wait("a", epoch, 0, "t", None)
        timer = await engine.sleep("a", epoch, 1, 10_000)
        wake_at = value(timer)
        # Nothing yet: a hold of 0 answers at once with the timer's time.
        assert await engine.select_any("a", epoch, 2, [0, 1], [], 0) == wake_at
        clock.advance(11)
        decision = await engine.select_any("a", epoch, 2, [0, 1], [], 0)
        assert isinstance(decision, StepRecord) and (decision.select_index, value(decision)) == (1, None)
        # A message sent now is a later completion: the next select over the
        # same futures with a new timer picks the message.
        await engine.send("a", "t", ok(b'"late"').output, None)  # type: ignore[arg-type]
        await engine.sleep("a", epoch, 3, 10_000)
        decision = await engine.select_any("a", epoch, 4, [0, 3], [], 0)
        assert isinstance(decision, StepRecord) and (decision.select_index, value(decision)) == (0, "late")

    run(body)


def test_go_event_completes_when_the_key_is_set() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        epoch = await running(engine)
        other = await running(engine, "b")
        await engine.start_wait("a", epoch, 0, None, ("b", "ready"))
        assert await engine.select_any("a", epoch, 1, [0], [], 0) == FOREVER_MS
        await engine.set_event("b", other, 0, "ready", ok(b'"yes"').output)  # type: ignore[arg-type]
        decision = await engine.select_any("a", epoch, 1, [0], [], 0)
        assert value(decision) == "yes"

    run(body)


def test_a_parked_select_is_woken_by_a_message() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        worker, link = session("w", workflow_slots=1)
        engine.register(worker)
        wf, _ = await engine.start_workflow("wf", ARGS, "a", None)
        await engine.start_wait("a", wf.epoch, 0, "t", None)
        await engine.sleep("a", wf.epoch, 1, 3_600_000)
        await engine.park_select("a", wf.epoch, 2, [0, 1], [])
        parked = await engine.store.get_workflow("a")
        assert parked is not None and parked.owner is None
        await engine.dispatch_workflows()
        assert len(link.workflows) == 1  # not handed out again before what it waits for
        await engine.send("a", "other", ok(b'"no"').output, None)  # type: ignore[arg-type]
        await settle()
        assert await engine.store.get_step("a", 2) is None  # not its topic: still waiting
        await engine.send("a", "t", ok(b'"yes"').output, None)  # type: ignore[arg-type]
        await settle()
        # This coordinator parked it: the message's arrival decided it at once,
        # before any worker replays to the select.
        decided = await engine.store.get_step("a", 2)
        assert decided is not None and (decided.select_index, value(decided)) == (0, "yes")
        await engine.dispatch_workflows()
        assert [w.epoch for w in link.workflows] == [1, 3]

    run(body)


async def parked_on_message_or_timer(engine: Engine, timer_ms: int) -> int:
    """Workflow "a" parked in select([go_recv("t"), go_sleep(timer_ms)]); its epoch."""
    worker, _ = session("w", workflow_slots=1)
    engine.register(worker)
    wf, _ = await engine.start_workflow("wf", ARGS, "a", None)
    await engine.start_wait("a", wf.epoch, 0, "t", None)
    await engine.sleep("a", wf.epoch, 1, timer_ms)
    await engine.park_select("a", wf.epoch, 2, [0, 1], [])
    return wf.epoch


def test_the_message_that_wakes_a_parked_select_decides_it_without_a_read() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        await parked_on_message_or_timer(engine, 3_600_000)
        reads = count_calls(engine.store, "oldest_message_at")
        await engine.send("a", "t", ok(b'"yes"').output, None)  # type: ignore[arg-type]
        await settle()
        decided = await engine.store.get_step("a", 2)
        assert decided is not None and (decided.select_index, value(decided)) == (0, "yes")
        assert reads == []  # the go_recv completed alone: the message's own time stood in

    run(body)


def test_a_parked_select_orders_a_late_arrival_by_the_oldest_message_of_its_topic() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        await parked_on_message_or_timer(engine, 10_000)
        # A message this coordinator did not deliver (another one did, and its
        # note has not come yet), before the timer; then the timer is due.
        clock.advance(5)
        await engine.store.send_message(NewMessage("a", "t", Value("json", b'"early"'), None,
                                                   clock.now_ms()))
        clock.advance(6)
        reads = count_calls(engine.store, "oldest_message_at")
        await engine.send("a", "t", ok(b'"late"').output, None)  # type: ignore[arg-type]
        await settle()
        decided = await engine.store.get_step("a", 2)
        # Two complete: the order came from the store, where the go_recv's
        # oldest message came before the timer (the late one's time would not).
        assert reads == [("a", "t")]
        assert decided is not None and (decided.select_index, value(decided)) == (0, "early")

    run(body)


def test_children_start_once_are_listed_and_cancelled_with_their_parent() -> None:
    async def body(engine: Engine, clock: FakeClock) -> None:
        epoch = await running(engine, "p")
        started = await engine.start_child("p", epoch, 0, "child", ARGS, None, None)
        assert started.kind is StepKind.START_WORKFLOW and value(started) == {"workflow_id": "p/0"}
        assert await engine.start_child("p", epoch, 0, "child", ARGS, None, None) == started
        named = await engine.start_child("p", epoch, 1, "child", ARGS, "mine", None)
        assert value(named) == {"workflow_id": "mine"}
        children = await engine.list_workflows(None, None, 10, parent="p")
        assert sorted(w.workflow_id for w in children) == ["mine", "p/0"]
        assert {w.parent_workflow_id for w in children} == {"p"}
        # The child's end completes the future, with its outcome.
        child = await engine.get_workflow("p/0")
        await engine.finish_workflow("p/0", child.epoch, ok(b'"done"'))
        decision = await engine.select_any("p", epoch, 2, [0, 1], [], 0)
        assert isinstance(decision, StepRecord) and (decision.select_index, value(decision)) == (0, "done")
        await engine.cancel_workflow("p")
        assert (await engine.get_workflow("mine")).status is WorkflowStatus.CANCELLED
        assert (await engine.get_workflow("p/0")).status is WorkflowStatus.SUCCESS

    run(body)
