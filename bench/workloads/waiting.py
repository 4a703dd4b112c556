"""waiting: N workflows (10,000) parked in ctx.recv("go", timeout=3600) on one worker
of 16 slots; the memory they cost, then how fast they all wake.

  1. start N workflows from 16 client threads; each runs a traced step, then recv
  2. parked = the step ran N times, then neither the worker nor the coordinator
     uses CPU for a while (a waiting workflow holds its slot up to --park-after
     before parking, so the quiet window starts after that)
  3. RSS (VmRSS, /proc) of the coordinator and the worker: total_rss_mib
  4. send one message to each (16 threads) while 16 other threads collect the
     results: wake_all_s = first send -> last result

Every phase is bounded (KEEL_BENCH_WAITING_LIMIT seconds, default 300): past it
the workload fails, saying how far it got. The store's own memory (PostgreSQL
backends) is not counted.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from bench.cluster import cluster, start_worker, trace_lines
from bench.common import cpu_seconds, rss_kib
from bench.workloads import main
from tests.harness import Cluster
from worker import Client, WorkflowHandle

LIMIT_S = float(os.environ.get("KEEL_BENCH_WAITING_LIMIT", "300"))
SLOTS = 16
THREADS = 16
PARK_AFTER_S = 1.0  # the worker's --park-after, passed explicitly: the quiet window depends on it


class TooSlow(RuntimeError):
    pass


def in_threads(fn: Callable[[str], Any], ids: Iterable[str],
               stop: threading.Event) -> tuple[ThreadPoolExecutor, list[Future[Any]]]:
    """Submit fn(id) for every id to a pool of THREADS threads; nothing new starts once `stop` is set."""
    def guarded(wid: str) -> Any:
        if stop.is_set():
            return None
        return fn(wid)

    ex = ThreadPoolExecutor(max_workers=THREADS)
    return ex, [ex.submit(guarded, wid) for wid in ids]


def wait_all(futures: list[Future[Any]], deadline: float, stop: threading.Event, what: str) -> None:
    for i, f in enumerate(futures):
        left = deadline - time.monotonic()
        try:
            f.result(timeout=max(0.0, left))
        except TimeoutError:
            stop.set()
            raise TooSlow(f"{what}: only {i} of {len(futures)} done within {LIMIT_S:.0f} s "
                          f"(KEEL_BENCH_WAITING_LIMIT)") from None


def wait_parked(c: Cluster, mark: str, n: int, pids: list[int], deadline: float) -> None:
    """The traced step ran n times, then no CPU used by `pids` for 0.5 s."""
    while (got := len(trace_lines(c, mark))) < n:
        if time.monotonic() > deadline:
            raise TooSlow(f"only {got} of {n} workflows reached recv within {LIMIT_S:.0f} s")
        time.sleep(0.2)
    time.sleep(PARK_AFTER_S)
    before = sum(cpu_seconds(p) for p in pids)
    while True:
        time.sleep(0.5)
        now = sum(cpu_seconds(p) for p in pids)
        if now - before < 0.02:
            return
        if time.monotonic() > deadline:
            raise TooSlow(f"the coordinator and worker still busy {LIMIT_S:.0f} s after the start")
        before = now


def mib(kib: int) -> float:
    return round(kib / 1024, 1)


def run(store: str, quick: bool) -> dict[str, Any]:
    n = 1000 if quick else 10_000
    tag = uuid.uuid4().hex[:8]
    mark = f"wait-{tag}"
    ids = [f"wait-{tag}-{i}" for i in range(n)]
    with cluster(store, "waiting") as c:
        client: Client = c.client()
        w = start_worker(c, client, concurrency=SLOTS, extra=["--park-after", str(PARK_AFTER_S)])
        assert c.coordinator is not None
        pids = [c.coordinator.pid, w.pid]
        idle = {"coordinator_idle_mib": mib(rss_kib(pids[0])), "worker_idle_mib": mib(rss_kib(pids[1]))}

        stop = threading.Event()
        t0 = time.monotonic()
        deadline = t0 + LIMIT_S
        ex, futures = in_threads(lambda wid: client.start_workflow("bench_wait", mark, workflow_id=wid),
                                 ids, stop)
        try:
            wait_all(futures, deadline, stop, "starting workflows")
            start_all_s = time.monotonic() - t0
            wait_parked(c, mark, n, pids, deadline)
        finally:
            ex.shutdown(wait=False, cancel_futures=True)
        park_all_s = time.monotonic() - t0
        coord_kib, worker_kib = rss_kib(pids[0]), rss_kib(pids[1])
        memory = {
            "coordinator_rss_mib": mib(coord_kib), "worker_rss_mib": mib(worker_kib),
            "total_rss_mib": mib(coord_kib + worker_kib),
            "coordinator_peak_mib": mib(rss_kib(pids[0], "VmHWM")),
            "worker_peak_mib": mib(rss_kib(pids[1], "VmHWM")),
        }

        # Wake-up: senders and result collectors at once.
        t1 = time.monotonic()
        deadline = t1 + LIMIT_S
        sends, sent = in_threads(lambda wid: client.send(wid, "go", topic="go"), ids, stop)
        awaits, results = in_threads(
            lambda wid: WorkflowHandle(client, wid).result(timeout=max(1.0, deadline - time.monotonic())),
            ids, stop)
        try:
            wait_all(sent, deadline, stop, "sending")
            wait_all(results, deadline, stop, "waking")
        finally:
            sends.shutdown(wait=False, cancel_futures=True)
            awaits.shutdown(wait=False, cancel_futures=True)
        wake_all_s = time.monotonic() - t1
        bad = sum(1 for f in results if f.result() != "go")
        if bad:
            raise RuntimeError(f"{bad} of {n} workflows did not return the message")
    return {
        "n": n, "worker_slots": SLOTS, "client_threads": THREADS,
        "start_all_s": round(start_all_s, 2), "park_all_s": round(park_all_s, 2),
        **idle, **memory,
        "wake_all_s": round(wake_all_s, 2), "wake_per_sec": round(n / wake_all_s, 1),
    }


if __name__ == "__main__":
    main("waiting", run)
