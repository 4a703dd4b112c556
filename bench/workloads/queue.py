"""queue: workflows of 3 no-op steps through a queue of concurrency C (the
peer's wf_throughput --mode queue, DBOS's queue polled every second).

- burst: the main thread enqueues N at once, as the peer does, then waits for
  them all. Throughput = N / (last end - first enqueue); latency enqueue ->
  end (the peer's figure) and enqueue -> start (the workflow's first line).
- paced: one at a time, each enqueued when the queue has room: enqueue ->
  start is then the push itself (the store commit, the dequeue, the hand-off
  to the worker), with no backlog to wait behind.

cpu_ms_per_wf: CPU time (user + system) of the coordinator, the worker and this
process (the client) over the burst, per workflow.
"""

from __future__ import annotations

import time
from typing import Any

from bench.cluster import cluster, cpu_by_role, cpu_ms_per_wf, start_worker
from bench.common import pct
from bench.workloads import main
from worker import Client

QUEUE = "bench_q"


def burst(client: Client, n: int) -> tuple[float, list[float], list[list[float]], float]:
    """(first enqueue, enqueue times, [start, end] of each, seconds to enqueue all)."""
    submits, handles = [], []
    start = time.time()
    for _ in range(n):
        submits.append(time.time())
        handles.append(client.enqueue(QUEUE, "bench_queued"))
    enqueued = time.time() - start
    return start, submits, [h.result(timeout=300) for h in handles], enqueued


def paced(client: Client, n: int) -> list[float]:
    """enqueue -> start of n workflows enqueued one after the other."""
    delays = []
    for _ in range(n):
        t0 = time.time()
        began, _ = client.enqueue(QUEUE, "bench_queued").result(timeout=60)
        delays.append(began - t0)
    return delays


def ms(xs: list[float], q: float) -> float:
    return round(pct(xs, q) * 1e3, 2)


def run(store: str, quick: bool) -> dict[str, Any]:
    n, c, m = (200, 32, 50) if quick else (1000, 32, 300)
    with cluster(store, "queue") as cl:
        client = cl.client()
        # Slots for the whole queue: the queue's limit is what holds them back.
        start_worker(cl, client, concurrency=c + 4, step_concurrency=c + 4)
        client.set_queue(QUEUE, concurrency=c)
        burst(client, min(100, n))  # warm-up
        cpu_before = cpu_by_role(cl)
        start, submits, spans, enqueue_all_s = burst(client, n)
        cpu = cpu_ms_per_wf(cpu_before, cpu_by_role(cl), n)
        delays = paced(client, m)
    ends = [e for _, e in spans]
    to_end = [e - s for s, e in zip(submits, ends, strict=True)]
    to_start = [b - s for s, (b, _) in zip(submits, spans, strict=True)]
    return {
        "mode": "queue", "n": n, "concurrency": c, "steps_per_wf": 3,
        "wall_s": round(max(ends) - start, 3), "enqueue_all_s": round(enqueue_all_s, 3),
        "wf_per_sec": round(n / (max(ends) - start), 1),
        "lat_p50_ms": ms(to_end, 50), "lat_p99_ms": ms(to_end, 99),
        "start_p50_ms": ms(to_start, 50), "start_p99_ms": ms(to_start, 99),
        "paced": {"n": m, "start_ms_p50": ms(delays, 50), "start_ms_p99": ms(delays, 99),
                  "start_ms_max": round(max(delays) * 1e3, 2)},
        "cpu_ms_per_wf": cpu,
    }


if __name__ == "__main__":
    main("queue", run)
