"""Events, messages and durable sleep, with real processes, on both stores."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.harness import wait_for
from tests.integration.test_select import replays
from worker import WorkflowNotFound


def in_thread(fn: Any, *args: Any) -> dict[str, Any]:
    """Run fn in a thread; the dict gets "value" (or "error") when it returns."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            box["error"] = e

    box["thread"] = threading.Thread(target=run, daemon=True)
    box["thread"].start()
    return box


def joined(box: dict[str, Any], timeout: float = 30) -> Any:
    box["thread"].join(timeout)
    assert not box["thread"].is_alive(), "the call did not return in time"
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_get_event_blocks_until_set_and_sees_the_latest(cluster: Any) -> None:
    cluster.start_worker()
    client = cluster.client()
    # A reader may wait for a workflow that does not exist yet.
    early = in_thread(client.get_event, "wf-pub", "status", 30)
    handle = client.start_workflow("publisher", "p", workflow_id="wf-pub")
    assert joined(early) == "started"
    assert client.get_event("wf-pub", "progress", timeout=5) == 1
    cluster.open_gate("p")
    assert handle.result(timeout=30) == "published"
    assert client.get_event("wf-pub", "status", timeout=5) == "done"
    # Timeout: None, after the timeout and not much later.
    t0 = time.monotonic()
    assert client.get_event("wf-pub", "never-set", timeout=0.5) is None
    assert 0.45 <= time.monotonic() - t0 < 2.0
    steps = [(s.kind, s.name) for s in handle.steps()]
    assert steps == [("SET_EVENT", "status"), ("SET_EVENT", "progress"), ("STEP", "gated"),
                     ("SET_EVENT", "status")]


def test_reader_inside_a_workflow_is_checkpointed(cluster: Any) -> None:
    cluster.start_worker()
    client = cluster.client()
    reader = client.start_workflow("event_reader", "wf-pub2", "status", 30, workflow_id="wf-reader")
    with pytest.raises(TimeoutError):
        reader.result(timeout=0.3)
    client.start_workflow("publisher", "p2", workflow_id="wf-pub2")
    assert reader.result(timeout=30) == "started"
    cluster.open_gate("p2")
    client.retrieve_workflow("wf-pub2").result(timeout=30)
    # The value has changed since, but a replay returns what was read.
    assert replays(cluster, "wf-reader", 3) == ["started"] * 3
    timed_out = client.start_workflow("event_reader", "wf-pub2", "never", 0.5, workflow_id="wf-r2")
    assert timed_out.result(timeout=30) is None


def test_watch_events_streams_all_in_order_and_ends(cluster: Any) -> None:
    cluster.start_worker()
    client = cluster.client()
    handle = client.start_workflow("publisher", "w", workflow_id="wf-watch")
    cluster.wait_runs("w")  # two events set before the watch starts
    box = in_thread(lambda: list(client.watch_events("wf-watch")))
    cluster.open_gate("w")
    handle.result(timeout=30)
    events = joined(box)
    assert [(e.seq, e.key, e.value) for e in events] == [
        (1, "status", "started"), (2, "progress", 1), (3, "status", "done")]
    assert [e.step_number for e in events] == [0, 1, 3]
    assert [e.seq for e in client.watch_events("wf-watch", after_seq=2)] == [3]
    with pytest.raises(WorkflowNotFound):
        list(client.watch_events("no-such-workflow"))


def test_messages_fifo_per_topic_idempotency_and_timeout(cluster: Any) -> None:
    cluster.start_worker()
    client = cluster.client()
    handle = client.start_workflow("receiver", {"a": 4, "b": 2, "": 1}, 30, workflow_id="wf-recv")
    for i in range(4):
        client.send("wf-recv", f"a{i}", topic="a")
    assert client.send("wf-recv", "b0", topic="b", idempotency_key="k1")
    assert not client.send("wf-recv", "b0 again", topic="b", idempotency_key="k1")
    client.send("wf-recv", "b1", topic="b")
    client.send("wf-recv", {"default": True})
    assert handle.result(timeout=30) == {"a": ["a0", "a1", "a2", "a3"], "b": ["b0", "b1"],
                                         "": [{"default": True}]}
    short = client.start_workflow("receiver", {"x": 1}, 0.5, workflow_id="wf-recv-timeout")
    assert short.result(timeout=30) == {"x": [None]}
    with pytest.raises(WorkflowNotFound):
        client.send("no-such-workflow", "hi")


def test_workflow_sends_exactly_once(cluster: Any) -> None:
    cluster.start_worker()
    client = cluster.client()
    inbox = client.start_workflow("receiver", {"t": 3}, 30, workflow_id="wf-inbox")
    out = client.start_workflow("sender", "wf-inbox", ["m0", "m1", "m2"], workflow_id="wf-sender")
    assert out.result(timeout=30) == "3 sent; then WorkflowNotFound"
    assert inbox.result(timeout=30) == {"t": ["m0", "m1", "m2"]}
    assert [s.kind for s in out.steps()] == ["SEND"] * 4


def test_messages_exactly_once_across_a_worker_crash(cluster: Any) -> None:
    first = cluster.start_worker()
    client = cluster.client()
    handle = client.start_workflow("receive_then_hold", "mx", workflow_id="wf-mx")
    client.send("wf-mx", "m1", topic="t")
    client.send("wf-mx", "m2", topic="t")
    cluster.wait_runs("mx")
    cluster.start_worker()
    first.kill()
    cluster.open_gate("mx")
    assert handle.result(timeout=30) == ["m1", "m2"]


def test_events_and_messages_survive_a_coordinator_crash(cluster: Any) -> None:
    worker = cluster.start_worker()
    client = cluster.client()
    pub = client.start_workflow("publisher", "cc", workflow_id="wf-pub-cc")
    inbox = client.start_workflow("receive_then_hold", "cc-in", workflow_id="wf-in-cc")
    client.send("wf-in-cc", "before", topic="t")
    cluster.wait_runs("cc")
    cluster.wait_runs("cc-in")
    client.send("wf-in-cc", "queued", topic="t")
    cluster.coordinator.kill()
    cluster.start_coordinator()
    cluster.wait_connected(worker, times=2)
    assert client.get_event("wf-pub-cc", "status", timeout=5) == "started"
    cluster.open_gate("cc")
    cluster.open_gate("cc-in")
    assert pub.result(timeout=30) == "published"
    assert inbox.result(timeout=30) == ["before", "queued"]


def test_sleep_across_a_worker_crash_wakes_at_the_original_time(cluster: Any) -> None:
    # A long park-after keeps the sleep on the worker, so the crash interrupts it.
    first = cluster.start_worker(extra=["--park-after", "30"])
    handle = cluster.client().start_workflow("sleeper", "s", 3.0, workflow_id="wf-sleep")
    cluster.wait_runs("s-start")
    cluster.start_worker(extra=["--park-after", "30"])
    time.sleep(1.0)  # the scenario itself: kill it a second into its sleep
    first.kill()
    start, end = handle.result(timeout=30)
    # Slept 3 s in all from its start, not 1 + 3.
    assert 3.0 <= end - start < 3.9, end - start
    assert len(cluster.runs("s-start")) == 1


def test_sleeping_workflow_holds_no_worker_slot(cluster: Any) -> None:
    worker = cluster.start_worker(concurrency=1)
    client = cluster.client()
    sleeping = client.start_workflow("sleeper", "z", 2.0, workflow_id="wf-zz")
    cluster.wait_runs("z-start")
    other = client.start_workflow("three_steps", "meanwhile", workflow_id="wf-meanwhile")
    assert other.result(timeout=30)
    finished_other = time.time()
    start, end = sleeping.result(timeout=30)
    assert finished_other < end and end - start >= 2.0
    assert "parked" in worker.log()


def test_thousand_workflows_waiting_in_recv_on_a_small_worker(cluster: Any) -> None:
    worker = cluster.start_worker(concurrency=4)
    client = cluster.client()
    n = 1000
    handles = [client.start_workflow("receiver", {"go": 1}, 600, workflow_id=f"wf-wait-{i}")
               for i in range(n)]

    # Every one reaches its recv and parks: the worker runs 4 at a time.
    wait_for(lambda: worker.log().count("parked") >= n, f"{n} workflows to park", timeout=120)
    threads = int(next(line.split()[1] for line in open(f"/proc/{worker.pid}/status")
                       if line.startswith("Threads:")))
    assert threads < 100, threads
    for i in range(n):
        client.send(f"wf-wait-{i}", i, topic="go")
    for i, h in enumerate(handles):
        assert h.result(timeout=120) == {"go": [i]}


def test_a_held_recv_gives_its_slot_to_a_workflow_waiting_for_one(cluster: Any) -> None:
    # Two slots: one held by a recv (for up to 300 s), one by a gated step. A
    # third workflow waits for a slot: the coordinator ends the hold, the recv
    # parks at once, and the third runs while the gate is still closed.
    worker = cluster.start_worker(concurrency=2, extra=["--park-after", "300"])
    client = cluster.client()
    waiting = client.start_workflow("steps_around_recv", "held", 1, workflow_id="wf-held")
    cluster.wait_runs("held-0")
    gated = client.start_workflow("hold", "gate-b", workflow_id="wf-gated")
    cluster.wait_runs("gate-b-before")
    other = client.start_workflow("three_steps", "needs-slot", workflow_id="wf-needs-slot")
    assert other.result(timeout=60) == [f"needs-slot-{i}-done" for i in range(3)]
    assert "wf-held (execution 1) parked" in worker.log()
    client.send("wf-held", "late", topic="go")
    assert waiting.result(timeout=60) == ["held-0-done", "late", "held-after-done"]
    cluster.open_gate("gate-b")
    assert gated.result(timeout=60)["after"] == "gate-b-after-done"


@pytest.mark.parametrize("before", [3, 70])  # a short history goes with the assignment; a long one is paged
def test_a_woken_workflow_replays_its_history_exactly_once(cluster: Any, before: int) -> None:
    worker = cluster.start_worker(concurrency=2, extra=["--park-after", "0"])
    client = cluster.client()
    handle = client.start_workflow("steps_around_recv", "h", before, workflow_id=f"wf-wake-{before}")
    wait_for(lambda: f"wf-wake-{before} (execution 1) parked" in worker.log(), "the recv to park",
             timeout=60)
    client.send(f"wf-wake-{before}", {"n": before}, topic="go")
    expected = [*(f"h-{i}-done" for i in range(before)), {"n": before}, "h-after-done"]
    assert handle.result(timeout=60) == expected
    for i in range(before):
        assert len(cluster.runs(f"h-{i}")) == 1  # replayed from the history, never run again
    assert len(cluster.runs("h-after")) == 1
