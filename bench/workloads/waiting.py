"""waiting: N workflows parked in ctx.recv("go", timeout=3600) on one worker of
16 slots, for N = 10,000 (--parked N, repeatable, to choose; --quick: 1,000);
the memory they cost, how fast they park and how fast they all wake, beside the
rate of fresh 3-step workflows on the same cluster ("waking is as cheap as
starting": park_vs_fresh and wake_vs_fresh, target >= 1).

Each N gets a fresh cluster (coordinator, one worker of 16 slots, empty store):

  1. fresh: FRESH_N bench_three workflows (3 no-op steps), started by 16 client
     threads while 16 others collect the results (the pattern of the wake-up
     below): fresh_wf_per_sec = FRESH_N / (first start -> last result)
  2. park: start N bench_wait workflows from 16 threads; each runs a traced
     step, then recv. park_all_s = first start -> the store holds N parked
     workflows (read from the store itself); park_per_sec = N / park_all_s
  3. RSS (VmRSS, /proc) of the coordinator and the worker: total_rss_mib
  4. wake: send one message to each (16 threads) while 16 other threads collect
     the results: wake_all_s = first send -> last result; wake_per_sec

Every phase is bounded (KEEL_BENCH_WAITING_LIMIT seconds for 10,000 workflows,
default 300, scaled with N): past it the workload fails, saying how far it got.
The store's own memory (PostgreSQL backends) is not counted.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import psycopg

from bench.cluster import cluster, start_worker
from bench.common import emit, results_file, rss_kib
from tests.harness import Cluster
from worker import Client, WorkflowHandle

LIMIT_S = float(os.environ.get("KEEL_BENCH_WAITING_LIMIT", "300"))  # per phase, for 10,000
SLOTS = 16
THREADS = 16
FRESH_N = 1000
PARK_AFTER_S = 1.0  # the worker's --park-after, passed explicitly
# 100,000 is opt-in (--parked 100000): at PostgreSQL's rates it takes most of an hour.
PARKED = (10_000,)
QUICK_PARKED = (1000,)
PARKED_SQL = ("SELECT COUNT(*) FROM workflows WHERE status = 'PENDING' AND owner IS NULL "
              "AND resume_at IS NOT NULL")


class TooSlow(RuntimeError):
    pass


def limit_for(n: int) -> float:
    return LIMIT_S * max(1.0, n / 10_000)


def in_threads(fn: Callable[[str], Any], ids: Iterable[str],
               stop: threading.Event) -> tuple[ThreadPoolExecutor, list[Future[Any]]]:
    """Submit fn(id) for every id to a pool of THREADS threads; nothing new starts once `stop` is set."""
    def guarded(wid: str) -> Any:
        if stop.is_set():
            return None
        return fn(wid)

    ex = ThreadPoolExecutor(max_workers=THREADS)
    return ex, [ex.submit(guarded, wid) for wid in ids]


def wait_all(futures: list[Future[Any]], deadline: float, limit: float, stop: threading.Event,
             what: str) -> None:
    for i, f in enumerate(futures):
        left = deadline - time.monotonic()
        try:
            f.result(timeout=max(0.0, left))
        except TimeoutError:
            stop.set()
            raise TooSlow(f"{what}: only {i} of {len(futures)} done within {limit:.0f} s "
                          f"(KEEL_BENCH_WAITING_LIMIT)") from None


def parked_count(store_url: str) -> Callable[[], int]:
    """A reader of how many workflows the store holds parked (no owner, a resume time)."""
    if store_url.startswith("sqlite:"):
        conn = sqlite3.connect(urlsplit(store_url).path, timeout=10, check_same_thread=False)
        return lambda: int(conn.execute(PARKED_SQL).fetchone()[0])
    pg = psycopg.connect(store_url, autocommit=True)
    return lambda: int(pg.execute(PARKED_SQL).fetchone()[0])  # type: ignore[index]


def wait_parked(count: Callable[[], int], n: int, deadline: float, limit: float) -> None:
    every = max(0.1, n / 100_000)
    while (got := count()) < n:
        if time.monotonic() > deadline:
            raise TooSlow(f"only {got} of {n} workflows parked within {limit:.0f} s")
        time.sleep(every)


def analyze_if_no_autovacuum(store_url: str) -> bool:
    """On a PostgreSQL server with autovacuum off (this machine's is), ANALYZE
    the store once its workflows are parked, as autovacuum would have done
    within a minute of the table's growth on a server as shipped: planned on
    the statistics of an empty table, the claim of the woken read every due
    row (bench/FINDINGS.md). Whether it did."""
    if store_url.startswith("sqlite:"):
        return False
    with psycopg.connect(store_url, autocommit=True) as conn:
        row = conn.execute("SHOW autovacuum").fetchone()
        if row is None or row[0] != "off":
            return False
        conn.execute("ANALYZE")
    return True


def mib(kib: int) -> float:
    return round(kib / 1024, 1)


def start_and_collect(client: Client, name: str, args: tuple[Any, ...], ids: list[str], limit: float,
                      stop: threading.Event, expect: Any) -> float:
    """Start `name` for every id from THREADS threads while THREADS others collect
    the results; seconds from the first start to the last result."""
    t0 = time.monotonic()
    deadline = t0 + limit
    starts, started = in_threads(lambda wid: client.start_workflow(name, *args, workflow_id=wid), ids, stop)
    start_of = dict(zip(ids, started, strict=True))

    def collect(wid: str) -> Any:
        start_of[wid].result(timeout=max(0.0, deadline - time.monotonic()))  # it exists
        return WorkflowHandle(client, wid).result(timeout=max(1.0, deadline - time.monotonic()))

    awaits, results = in_threads(collect, ids, stop)
    try:
        wait_all(started, deadline, limit, stop, f"starting {name}")
        wait_all(results, deadline, limit, stop, f"running {name}")
    finally:
        starts.shutdown(wait=False, cancel_futures=True)
        awaits.shutdown(wait=False, cancel_futures=True)
    span = time.monotonic() - t0
    if bad := sum(1 for f in results if f.result() != expect):
        raise RuntimeError(f"{bad} of {len(ids)} {name} workflows did not return {expect!r}")
    return span


def run_parked(c: Cluster, n: int) -> dict[str, Any]:
    """One cluster: the fresh rate, then n workflows parked and woken."""
    limit = limit_for(n)
    tag = uuid.uuid4().hex[:8]
    ids = [f"wait-{tag}-{i}" for i in range(n)]
    client: Client = c.client()
    w = start_worker(c, client, concurrency=SLOTS, extra=["--park-after", str(PARK_AFTER_S)])
    assert c.coordinator is not None
    pids = [c.coordinator.pid, w.pid]
    idle = {"coordinator_idle_mib": mib(rss_kib(pids[0])), "worker_idle_mib": mib(rss_kib(pids[1]))}
    stop = threading.Event()

    fresh_ids = [f"fresh-{tag}-{i}" for i in range(FRESH_N)]
    fresh_s = start_and_collect(client, "bench_three", (), fresh_ids, limit_for(FRESH_N), stop, 3)

    count = parked_count(c.store_url)
    t0 = time.monotonic()
    deadline = t0 + limit
    ex, futures = in_threads(lambda wid: client.start_workflow("bench_wait", f"wait-{tag}", workflow_id=wid),
                             ids, stop)
    try:
        wait_all(futures, deadline, limit, stop, "starting workflows")
        start_all_s = time.monotonic() - t0
        wait_parked(count, n, deadline, limit)
    finally:
        ex.shutdown(wait=False, cancel_futures=True)
    park_all_s = time.monotonic() - t0
    analyzed = analyze_if_no_autovacuum(c.store_url)
    coord_kib, worker_kib = rss_kib(pids[0]), rss_kib(pids[1])
    memory = {
        "coordinator_rss_mib": mib(coord_kib), "worker_rss_mib": mib(worker_kib),
        "total_rss_mib": mib(coord_kib + worker_kib),
        "coordinator_peak_mib": mib(rss_kib(pids[0], "VmHWM")),
        "worker_peak_mib": mib(rss_kib(pids[1], "VmHWM")),
    }

    # Wake-up: senders and result collectors at once.
    t1 = time.monotonic()
    deadline = t1 + limit
    sends, sent = in_threads(lambda wid: client.send(wid, "go", topic="go"), ids, stop)
    awaits, results = in_threads(
        lambda wid: WorkflowHandle(client, wid).result(timeout=max(1.0, deadline - time.monotonic())),
        ids, stop)
    try:
        wait_all(sent, deadline, limit, stop, "sending")
        wait_all(results, deadline, limit, stop, "waking")
    finally:
        sends.shutdown(wait=False, cancel_futures=True)
        awaits.shutdown(wait=False, cancel_futures=True)
    wake_all_s = time.monotonic() - t1
    if bad := sum(1 for f in results if f.result() != "go"):
        raise RuntimeError(f"{bad} of {n} workflows did not return the message")
    fresh = FRESH_N / fresh_s
    park, wake = n / park_all_s, n / wake_all_s
    return {
        "n": n, "fresh_n": FRESH_N, "fresh_wf_per_sec": round(fresh, 1),
        "start_all_s": round(start_all_s, 2), "park_all_s": round(park_all_s, 2),
        "park_per_sec": round(park, 1), "wake_all_s": round(wake_all_s, 2), "wake_per_sec": round(wake, 1),
        "park_vs_fresh": round(park / fresh, 2), "wake_vs_fresh": round(wake / fresh, 2),
        "analyzed_before_wake": analyzed,
        **idle, **memory,
    }


def run(store: str, quick: bool, parked: tuple[int, ...] | None = None) -> dict[str, Any]:
    """One run per count of parked workflows, each on its own cluster: under
    "p<N>", and those of the first count also at the top level."""
    counts = parked or (QUICK_PARKED if quick else PARKED)
    figures: dict[str, Any] = {"parked": list(counts), "worker_slots": SLOTS, "client_threads": THREADS}
    for i, n in enumerate(counts):
        with cluster(store, "waiting") as c:
            one = run_parked(c, n)
        figures[f"p{n}"] = one
        if i == 0:
            figures.update(one)
    return figures


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="bench.workloads.waiting")
    p.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--quick", action="store_true", help="1,000 parked, for a fast check")
    p.add_argument("--parked", type=int, action="append", metavar="N",
                   help="how many workflows to park (repeatable; default 10,000)")
    p.add_argument("--results", help="JSON lines file to append to (default bench/results/<timestamp>.jsonl)")
    a = p.parse_args()
    emit({"workload": "waiting", "backend": a.store,
          **run(a.store, a.quick, tuple(a.parked) if a.parked else None), "quick": a.quick},
         results_file(a.results))
