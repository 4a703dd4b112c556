"""The workloads, one module each: `run(store, quick)` returns the figures of one run.

Each module is also a program (`python -m bench.workloads.NAME --store sqlite`)
that prints its JSON line and appends it to the results file; bench/run.py runs
them as subprocesses, so every workload starts from fresh processes and a hard
time limit can stop it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from bench.common import emit, results_file

# In the order bench/run.py runs them.
WORKLOADS = ["seq_steps", "wf_throughput", "parallel_steps", "events", "recovery", "waiting", "secure",
             "failover", "queue", "console", "select_wake", "store_size", "soak"]
# Not in the default set (too long): run with --all or --only.
OPT_IN = frozenset({"soak"})

Run = Callable[..., dict[str, Any]]


def main(workload: str, run: Run, options: Callable[[argparse.ArgumentParser], None] | None = None) -> None:
    """Parse --store, --quick, --results (and the workload's own `options`,
    passed to `run` as keyword arguments), run, print and record."""
    p = argparse.ArgumentParser(prog=f"bench.workloads.{workload}")
    p.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--quick", action="store_true", help="smaller n, for a fast check")
    p.add_argument("--results", help="JSON lines file to append to (default bench/results/<timestamp>.jsonl)")
    if options is not None:
        options(p)
    args = vars(p.parse_args())
    store, quick, results = args.pop("store"), args.pop("quick"), args.pop("results")
    figures = run(store, quick, **args)
    emit({"workload": workload, "backend": store, **figures, "quick": quick}, results_file(results))
