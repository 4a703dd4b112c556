"""store_size: the same figures on an empty store, with 1,000,000 finished
workflows, then with 100,000 parked ones besides (issue 17, target 4).

Each phase, on one store that grows:

  1. wf_throughput's batch (3 no-op steps, 32 client threads, one worker of 32
     slots), best of 3: start -> finish latency p50/p99 and workflows/s;
  2. the first page of the listing, median of 20: the SDK's list_workflows
     (gRPC ListWorkflows) and the console's GET /api/workflows (another query);
  3. the coordinator's CPU while idle (a worker connected, no work) over a
     window: what its background loops cost (on PostgreSQL, its backends' too);
  4. then the coordinator and worker stop, the store is seeded in bulk SQL
     (bench/seed.py: rows as the engine writes them), ANALYZEd, and the
     coordinator restarts on it (restart_s: until it serves).

Phases: `empty`; `finished` (1,000,000 finished workflows with their steps,
events and messages); `parked` (100,000 workflows parked in recv added).
Ratios are to `empty` (target: within 1.2x; the first page under 50 ms).
--quick: 100,000 finished and 10,000 parked.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import psycopg

from bench.cluster import cluster, start_worker
from bench.common import cpu_seconds, med, pct
from bench.seed import seed
from bench.workloads import main
from bench.workloads.wf_throughput import batch
from tests.harness import Cluster, free_port
from worker import Client

CONCURRENCY = 32
LIST_RUNS = 20
BATCHES = 3


def timed(fn: Any, runs: int = LIST_RUNS) -> float:
    """Median milliseconds of fn() over `runs` calls, after one warm-up."""
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(med(times) * 1e3, 2)


def measure(c: Cluster, http: str, n: int, idle_s: float) -> dict[str, Any]:
    client: Client = c.client()
    start_worker(c, client, concurrency=CONCURRENCY)
    batch(client, min(100, n), CONCURRENCY)  # warm-up
    # Best of BATCHES: the machine is shared, and a phase is not re-run
    # beside the others (the store only grows), so one slow moment would
    # be read as the store's doing.
    runs = []
    for _ in range(BATCHES):
        start, submits, ends = batch(client, n, CONCURRENCY)
        runs.append((max(ends) - start, [e - s for s, e in zip(submits, ends, strict=True)]))
    span, lat = min(runs, key=lambda r: r[0])

    def sdk_page() -> None:
        assert len(client.list_workflows(limit=50)) == 50

    def console_page() -> None:
        with urllib.request.urlopen(f"http://{http}/api/workflows?limit=50", timeout=30) as resp:
            assert len(json.loads(resp.read())["workflows"]) == 50

    figures = {
        "wf_per_sec": round(n / span, 1),
        "wf_per_sec_runs": [round(n / r[0], 1) for r in runs],
        "lat_p50_ms": round(pct(lat, 50) * 1e3, 1),
        "lat_p99_ms": round(pct(lat, 99) * 1e3, 1),
        "list_sdk_ms": timed(sdk_page),
        "list_console_ms": timed(console_page),
    }
    assert c.coordinator is not None
    time.sleep(1.0)  # let the last work settle
    backends = store_pids(c.store_url)
    cpu0, store0 = cpu_seconds(c.coordinator.pid), cpu_of(backends)
    time.sleep(idle_s)
    figures["idle_cpu_pct"] = round((cpu_seconds(c.coordinator.pid) - cpu0) / idle_s * 100, 1)
    if backends:
        # What the loops' queries cost PostgreSQL itself (SQLite's is in the coordinator).
        store1 = cpu_of(backends)
        used = sum(store1[pid] - store0[pid] for pid in store1 if pid in store0)
        figures["idle_store_cpu_pct"] = round(used / idle_s * 100, 1)
    return figures


def store_pids(url: str) -> list[int]:
    """The PostgreSQL backends serving the bench database (the server is on this machine)."""
    if not url.startswith("postgres"):
        return []
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid()").fetchall()
    return [pid for (pid,) in rows]


def cpu_of(pids: list[int]) -> dict[int, float]:
    """CPU seconds of each of these processes still alive."""
    out = {}
    for pid in pids:
        try:
            out[pid] = cpu_seconds(pid)
        except FileNotFoundError:
            pass  # a backend that ended meanwhile
    return out


def stop(c: Cluster) -> None:
    for w in c.workers:
        w.terminate()
    c.workers.clear()
    assert c.coordinator is not None
    c.coordinator.terminate()


def restart(c: Cluster) -> float:
    t0 = time.monotonic()
    c.start_coordinator()
    return round(time.monotonic() - t0, 2)


def run(store: str, quick: bool) -> dict[str, Any]:
    n = 300 if quick else 400
    finished, parked = (100_000, 10_000) if quick else (1_000_000, 100_000)
    idle_s = 5.0 if quick else 10.0
    http = f"127.0.0.1:{free_port()}"
    out: dict[str, Any] = {"n": n, "concurrency": CONCURRENCY, "finished": finished, "parked": parked}
    with cluster(store, "store_size", http=http) as c:
        out["empty"] = measure(c, http, n, idle_s)
        stop(c)
        out["seed_finished"] = seed(c.store_url, finished=finished, first=0)
        out["finished_restart_s"] = restart(c)
        out["with_finished"] = measure(c, http, n, idle_s)
        stop(c)
        out["seed_parked"] = seed(c.store_url, parked=parked, first=finished)
        out["parked_restart_s"] = restart(c)
        out["with_parked"] = measure(c, http, n, idle_s)
    for phase in ("with_finished", "with_parked"):
        # > 1: worse than on the empty store (target: at most 1.2).
        empty, now = out["empty"], out[phase]
        now["lat_p50_x"] = round(now["lat_p50_ms"] / empty["lat_p50_ms"], 2)
        now["lat_p99_x"] = round(now["lat_p99_ms"] / empty["lat_p99_ms"], 2)
        now["throughput_x"] = round(empty["wf_per_sec"] / now["wf_per_sec"], 2)
    return out


if __name__ == "__main__":
    main("store_size", run)
