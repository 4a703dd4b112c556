"""Several coordinators on one PostgreSQL database: steps routed through the
store, a dead coordinator taken over in seconds, workers and clients failing
over between addresses, and a paused coordinator's late writes refused."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.harness import free_port, wait_for
from worker import WorkflowCancelled


def test_a_step_only_another_coordinators_worker_serves(cluster_factory: Any, pg_url: str) -> None:
    c = cluster_factory(pg_url)
    c.start_coordinator()
    _, b = c.start_peer()
    c.start_worker("tests.flows_ha")  # serves cross and local_a, connected to A
    c.start_worker("tests.flows_ha_remote", coordinator=b)  # serves only remote_b, on B
    for via, label in ((c.address, "via-a"), (b, "via-b")):
        handle = c.client(via).start_workflow("cross", label)
        assert handle.result(timeout=30) == [f"a:{label}", f"b:{label}"]
        assert len(c.runs(f"remote_b-{label}")) == 1


def test_a_client_and_a_worker_skip_a_dead_address(cluster_factory: Any, pg_url: str) -> None:
    c = cluster_factory(pg_url)
    c.start_coordinator()
    dead = f"127.0.0.1:{free_port()}"
    c.start_worker("tests.flows_ha", "tests.flows_ha_remote", coordinator=f"{dead},{c.address}")
    client = c.client(f"{dead},{c.address}")
    handle = client.start_workflow("cross", "skip")
    assert handle.result(timeout=30) == ["a:skip", "b:skip"]


def test_three_coordinators_one_killed_mid_run(cluster_factory: Any, pg_url: str) -> None:
    n = 500
    c = cluster_factory(pg_url, log_level="INFO")
    c.start_coordinator()
    peers = [c.start_peer() for _ in range(2)]
    addresses = [c.address] + [address for _, address in peers]
    # Four workers, each given all three addresses (rotated, so they spread):
    # two serve the workflows and local steps, two only the remote step.
    for i in range(4):
        order = ",".join(addresses[i % 3:] + addresses[:i % 3])
        module = "tests.flows_ha" if i % 2 == 0 else "tests.flows_ha_remote"
        c.start_worker(module, coordinator=order, concurrency=16, step_concurrency=16)
    client = c.client(",".join(addresses))
    with ThreadPoolExecutor(8) as pool:
        handles = list(pool.map(lambda i: client.start_workflow("mix", f"m{i}", workflow_id=f"mix-{i}"),
                                range(n)))
    victim = peers[0][0]
    wait_for(lambda: len(c.runs_prefix("remote_b-")) >= n // 3, "a third of the remote steps", 120)
    victim.kill()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda h: h.result(timeout=180), handles))
    for i, result in enumerate(results):
        assert result["a"] == f"a:m{i}" and result["remote"] == f"b:m{i}"
        assert result["local"] == f"a:m{i}-go" and result["message"] == f"m{i}"
    # Every step's outcome is recorded once, at consecutive numbers.
    for h in handles[:: n // 25]:
        assert [s.step_number for s in h.steps()] == list(range(len(h.steps())))
    # A step ran again only if it was in flight where the coordinator died:
    # at most once more, and no more often than the slots of the workers.
    reruns = sum(len(pids) - 1 for pids in c.runs_prefix("remote_b-").values())
    reruns += sum(len(pids) - 1 for pids in c.runs_prefix("local_a-").values())
    assert all(len(pids) <= 2 for pids in c.runs_prefix("").values())
    assert reruns <= 4 * (16 + 16), reruns


def test_a_paused_coordinator_is_taken_over_and_its_late_writes_refused(
        cluster_factory: Any, pg_url: str) -> None:
    c = cluster_factory(pg_url)
    paused = c.start_coordinator()
    _, b = c.start_peer()
    first = c.start_worker("tests.flows_ha")  # on A only
    second = c.start_worker("tests.flows_ha", coordinator=b)  # on B only
    started = c.client().start_workflow("held_flow", "h")  # through A: for A's free worker
    handle = c.client(b).retrieve_workflow(started.workflow_id)  # read through B: A will hang
    assert wait_for(lambda: c.runs("h"), "the held step to start") == [first.pid]
    paused.signal(signal.SIGSTOP)
    try:
        # The others take its workflow over after --node-timeout (3 s).
        runs = c.wait_runs("h", 2, timeout=30)
        assert runs[1] == second.pid
        c.open_gate("h")
        assert handle.result(timeout=30) == second.pid
    finally:
        paused.signal(signal.SIGCONT)
    # Back, it learns it was presumed dead; what its worker recorded late is refused.
    wait_for(lambda: "presumed dead" in paused.log(), "the paused coordinator to learn", 30)
    steps = handle.steps()
    assert len(steps) == 1 and steps[0].output == second.pid
    assert handle.result(timeout=5) == second.pid


def test_a_coordinator_whose_workers_are_full_leaves_work_to_the_others(
        cluster_factory: Any, pg_url: str) -> None:
    c = cluster_factory(pg_url)
    c.start_coordinator()
    _, b = c.start_peer()
    busy = c.start_worker("tests.flows_ha", concurrency=1)  # A's only slot
    client = c.client()
    held = client.start_workflow("held_flow", "busy")
    assert wait_for(lambda: c.runs("busy"), "A's worker to be busy") == [busy.pid]
    free = c.start_worker("tests.flows_ha", "tests.flows_ha_remote", coordinator=b)
    # Started through A, which has no free slot: it does not hold the workflow,
    # B's free worker runs it at once.
    assert client.start_workflow("cross", "fair").result(timeout=30) == ["a:fair", "b:fair"]
    assert c.runs("local_a-fair") == [free.pid]
    c.open_gate("busy")
    assert held.result(timeout=30) == busy.pid
def test_a_message_sent_through_b_wins_a_select_on_a(cluster_factory: Any, pg_url: str) -> None:
    """Select over anything across coordinators (issue 11): the worker holds
    its stream to A only; the message goes through B. Held in A (woken by
    B's NOTIFY) and parked (woken by the trigger of B's commit), it wins."""
    c = cluster_factory(pg_url)
    c.start_coordinator()
    _, b = c.start_peer()
    c.start_worker("tests.flows_select")
    on_a, via_b = c.client(), c.client(b)
    held = on_a.start_workflow("approval", 3600.0, workflow_id="held")
    wait_for(lambda: any(s.kind == "SLEEP" for s in held.steps()), "the held select's timer")
    via_b.send("held", "through b", topic="approval")
    assert held.result(timeout=30) == [0, "through b", None]
    parked = on_a.start_workflow("approval", 3600.0, workflow_id="parked")
    wait_for(lambda: on_a.get_workflow("parked").epoch >= 2, "the select to park", timeout=30)
    via_b.send("parked", "through b too", topic="approval")
    assert parked.result(timeout=30) == [0, "through b too", None]


def test_a_workflow_cancelled_through_b_ends_the_wait_on_a_that_runs_it(
        cluster_factory: Any, pg_url: str) -> None:
    """A runs the workflow and holds the client's AwaitWorkflow, which skips
    the store while A ends it itself; B cancels it: B's note wakes A's wait,
    which reads the end A did not commit."""
    c = cluster_factory(pg_url)
    c.start_coordinator()
    _, b = c.start_peer()
    c.start_worker("tests.flows_ha")  # connected to A
    on_a = c.client()
    handle = on_a.start_workflow("held_flow", "cancel-me", workflow_id="cancel-me")
    wait_for(lambda: c.runs("cancel-me"), "the step to start on A's worker")
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(handle.result, 30)  # held in A
        c.client(b).retrieve_workflow("cancel-me").cancel()
        with pytest.raises(WorkflowCancelled):
            waiting.result(timeout=30)
    c.open_gate("cancel-me")  # the step's late outcome is refused
    assert on_a.get_workflow("cancel-me").status == "CANCELLED"
