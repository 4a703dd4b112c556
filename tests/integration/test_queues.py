"""Queues end to end: real coordinator and worker processes, both stores."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import wait_for
from worker import DuplicateWorkflow, QueueInfo, WorkflowStatus

FLOWS = "tests.flows_queues"


def most_at_once(spans: list[dict[str, Any]]) -> int:
    """The largest number of [start, end] spans that overlap at any instant."""
    edges = sorted([(s["start"], 1) for s in spans] + [(s["end"], -1) for s in spans],
                   key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
    most = now = 0
    for _, change in edges:
        now += change
        most = max(most, now)
    return most


def test_concurrency_is_never_exceeded(cluster: Any) -> None:
    cluster.start_worker(FLOWS, concurrency=8)
    cluster.start_worker(FLOWS, concurrency=8)
    client = cluster.client()
    info = client.set_queue("three", concurrency=3)
    assert isinstance(info, QueueInfo) and info.concurrency == 3 and info.rate_limit is None
    handles = [client.enqueue("three", "queued_work", 0.02) for _ in range(60)]
    spans = [h.result(timeout=60) for h in handles]
    assert most_at_once(spans) <= 3
    assert most_at_once(spans) >= 2  # they did run side by side
    [queue] = [q for q in client.list_queues() if q.name == "three"]
    assert (queue.enqueued, queue.running) == (0, 0)
    done = handles[0].info()
    assert done.queue == "three" and done.started_at is not None


def test_worker_concurrency_and_partitions(cluster: Any) -> None:
    cluster.start_worker(FLOWS, concurrency=8)
    cluster.start_worker(FLOWS, concurrency=8)
    client = cluster.client()
    client.set_queue("per-worker", worker_concurrency=2)
    spans = [h.result(timeout=60) for h in
             [client.enqueue("per-worker", "queued_work", 0.05) for _ in range(24)]]
    by_worker: dict[int, list[dict[str, Any]]] = {}
    for s in spans:
        by_worker.setdefault(int(s["pid"]), []).append(s)
    assert all(most_at_once(mine) <= 2 for mine in by_worker.values())

    client.set_queue("tenants", partition_concurrency=1)
    keys = ["a", "b", "c"]
    handles = [client.enqueue("tenants", "queued_work", 0.05, key, partition_key=key)
               for _ in range(6) for key in keys]
    spans = [h.result(timeout=60) for h in handles]
    for key in keys:
        assert most_at_once([s for s in spans if s["key"] == key]) == 1
    assert most_at_once(spans) >= 2  # the keys in parallel


def test_rate_limit_holds_in_every_window(cluster: Any) -> None:
    cluster.start_worker(FLOWS, concurrency=8)
    client = cluster.client()
    client.set_queue("rated", rate_limit=(5, 1.0))
    handles = [client.enqueue("rated", "queued_work", 0.0) for _ in range(12)]
    for h in handles:
        h.result(timeout=60)
    starts = sorted(h.info().started_at.timestamp() * 1000 for h in handles)
    for i, first in enumerate(starts):
        assert sum(1 for t in starts[i:] if t < first + 1000) <= 5


def test_priorities_with_one_slot(cluster: Any) -> None:
    cluster.start_worker(FLOWS, concurrency=8)
    client = cluster.client()
    client.set_queue("one", concurrency=1)
    blocker = client.enqueue("one", "gated_work", "prio-gate")
    wait_for(lambda: blocker.status() == "PENDING", "the blocker to start")
    plan = [(5, "p5-a"), (1, "p1-a"), (5, "p5-b"), (0, "p0"), (1, "p1-b")]
    handles = [client.enqueue("one", "queued_work", 0.0, label, priority=p) for p, label in plan]
    assert all(h.status() == WorkflowStatus.ENQUEUED for h in handles)
    cluster.open_gate("prio-gate")
    spans = sorted((h.result(timeout=60) for h in handles), key=lambda s: s["start"])
    assert [s["key"] for s in spans] == ["p0", "p1-a", "p1-b", "p5-a", "p5-b"]


def test_deduplication_and_cancel_of_an_enqueued_workflow(cluster: Any) -> None:
    cluster.start_worker(FLOWS, concurrency=8)
    client = cluster.client()
    client.set_queue("dedup", concurrency=1)
    first = client.enqueue("dedup", "gated_work", "dedup-gate", deduplication_id="job-1")
    with pytest.raises(DuplicateWorkflow) as err:
        client.enqueue("dedup", "gated_work", "other", deduplication_id="job-1")
    assert err.value.workflow_id == first.workflow_id and err.value.code == "ALREADY_EXISTS"
    waiting = client.enqueue("dedup", "queued_work", 0.0)
    assert waiting.status() == "ENQUEUED"
    assert waiting.cancel() == "CANCELLED"
    cluster.open_gate("dedup-gate")
    assert first.result(timeout=30) == "dedup-gate"
    again = client.enqueue("dedup", "queued_work", 0.0, deduplication_id="job-1")
    assert again.result(timeout=30)["key"] == ""


def test_unknown_queue_bad_limits_and_enqueue_from_a_workflow(cluster: Any) -> None:
    from worker import CoordinatorError

    cluster.start_worker(FLOWS, concurrency=8)
    client = cluster.client()
    with pytest.raises(CoordinatorError) as err:
        client.enqueue("nope", "queued_work", 0.0)
    assert err.value.code == "NOT_FOUND"
    with pytest.raises(CoordinatorError) as err:
        client._call(client._stub.SetQueue, __import__("keel.v1.client_service_pb2", fromlist=["x"])
                     .SetQueueRequest(name="bad", limits={"concurrency": -1}), "setting")
    assert err.value.code == "INVALID_ARGUMENT"
    client.set_queue("children", concurrency=2)
    handle = client.start_workflow("fan_out", 4)
    assert handle.result(timeout=60) == [f"child-{i}" for i in range(4)]
    assert [s.name for s in handle.steps()] == ["enqueue:children"] * 4
