"""Select over anything (issue 11), with real processes on both stores:
messages, timers, events, child workflows and steps in one select, decided
and recorded by the coordinator; parked while it waits."""

from __future__ import annotations

import threading
import time
from typing import Any

import tests.flows_select  # noqa: F401  (registers the workflows the replays run)
from tests.harness import wait_for
from tests.replays import replay

FLOWS = "tests.flows_select"


def kinds(handle: Any) -> dict[int, str]:
    return {s.step_number: s.kind for s in handle.steps()}


def send_later(client: Any, workflow_id: str, message: object, topic: str, after: float) -> threading.Thread:
    t = threading.Thread(target=lambda: (time.sleep(after), client.send(workflow_id, message, topic=topic)))
    t.start()
    return t


def test_the_approval_message_wins_before_the_timer(cluster: Any) -> None:
    cluster.start_worker(FLOWS)
    client = cluster.client()
    handle = client.start_workflow("approval", 30.0, workflow_id="approve-yes")
    send_later(client, "approve-yes", {"ok": True}, "approval", 0.5).join()
    assert handle.result(timeout=30) == [0, {"ok": True}, None]
    decision = handle.steps()[2]
    assert (decision.kind, decision.select_index, decision.output) == ("SELECT", 0, {"ok": True})
    replay(cluster.address, "approve-yes")


def test_the_timer_wins_and_a_later_message_is_received_later(cluster: Any) -> None:
    cluster.start_worker(FLOWS)
    client = cluster.client()
    started = time.monotonic()
    handle = client.start_workflow("approval", 1.0, workflow_id="approve-late")
    wait_for(lambda: "SELECT" in kinds(handle).values(), "the timer to win", timeout=30)
    assert time.monotonic() - started >= 1.0  # not before its duration
    client.send("approve-late", "late", topic="approval")
    assert handle.result(timeout=30) == [1, None, "late"]
    replay(cluster.address, "approve-late")


def test_a_step_completed_earlier_beats_a_message_and_the_message_stays(cluster: Any) -> None:
    cluster.start_worker(FLOWS)
    client = cluster.client()
    handle = client.start_workflow("step_then_message", "stm", workflow_id="stm")
    cluster.wait_runs("stm")  # the quick step was started before; the workflow waits at the gate
    wait_for(lambda: 0 in kinds(handle), "the quick step to be recorded")
    client.send("stm", "kept", topic="t")
    cluster.open_gate("stm")
    assert handle.result(timeout=30) == [0, "stm-quick", "kept"]
    replay(cluster.address, "stm")


def test_the_timer_stays_the_winner_after_a_crash_and_the_message_comes_once(cluster: Any) -> None:
    first = cluster.start_worker(FLOWS)
    client = cluster.client()
    handle = client.start_workflow("timer_then_hold", "tth", workflow_id="tth")
    cluster.wait_runs("tth")  # the select is recorded: the timer won
    client.send("tth", "after", topic="m")
    cluster.start_worker(FLOWS)
    first.kill()
    cluster.open_gate("tth")
    assert handle.result(timeout=30) == [1, None, "after"]
    recvs = [s for s in handle.steps() if s.kind == "RECV"]
    assert [s.output for s in recvs] == ["after"]
    replay(cluster.address, "tth")


def test_a_fast_step_beats_a_slow_child_and_the_reverse(cluster: Any) -> None:
    cluster.start_worker(FLOWS)
    client = cluster.client()
    step_wins = client.start_workflow("child_race", "sw", 2.0, 0.1, workflow_id="sw")
    child_wins = client.start_workflow("child_race", "cw", 0.1, 2.0, workflow_id="cw")
    assert step_wins.result(timeout=30) == [1, "sw-step", "sw-child", "sw-step", "sw/0"]
    assert child_wins.result(timeout=30) == [0, "cw-child", "cw-child", "cw-step", "cw/0"]
    for parent in ("sw", "cw"):
        (child,) = client.list_workflows(parent=parent)
        assert (child.workflow_id, child.parent_workflow_id, child.name) == (
            f"{parent}/0", parent, "slow_child")
        assert client.get_workflow(f"{parent}/0").parent_workflow_id == parent
        assert client.get_workflow(parent).parent_workflow_id is None
        assert len(cluster.runs(f"{parent}-child")) == 1
        replay(cluster.address, parent)


def test_a_failed_child_winner_raises_its_error(cluster: Any) -> None:
    cluster.start_worker(FLOWS)
    handle = cluster.client().start_workflow("parent_of_failing", workflow_id="pof")
    assert handle.result(timeout=30) == ["ValueError", True, "child broke", "ValueError"]
    assert cluster.client().get_workflow("pof/0").status.value == "ERROR"
    replay(cluster.address, "pof")


def test_go_event_against_a_timer(cluster: Any) -> None:
    cluster.start_worker(FLOWS)
    client = cluster.client()
    waits = client.start_workflow("event_or_timer", "setter", 30.0, workflow_id="eot")
    wait_for(lambda: "GO_EVENT" in kinds(waits).values(), "the go_event future")
    client.start_workflow("set_ready", "yes", workflow_id="setter")
    assert waits.result(timeout=30) == [0, "yes"]
    alone = client.start_workflow("event_or_timer", "nobody", 0.5, workflow_id="eot-timer")
    assert alone.result(timeout=30) == [1, None]
    replay(cluster.address, "eot")
    replay(cluster.address, "eot-timer")


def test_cancelling_a_parent_mid_wait_cancels_its_children(cluster: Any) -> None:
    cluster.start_worker(FLOWS)
    client = cluster.client()
    parent = client.start_workflow("parent_of_waiting", workflow_id="pow")
    children = wait_for(lambda: client.list_workflows(parent="pow"), "the child to start")
    wait_for(lambda: "SLEEP" in kinds(parent).values(), "the parent to wait in its select")
    parent.cancel()
    wait_for(lambda: client.get_workflow(children[0].workflow_id).status.value == "CANCELLED",
             "the child to be cancelled")
    assert client.get_workflow("pow").status.value == "CANCELLED"


def test_many_parked_selects_hold_no_slot_and_all_wake(cluster: Any) -> None:
    cluster.start_worker(FLOWS, concurrency=4)
    client = cluster.client()
    ids = [f"many-{i}" for i in range(500)]
    for wid in ids:
        client.start_workflow("message_or_hour", workflow_id=wid)

    def parked() -> bool:
        return sum(1 for w in client.list_workflows(name="message_or_hour", limit=1000)
                   if w.epoch >= 2) == len(ids)
    wait_for(parked, "every select to park", timeout=120, every=0.5)
    quick = client.start_workflow("quick_one", "q", workflow_id="many-quick")
    assert quick.result(timeout=20) == "q"
    for wid in ids:
        client.send(wid, wid, topic="go")
    for wid in ids:
        assert client.retrieve_workflow(wid).result(timeout=120) == [0, wid]
    replay(cluster.address, ids[0])
