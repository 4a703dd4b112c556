"""seq_steps: one workflow of N sequential no-op steps (the peer's seq_steps.py).

One warm-up, then the median of `reps` runs, timed by the client from
start_workflow to the result; an empty (0-step) workflow separates the fixed
cost of a workflow from the cost of a step.

Then, in the same run, the floor of one step (bench/floor.py): one round trip
on an open gRPC stream to a servicer that commits a step row before it
answers, timed as ours (a run of N round trips over N, median of the runs);
`per_step_vs_floor` is per_step_ms / floor_ms (target: at most 1.3), and
`per_step_vs_floor_median` divides by the median round trip instead.
`per_step_vs_floor_parts` divides by the round trip and the commit measured
apart instead, each alone and back to back (a lower sum).
"""

from __future__ import annotations

import time
from typing import Any

from bench import floor
from bench.cluster import cluster, start_worker
from bench.common import med, ms
from bench.workloads import main


def run(store: str, quick: bool) -> dict[str, Any]:
    n, reps = (50, 3) if quick else (200, 5)
    with cluster(store, "seq_steps") as c:
        client = c.client()
        start_worker(c, client)

        def once(steps: int) -> float:
            t0 = time.perf_counter()
            result = client.start_workflow("bench_seq", steps).result(timeout=120)
            elapsed = time.perf_counter() - t0
            assert result == steps, result
            return elapsed

        once(n)  # warm-up
        once(0)
        empty = [once(0) for _ in range(reps)]
        totals = [once(n) for _ in range(reps)]
    total = med(totals)
    # After the cluster is gone, so that nothing of ours runs beside it.
    bottom = floor.measure(store, quick, run=n)
    per_step_ms = total * 1e3 / n
    return {
        "steps": n, "reps": reps,
        "total_ms_median": ms(total), "total_ms_all": [ms(t) for t in totals],
        "per_step_ms": round(per_step_ms, 3),
        # Without the fixed cost of a workflow (the empty one's time).
        "per_step_net_ms": round((total - med(empty)) * 1e3 / n, 3),
        "steps_per_sec": round(n / total, 1),
        "empty_wf_ms_median": ms(med(empty)),
        **bottom,
        "per_step_vs_floor": round(per_step_ms / bottom["floor_ms"], 2),
        # Against the median round trip (the floor's figure until 2026-12-08).
        "per_step_vs_floor_median": round(per_step_ms / bottom["floor_median_ms"], 2),
        "per_step_vs_floor_parts": round(per_step_ms / bottom["floor_parts_ms"], 2),
    }


if __name__ == "__main__":
    main("seq_steps", run)
