"""wf_throughput: N workflows of 3 no-op steps, C in flight (the peer's --mode threads).

C client threads each start a workflow and wait for its result, over and over.
Latency is submit -> the result seen by the client (the peer's threads mode runs
the workflow in the caller's thread, so its "end" is also what the caller sees).
Throughput = N / (last end - first submit). A warm-up batch of 100 first.
cpu_ms_per_wf: CPU time (user + system) of the coordinator, the worker and this
process (the client) over the measured batch, per workflow.

Then the same batch from 4 × C threads on the same worker of C slots
(`backlog.*`): most starts find every slot taken and wait in the store for a
claim. A soak falls into that path after any hiccup and drains only as fast as
it runs, so `backlog.vs_direct` (its throughput over the first batch's) says
how far from the maximum a system may run and still recover.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.cluster import cluster, cpu_by_role, cpu_ms_per_wf, start_worker
from bench.common import pct
from bench.workloads import main
from worker import Client

# Client threads per worker slot in the backlog batch.
BACKLOG_CLIENTS = 4


def batch(client: Client, n: int, c: int) -> tuple[float, list[float], list[float]]:
    """Run n workflows with c threads: (start, submit times, end times)."""
    def one(_: int) -> tuple[float, float]:
        t0 = time.time()
        assert client.start_workflow("bench_three").result(timeout=300) == 3
        return t0, time.time()

    start = time.time()
    with ThreadPoolExecutor(max_workers=c) as ex:
        res = list(ex.map(one, range(n)))
    return start, [s for s, _ in res], [e for _, e in res]


def run(store: str, quick: bool) -> dict[str, Any]:
    n, c = (200, 32) if quick else (1000, 32)
    with cluster(store, "wf_throughput") as cl:
        client = cl.client()
        # Workflow slots for every client thread: the worker is not the limit.
        start_worker(cl, client, concurrency=c)
        batch(client, min(100, n), c)  # warm-up
        cpu_before = cpu_by_role(cl)
        start, submits, ends = batch(client, n, c)
        cpu = cpu_ms_per_wf(cpu_before, cpu_by_role(cl), n)
        cpu_before = cpu_by_role(cl)
        b_start, _, b_ends = batch(client, n, BACKLOG_CLIENTS * c)
        b_cpu = cpu_ms_per_wf(cpu_before, cpu_by_role(cl), n)
    lat = [e - s for s, e in zip(submits, ends, strict=True)]
    span = max(ends) - start
    backlog_rate = n / (max(b_ends) - b_start)
    return {
        "mode": "threads", "n": n, "concurrency": c, "steps_per_wf": 3,
        "wall_s": round(span, 3),
        "wf_per_sec": round(n / span, 1),
        "lat_p50_ms": round(pct(lat, 50) * 1e3, 1),
        "lat_p99_ms": round(pct(lat, 99) * 1e3, 1),
        "lat_max_ms": round(max(lat) * 1e3, 1),
        "cpu_ms_per_wf": cpu,
        "backlog": {"clients": BACKLOG_CLIENTS * c, "wf_per_sec": round(backlog_rate, 1),
                    "vs_direct": round(backlog_rate * span / n, 2), "cpu_ms_per_wf": b_cpu},
    }


if __name__ == "__main__":
    main("wf_throughput", run)
