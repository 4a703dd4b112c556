"""failover: several coordinators on one PostgreSQL database.

  takeover  coordinators A and B, a worker on each (each given only its own
            coordinator's address). k workflows start through A and are held
            mid-step on A's worker; A is SIGKILLed. The figures are kill ->
            the held step running again on B's worker (first, median, last):
            the time for the others to notice A is gone and run its work
            (target <= 3 s).
  throughput  N workflows of 3 no-op steps, 32 client threads, through one
            coordinator with one worker, then through two coordinators with a
            worker each (the clients split between them). No target on 2 cores.

SQLite has one coordinator per file: the workload reports itself skipped there.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from bench.cluster import FLOWS, cluster, probe, trace_lines
from bench.workloads import main
from bench.workloads.wf_throughput import batch
from tests.harness import Cluster, Proc, wait_for
from worker import Client


def worker_on(c: Cluster, client: Client, address: str, concurrency: int) -> Proc:
    """A worker connected to one coordinator only, proven by a probe through it
    (that coordinator hands a new workflow to its own free worker)."""
    proc = c.start_worker(FLOWS, concurrency=concurrency, step_concurrency=32, wait=False,
                          coordinator=address)
    probe(client, proc)
    return proc


def takeover(store: str, k: int) -> dict[str, Any]:
    with cluster(store, "failover") as c:
        _, b = c.start_peer()
        client_a, client_b = c.client(), c.client(b)
        worker_on(c, client_a, c.address, concurrency=k)
        on_b = worker_on(c, client_b, b, concurrency=k)
        tags = [f"hold-{i}" for i in range(k)]
        handles = [client_a.start_workflow("bench_failover", tag) for tag in tags]
        wait_for(lambda: all(trace_lines(c, tag) for tag in tags), "every workflow held on A", 60)
        killed = time.time()
        assert c.coordinator is not None
        c.coordinator.kill()
        reruns = [wait_for(lambda tag=tag: len(trace_lines(c, tag)) >= 2 and trace_lines(c, tag)[1],
                           f"{tag} to run again on B", 60) for tag in tags]
        gates = Path(c.env["KEEL_BENCH_DIR"]) / "gates"
        gates.mkdir(exist_ok=True)
        for tag in tags:
            (gates / tag).touch()
        results = [client_b.retrieve_workflow(h.workflow_id).result(timeout=60) for h in handles]
        assert all(pid == on_b.pid for pid in results), results
        assert all(pid == on_b.pid for pid, _ in reruns)
    delays = sorted((t - killed) * 1000 for _, t in reruns)
    return {"k": k, "failover_first_ms": round(delays[0], 1),
            "failover_median_ms": round(statistics.median(delays), 1),
            "failover_last_ms": round(delays[-1], 1)}


def throughput(store: str, n: int, coordinators: int) -> float:
    with cluster(store, f"failover-throughput-{coordinators}") as c:
        addresses = [c.address] + [c.start_peer()[1] for _ in range(coordinators - 1)]
        clients = [c.client(address) for address in addresses]
        for client, address in zip(clients, addresses, strict=True):
            worker_on(c, client, address, concurrency=32)
        per = n // coordinators
        from concurrent.futures import ThreadPoolExecutor

        t0 = time.time()
        with ThreadPoolExecutor(coordinators) as pool:
            list(pool.map(lambda client: batch(client, per, 32 // coordinators), clients))
        return round(per * coordinators / (time.time() - t0), 1)


def run(store: str, quick: bool) -> dict[str, Any]:
    if store != "postgres":
        return {"skipped": "several coordinators share a PostgreSQL database; SQLite has one"}
    n = 200 if quick else 1000
    return {
        "takeover": takeover(store, 4 if quick else 8),
        "wf_per_sec_1_coordinator": throughput(store, n, 1),
        "wf_per_sec_2_coordinators": throughput(store, n, 2),
        "n": n,
    }


if __name__ == "__main__":
    main("failover", run)
