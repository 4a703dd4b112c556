"""parallel_steps: concurrent steps with go(), and first-of-K with select (the peer's
parallel_steps.py, gather_noop and first_asyncio).

Each variant: one warm-up, then the median of `reps` runs, timed by the client.
  gather_noop   K no-op steps started with go(), each waited for
  first         go() K steps, step k sleeps (k+1)*sleep; select() the first. Timed
                from the client's submit to the moment select returned in the
                workflow (which returns that time); ideal: `sleep`
  select2_noop  go() two no-op steps, select() one
  fanout100     100 no-op steps with go(), then wait for all
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.cluster import cluster, start_worker
from bench.common import med
from bench.workloads import main


def timed(fn: Callable[[], float], reps: int) -> list[float]:
    fn()  # warm-up
    return [fn() for _ in range(reps)]


def run(store: str, quick: bool) -> dict[str, Any]:
    k, sleep, reps = 10, 0.1, (3 if quick else 5)
    with cluster(store, "parallel_steps") as c:
        client = c.client()
        # Step slots for every branch of the widest fan-out: all run at once.
        start_worker(c, client, step_concurrency=32)

        def whole(name: str, *args: Any) -> Callable[[], float]:
            def once() -> float:
                t0 = time.perf_counter()
                client.start_workflow(name, *args).result(timeout=120)
                return time.perf_counter() - t0
            return once

        def first() -> float:
            t0 = time.time()  # wall clock: compared with the worker's time.time()
            selected_at = client.start_workflow("bench_first", k, sleep).result(timeout=120)
            return float(selected_at) - t0

        res = {
            "gather_noop": timed(whole("bench_gather", k), reps),
            "first": timed(first, reps),
            "select2_noop": timed(whole("bench_select2"), reps),
            "fanout100": timed(whole("bench_gather", 100), reps),
        }
    out: dict[str, Any] = {"k": k, "sleep_s": sleep, "reps": reps}
    for name, ts in res.items():
        out[name + "_ms"] = round(med(ts) * 1e3, 1)
        out[name + "_ms_all"] = [round(t * 1e3, 1) for t in ts]
    return out


if __name__ == "__main__":
    main("parallel_steps", run)
