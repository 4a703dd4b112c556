"""seq_steps: one workflow of N sequential no-op steps (the peer's seq_steps.py).

One warm-up, then the median of `reps` runs, timed by the client from
start_workflow to the result; an empty (0-step) workflow separates the fixed
cost of a workflow from the cost of a step.

Then, in the same run, the floor of one step (bench/floor.py): one round trip
on an open gRPC stream to a servicer that commits a step row before it
answers, timed as ours (a run of N round trips over N, median of the runs).
Ours and the floor alternate three times (a fresh cluster each time, gone
before the floor runs); `per_step_vs_floor` is the median of the three
rounds' per_step_ms / floor_ms (target: at most 1.3), each from figures
seconds apart, and `per_step_vs_floor_median` divides by the median round
trip instead.
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
    n, reps, rounds = (50, 3, 1) if quick else (200, 5, 3)
    ours, bottoms, empties = [], [], []
    # Ours and the floor alternate, `rounds` times: the machine's speed drifts
    # within seconds (the floor alone moved 0.51-0.59 ms in a minute), and a
    # ratio of two figures taken apart carries that drift; each round's ratio
    # is taken from figures seconds apart, and the median of the rounds kept.
    for _ in range(rounds):
        totals, empty = _ours(store, n, reps)
        ours.append(totals)
        empties.append(empty)
        # After the cluster is gone, so that nothing of ours runs beside it.
        bottoms.append(floor.measure(store, quick, run=n))
    per_round = [med(totals) * 1e3 / n for totals in ours]
    ratios = [per / bottom["floor_ms"] for per, bottom in zip(per_round, bottoms, strict=True)]
    bottom = {key: med([b[key] for b in bottoms]) for key in
              ("floor_ms", "floor_median_ms", "floor_rtt_ms", "floor_commit_ms", "floor_parts_ms")}
    per_step_ms = med(per_round)
    total = med([t for totals in ours for t in totals])
    return {
        "steps": n, "reps": reps, "rounds": rounds,
        "total_ms_median": ms(total), "total_ms_all": [ms(t) for totals in ours for t in totals],
        "per_step_ms": round(per_step_ms, 3),
        # Without the fixed cost of a workflow (the empty one's time).
        "per_step_net_ms": round(per_step_ms - med(empties) * 1e3 / n, 3),
        "steps_per_sec": round(1e3 / per_step_ms, 1),
        "empty_wf_ms_median": ms(med(empties)),
        **{key: round(value, 3) for key, value in bottom.items()},
        "floor_n": bottoms[0]["floor_n"],
        "per_step_vs_floor": round(med(ratios), 2),
        "per_step_vs_floor_rounds": [round(r, 2) for r in ratios],
        "per_step_vs_floor_median": round(per_step_ms / bottom["floor_median_ms"], 2),
        "per_step_vs_floor_parts": round(per_step_ms / bottom["floor_parts_ms"], 2),
    }


def _ours(store: str, n: int, reps: int) -> tuple[list[float], float]:
    """`reps` workflows of `n` steps on a fresh cluster: their times (s), and
    the median time of an empty workflow."""
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
        return [once(n) for _ in range(reps)], med(empty)


if __name__ == "__main__":
    main("seq_steps", run)
