"""soak: minutes of steady open-loop load at 70 % of the measured maximum.

First the maximum: a closed-loop burst of 3-step workflows from 32 client
threads (wf_throughput's). Then workflows are started OPEN-LOOP at 70 % of that
rate, on a fixed schedule: a pacer thread hands each start, at its scheduled
time, to a pool of client threads, and a workflow's latency is its scheduled
start -> its result seen by the client. A system that falls behind makes every
later start late, and that delay is in the figures (no coordinated omission).

The open loop runs WARMUP_S (30 s; 10 s with --quick) at the same rate before
the first interval, not counted: the first minute is then steady load like
the last, not the settling after the burst (a backlog of up to 1.6 s in the
first minute of some runs, which made last/first easy).

Every interval (a minute; 20 s with --quick) it prints and records: started,
finished, errors, throughput, p50/p99 latency of the workflows finished in it,
the RSS (VmRSS) and CPU of the coordinator and the worker. At the end:
p99 of the last interval / the first (target <= 1.2), RSS growth of the
coordinator and the worker from the end of the first interval to the end
(target < 10 %), errors (target 0). The machine's load average is recorded
beside each interval: others' load moves every figure of a soak.

At most POOL_THREADS workflows are in flight from the client; past that,
starts wait in the pool, and their wait is in the latency.

    python -m bench.workloads.soak --store postgres             # 10 minutes
    python -m bench.workloads.soak --store postgres --minutes 2
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cluster import cluster, cpu_by_role, cpu_ms_per_wf, start_worker
from bench.common import cpu_seconds, pct, rss_kib
from bench.workloads import main
from bench.workloads.wf_throughput import batch
from tests.harness import Cluster
from worker import Client

CLIENT_THREADS = 32  # of the closed-loop burst, as wf_throughput
LOAD = 0.70          # of the measured maximum
POOL_THREADS = 128   # open loop: far more than are ever in flight at 70 %
RESULT_TIMEOUT_S = 120.0
WARMUP_S = 30.0      # of open-loop load before the first interval (--quick: 10)


@dataclass
class Load:
    """What the open loop has done so far; appended by the pool's threads."""

    started: int = 0
    # (scheduled start, result seen, ok), in the order the results came.
    done: list[tuple[float, float, bool]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    late_s: float = 0.0  # the most the pacer ran behind its schedule


def open_loop(client: Client, pool: ThreadPoolExecutor, rate: float, seconds: float, t0: float,
              load: Load) -> None:
    """Start workflows at `rate` per second from monotonic `t0` for `seconds`,
    each in a thread of `pool`."""
    def one(due: float) -> None:
        ok = False
        try:
            ok = client.start_workflow("bench_three").result(timeout=RESULT_TIMEOUT_S) == 3
            if not ok:
                load.errors.append("wrong result")
        except Exception as e:  # any failure is an error of the soak, and it goes on
            load.errors.append(f"{type(e).__name__}: {e}"[:300])
        load.done.append((due, time.monotonic(), ok))

    i = 0
    while (due := t0 + i / rate) < t0 + seconds:
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        else:
            load.late_s = max(load.late_s, -wait)
        pool.submit(one, due)
        load.started += 1
        i += 1


def drain(pool: ThreadPoolExecutor, load: Load, timeout: float) -> None:
    """Wait for the workflows in flight, at most `timeout` seconds; those not
    even started by then are dropped (they count as unfinished)."""
    deadline = time.monotonic() + timeout
    while len(load.done) < load.started and time.monotonic() < deadline:
        time.sleep(0.05)
    pool.shutdown(wait=False, cancel_futures=True)


def lat_ms(done: list[tuple[float, float, bool]], q: float) -> float | None:
    lat = [end - due for due, end, ok in done if ok]
    return round(pct(lat, q) * 1e3, 1) if lat else None


def sample(cl: Cluster, worker_pid: int) -> dict[str, float]:
    assert cl.coordinator is not None
    return {"coordinator_rss_kib": rss_kib(cl.coordinator.pid), "worker_rss_kib": rss_kib(worker_pid),
            "coordinator_cpu_s": cpu_seconds(cl.coordinator.pid), "worker_cpu_s": cpu_seconds(worker_pid),
            "client_cpu_s": time.process_time(),
            # Others' load on the machine moves every figure here: shown beside them.
            "loadavg_1m": float(Path("/proc/loadavg").read_text().split()[0])}


def interval_figures(k: int, interval: float, started: int, done: list[tuple[float, float, bool]],
                     before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """Figures of interval k (1-based): `started` workflows scheduled in it,
    `done` those finished in it; `before` and `after`: samples at its ends."""
    return {
        "interval": k, "end_s": round(k * interval, 1), "started": started, "finished": len(done),
        "errors": sum(not ok for _, _, ok in done), "wf_per_sec": round(len(done) / interval, 1),
        "lat_p50_ms": lat_ms(done, 50), "lat_p99_ms": lat_ms(done, 99),
        "coordinator_rss_mib": round(after["coordinator_rss_kib"] / 1024, 1),
        "worker_rss_mib": round(after["worker_rss_kib"] / 1024, 1),
        "loadavg_1m": after["loadavg_1m"],
        **{f"{role}_cpu_pct": round((after[f"{role}_cpu_s"] - before[f"{role}_cpu_s"]) / interval * 100, 1)
           for role in ("coordinator", "worker", "client")},
    }


def show(row: dict[str, Any]) -> None:
    print(f"  soak {row['end_s']:6.0f} s: started {row['started']} finished {row['finished']} "
          f"errors {row['errors']}  {row['wf_per_sec']} wf/s  p50 {row['lat_p50_ms']} ms "
          f"p99 {row['lat_p99_ms']} ms  RSS coordinator {row['coordinator_rss_mib']} MiB "
          f"worker {row['worker_rss_mib']} MiB  CPU coordinator {row['coordinator_cpu_pct']} % "
          f"worker {row['worker_cpu_pct']} % client {row['client_cpu_pct']} %  load {row['loadavg_1m']}",
          file=sys.stderr, flush=True)


def growth_pct(first: float, last: float) -> float:
    return round((last - first) / first * 100, 1)


def run(store: str, quick: bool, minutes: float | None = None, interval: float | None = None
        ) -> dict[str, Any]:
    minutes = minutes or (1.0 if quick else 10.0)
    interval = interval or (20.0 if quick else 60.0)
    intervals = max(1, round(minutes * 60 / interval))
    n_max = 300 if quick else 1000
    with cluster(store, "soak") as cl:
        client = cl.client()
        worker = start_worker(cl, client, concurrency=CLIENT_THREADS)
        batch(client, 100, CLIENT_THREADS)  # warm-up
        start, _, ends = batch(client, n_max, CLIENT_THREADS)
        max_rate = n_max / (max(ends) - start)
        rate = LOAD * max_rate
        warmup = 10.0 if quick else WARMUP_S
        print(f"  soak: maximum {max_rate:.1f} wf/s; open loop at {rate:.1f} wf/s, {warmup:.0f} s of "
              f"warm-up, then {intervals} x {interval:.0f} s", file=sys.stderr, flush=True)

        load = Load()
        pool = ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="soak")
        start_at = time.monotonic() + 0.1
        pacer = threading.Thread(target=open_loop,
                                 args=(client, pool, rate, warmup + intervals * interval, start_at, load),
                                 name="soak-pacer", daemon=True)
        pacer.start()
        t0 = start_at + warmup  # the first interval starts here
        time.sleep(max(0.0, t0 - time.monotonic()))
        cpu_before = cpu_by_role(cl)
        first = before = sample(cl, worker.pid)
        series: list[dict[str, Any]] = []
        # Results and starts counted before this interval (the warm-up's too).
        seen, started = len(load.done), load.started
        warm_done, warm_started = seen, started
        for k in range(1, intervals + 1):
            time.sleep(max(0.0, t0 + k * interval - time.monotonic()))
            now, started_now, after = len(load.done), load.started, sample(cl, worker.pid)
            series.append(interval_figures(k, interval, started_now - started, load.done[seen:now],
                                           before, after))
            show(series[-1])
            if k < intervals:
                seen, started = now, started_now
            before = after
            if k == 1:
                first = after
        last = before
        # The workflows still in flight when the schedule ends count in the last interval.
        pacer.join(10)
        drain(pool, load, RESULT_TIMEOUT_S + 10)
        unfinished = load.started - len(load.done)
        tail = load.done[seen:]
        drained = len(tail) - series[-1]["finished"]
        series[-1].update(finished=len(tail), errors=sum(not ok for _, _, ok in tail) + unfinished,
                          lat_p50_ms=lat_ms(tail, 50), lat_p99_ms=lat_ms(tail, 99))
        cpu = cpu_ms_per_wf(cpu_before, cpu_by_role(cl), max(1, len(load.done) - warm_done))
    p99_first, p99_last = series[0]["lat_p99_ms"], series[-1]["lat_p99_ms"]
    return {
        "minutes": round(intervals * interval / 60, 2), "interval_s": interval, "steps_per_wf": 3,
        "max_wf_per_sec": round(max_rate, 1), "load": LOAD, "target_wf_per_sec": round(rate, 1),
        "warmup_s": warmup, "warmup_started": warm_started,
        # Errors of the warm-up count too; the rest is of the measured intervals.
        "started": load.started - warm_started, "finished": len(load.done) - warm_done,
        "errors": len(load.errors) + unfinished,
        "error_samples": sorted(set(load.errors))[:5], "drained_after_end": drained, "unfinished": unfinished,
        "wf_per_sec": round((len(load.done) - warm_done) / (intervals * interval), 1),
        "pacer_late_max_ms": round(load.late_s * 1e3, 1),
        "lat_p50_ms": lat_ms(load.done[warm_done:], 50), "lat_p99_ms": lat_ms(load.done[warm_done:], 99),
        "p99_last_vs_first": round(p99_last / p99_first, 2) if p99_first and p99_last else None,
        "rss_growth_pct": {
            "coordinator": growth_pct(first["coordinator_rss_kib"], last["coordinator_rss_kib"]),
            "worker": growth_pct(first["worker_rss_kib"], last["worker_rss_kib"])},
        "cpu_ms_per_wf": cpu,
        "series": series,
    }


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--minutes", type=float, help="how long the open loop runs (default 10; --quick: 1)")
    p.add_argument("--interval", type=float, help="seconds per reported interval (default 60; --quick: 20)")


if __name__ == "__main__":
    main("soak", run, options)
