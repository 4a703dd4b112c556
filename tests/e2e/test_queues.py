"""Queues under faults and across processes: three coordinators on one
PostgreSQL sharing a queue's limit, a worker SIGKILLed while it runs queued
work, and the Node client enqueueing through the protos."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.e2e.test_node import NODE_DIR, ROOT, node  # noqa: F401  (a fixture)
from tests.integration.test_queues import FLOWS, most_at_once


def test_three_coordinators_share_one_limit(cluster_factory: Any, pg_url: str) -> None:
    c = cluster_factory(pg_url, log_level="INFO")
    c.start_coordinator()
    addresses = [c.address] + [c.start_peer()[1] for _ in range(2)]
    for address in addresses:  # workers on each coordinator
        c.start_worker(FLOWS, coordinator=address, concurrency=8, wait=False)
    for w in c.workers:
        wait_for_log(w, " connected to ")
    clients = [c.client(address) for address in addresses]
    clients[0].set_queue("shared", concurrency=3)
    with ThreadPoolExecutor(6) as pool:  # enqueued through every coordinator at once
        handles = list(pool.map(lambda i: clients[i % 3].enqueue("shared", "queued_work", 0.02, str(i)),
                                range(60)))
        spans = list(pool.map(lambda h: h.result(timeout=120), handles))
    assert most_at_once(spans) <= 3
    assert len({s["pid"] for s in spans}) >= 2  # the workers of several coordinators ran them


def wait_for_log(proc: Any, text: str) -> None:
    from tests.harness import wait_for

    wait_for(lambda: text in proc.log(), f"{text!r} in the log of {proc.pid}", 30)


def test_a_worker_killed_while_running_queued_work(cluster: Any) -> None:
    victim = cluster.start_worker(FLOWS, concurrency=8)
    cluster.start_worker(FLOWS, concurrency=8)
    client = cluster.client()
    client.set_queue("survive", concurrency=3, worker_concurrency=2)
    handles = [client.enqueue("survive", "queued_work", 0.3, str(i)) for i in range(20)]
    from tests.harness import wait_for

    wait_for(lambda: sum(1 for h in handles if h.status() == "SUCCESS") >= 3, "a few to finish", 60)
    victim.kill()
    spans = [h.result(timeout=120) for h in handles]
    assert sorted(str(s["key"]) for s in spans) == sorted(str(i) for i in range(20))
    assert most_at_once(spans) <= 3
    by_worker: dict[int, list[dict[str, Any]]] = {}
    for s in spans:
        by_worker.setdefault(int(s["pid"]), []).append(s)
    assert all(most_at_once(mine) <= 2 for mine in by_worker.values())


def test_node_client_enqueues(cluster: Any, node: str) -> None:  # noqa: F811
    import json

    cluster.start_worker(FLOWS, concurrency=4)
    cluster.client().set_queue("from-node", concurrency=1)
    done = subprocess.run(
        [node, str(NODE_DIR / "client.js"), "--coordinator", cluster.address, "queued_work", "[0.01, \"js\"]",
         "--queue", "from-node", "--workflow-id", "wf-node-queued", "--priority", "2",
         "--deduplication-id", "node-1", "--partition-key", "k"],
        cwd=ROOT, env=cluster.env, capture_output=True, text=True, timeout=90)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert done.returncode == 0, (lines, done.stderr)
    assert lines[0] == {"enqueued": "wf-node-queued", "created": True, "queue": "from-node"}
    assert lines[-1]["result"]["key"] == "js"
    info = cluster.client().get_workflow("wf-node-queued")
    assert info.queue == "from-node" and info.status == "SUCCESS"
