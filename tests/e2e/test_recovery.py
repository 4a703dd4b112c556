"""Crashes: workers and coordinators killed with SIGKILL mid-step, on both stores."""

from __future__ import annotations

import signal
from typing import Any

from tests.harness import wait_for


def test_worker_killed_mid_step_finishes_on_another_worker(cluster: Any) -> None:
    first = cluster.start_worker()
    client = cluster.client()
    handle = client.start_workflow("hold", "k1", workflow_id="wf-kill-worker")
    [pid] = cluster.wait_runs("k1")
    assert pid == first.pid
    second = cluster.start_worker()
    first.kill()
    # The step runs again on the survivor; let it through.
    cluster.wait_runs("k1", 2)
    cluster.open_gate("k1")
    result = handle.result(timeout=30)
    assert result["pid"] == second.pid
    # Finished before the kill: exactly once. After: once, on the survivor.
    assert cluster.runs("k1-before") == [first.pid]
    assert cluster.runs("k1") == [first.pid, second.pid]
    assert cluster.runs("k1-after") == [second.pid]
    assert [s.name for s in handle.steps()] == ["record", "gated", "record"]


def test_coordinator_killed_and_restarted_resumes_workflows(cluster: Any) -> None:
    worker = cluster.start_worker()
    client = cluster.client()
    handles = [client.start_workflow("hold", f"c{i}", workflow_id=f"wf-restart-{i}") for i in range(3)]
    for i in range(3):
        cluster.wait_runs(f"c{i}")
    cluster.coordinator.kill()
    cluster.start_coordinator()
    # The same worker process reconnects by itself.
    cluster.wait_connected(worker, times=2)
    for i in range(3):
        cluster.open_gate(f"c{i}")
    for i, handle in enumerate(handles):
        assert handle.result(timeout=30)["pid"] == worker.pid
        assert cluster.runs(f"c{i}-before") == [worker.pid]
        assert cluster.runs(f"c{i}-after") == [worker.pid]
        assert handle.status() == "SUCCESS"
    assert worker.alive()


def test_late_outcome_of_a_fenced_worker_is_rejected(cluster_factory: Any, store_url: str) -> None:
    cluster = cluster_factory(store_url, **{"worker-timeout": 1.5})
    cluster.start_coordinator()
    paused = cluster.start_worker()
    client = cluster.client()
    handle = client.start_workflow("hold", "f1", workflow_id="wf-fence")
    cluster.wait_runs("f1")
    survivor = cluster.start_worker()
    # A frozen worker stops heartbeating: presumed dead, its work is handed over.
    paused.signal(signal.SIGSTOP)
    try:
        cluster.wait_runs("f1", 2, timeout=30)
        cluster.open_gate("f1")
        result = handle.result(timeout=30)
    finally:
        paused.signal(signal.SIGCONT)
    assert result["pid"] == survivor.pid
    # The thawed worker finishes its step and reports: the coordinator refuses it.
    wait_for(lambda: "was fenced off" in paused.log() or "lost its lease" in paused.log()
             or "stopped" in paused.log(), "the paused worker's late outcome to be refused")
    gated = [s for s in handle.steps() if s.name == "gated"]
    assert len(gated) == 1 and gated[0].output == survivor.pid
    assert handle.result(timeout=5)["pid"] == survivor.pid
