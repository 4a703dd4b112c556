"""Run our workloads on SQLite and PostgreSQL; JSON lines to bench/results/, a summary to stdout.

    .venv/bin/python bench/run.py                      # everything, both stores (make bench)
    .venv/bin/python bench/run.py --store sqlite --only events --quick
    .venv/bin/python bench/run.py --only soak --store postgres   # 10 minutes (make soak)

Each workload runs in a subprocess of its own (fresh coordinator, worker and
store; a hard time limit), which prints its JSON line; a workload that fails or
overruns is recorded as {"workload", "backend", "error"} and the others go on.
The soak is not in the default set (it takes 10 minutes): --all or --only soak.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import emit, results_file  # noqa: E402
from bench.workloads import OPT_IN, WORKLOADS  # noqa: E402

# Hard limit of each workload's subprocess, in seconds (waiting bounds its own phases).
TIME_LIMIT = {"waiting": 7200.0, "store_size": 1500.0}  # waiting: 100,000 parked too, with --parked
DEFAULT_LIMIT = 300.0
# The soak's limit is its length plus this (the maximum's burst, the drain, the store).
SOAK_MARGIN_S = 300.0

# What the summary shows of each workload: (label, dotted key in the JSON line).
SUMMARY: dict[str, list[tuple[str, str]]] = {
    "seq_steps": [("ms/step", "per_step_ms"), ("steps/s", "steps_per_sec"),
                  ("empty wf ms", "empty_wf_ms_median"), ("floor ms", "floor_ms"),
                  ("x floor", "per_step_vs_floor"), ("x median", "per_step_vs_floor_median"),
                  ("x parts", "per_step_vs_floor_parts")],
    "wf_throughput": [("wf/s", "wf_per_sec"), ("p50 ms", "lat_p50_ms"), ("p99 ms", "lat_p99_ms"),
                      ("CPU ms/wf", "cpu_ms_per_wf.total"), ("backlog wf/s", "backlog.wf_per_sec"),
                      ("x direct", "backlog.vs_direct")],
    "parallel_steps": [("gather10 ms", "gather_noop_ms"), ("first ms", "first_ms"),
                       ("select2 ms", "select2_noop_ms"), ("fanout100 ms", "fanout100_ms")],
    "events": [("paced p50 ms", "paced.delay_ms_p50"), ("watch p50 ms", "paced.watch_delay_ms_p50"),
               ("unpaced p50 ms", "unpaced.delay_ms_p50"), ("set ms", "set_ms_p50")],
    "recovery": [("rerun ms", "rerun_ms"), ("kill->done ms", "kill_to_done_ms"),
                 ("restart->done ms", "restart_to_done_ms")],
    "waiting": [("n", "n"), ("total MiB", "total_rss_mib"), ("fresh wf/s", "fresh_wf_per_sec"),
                ("park/s", "park_per_sec"), ("wake/s", "wake_per_sec"), ("park x", "park_vs_fresh"),
                ("wake x", "wake_vs_fresh"), ("| 100k: park/s", "p100000.park_per_sec"),
                ("wake/s", "p100000.wake_per_sec"), ("park x", "p100000.park_vs_fresh"),
                ("wake x", "p100000.wake_vs_fresh")],
    "secure": [("ms/step plain", "plain.per_step_ms"), ("ms/step tls+tokens", "tls_tokens.per_step_ms"),
               ("+%", "per_step_overhead_pct"), ("wf/s plain", "plain.wf_per_sec"),
               ("wf/s tls+tokens", "tls_tokens.wf_per_sec"), ("+%", "throughput_overhead_pct")],
    "queue": [("wf/s", "wf_per_sec"), ("enq->end p50 ms", "lat_p50_ms"), ("p99", "lat_p99_ms"),
              ("enq->start p50 ms", "start_p50_ms"), ("paced enq->start p50 ms", "paced.start_ms_p50"),
              ("p99", "paced.start_ms_p99"), ("CPU ms/wf", "cpu_ms_per_wf.total")],
    "failover": [("kill->rerun ms median", "takeover.failover_median_ms"),
                 ("last", "takeover.failover_last_ms"), ("wf/s 1 coord", "wf_per_sec_1_coordinator"),
                 ("wf/s 2 coord", "wf_per_sec_2_coordinators"), ("", "skipped")],
    "console": [("wf/s plain", "plain.wf_per_sec"), ("wf/s console watched", "console.wf_per_sec"),
                ("+%", "throughput_overhead_pct"), ("by", "console.watcher")],
    "soak": [("min", "minutes"), ("wf/s", "wf_per_sec"), ("of max", "max_wf_per_sec"),
             ("p99 ms", "lat_p99_ms"), ("p99 last/first", "p99_last_vs_first"),
             ("RSS coord +%", "rss_growth_pct.coordinator"), ("RSS worker +%", "rss_growth_pct.worker"),
             ("errors", "errors")],
    "select_wake": [("held p50 ms", "held.p50_ms"), ("p99", "held.p99_ms"),
                    ("parked p50 ms", "parked.p50_ms"), ("p99", "parked.p99_ms"),
                    ("get_event p50 ms", "get_event.p50_ms"), ("held x", "held_vs_get_event"),
                    ("parked x", "parked_vs_get_event")],
    "store_size": [("p50 ms empty", "empty.lat_p50_ms"), ("1M", "with_finished.lat_p50_ms"),
                   ("+parked", "with_parked.lat_p50_ms"), ("wf/s empty", "empty.wf_per_sec"),
                   ("1M", "with_finished.wf_per_sec"), ("+parked", "with_parked.wf_per_sec"),
                   ("list ms 1M", "with_finished.list_sdk_ms"),
                   ("console", "with_finished.list_console_ms")],
}


def dig(record: dict[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def run_one(workload: str, store: str, quick: bool, out: Path,
            soak_minutes: float | None = None) -> dict[str, Any]:
    """Run one workload in a subprocess; its record, or an error record."""
    cmd = [sys.executable, "-m", f"bench.workloads.{workload}", "--store", store, "--results", str(out)]
    if quick:
        cmd.append("--quick")
    limit = TIME_LIMIT.get(workload, DEFAULT_LIMIT)
    if workload == "soak":
        minutes = soak_minutes or (1.0 if quick else 10.0)
        cmd += ["--minutes", str(minutes)]
        limit = minutes * 60 + SOAK_MARGIN_S
    print(f"+ {workload} on {store}", file=sys.stderr, flush=True)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        error = f"did not finish within {limit:.0f} s"
    else:
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode == 0 and lines:
            record: dict[str, Any] = json.loads(lines[-1])
            print(lines[-1], flush=True)
            print(f"  {workload} on {store}: {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
            return record
        error = f"exited with status {proc.returncode}"
    record = {"workload": workload, "backend": store, "error": error, "quick": quick}
    print(f"  {workload} on {store} FAILED: {error}", file=sys.stderr, flush=True)
    emit(record, out)
    return record


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.0f}"
    return str(value)


def summary(records: list[dict[str, Any]]) -> str:
    lines = []
    for r in records:
        head = f"{r['backend']:8s} {r['workload']:15s}"
        if "error" in r:
            lines.append(f"{head} FAILED: {r['error']}")
            continue
        figures = "  ".join(f"{label} {fmt(dig(r, key))}" for label, key in SUMMARY[r["workload"]])
        lines.append(f"{head} {figures}")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--only", action="append", choices=WORKLOADS, metavar="NAME",
                   help=f"run only this workload (repeatable): {', '.join(WORKLOADS)}")
    p.add_argument("--all", action="store_true",
                   help=f"the opt-in workloads too: {', '.join(sorted(OPT_IN))}")
    p.add_argument("--quick", action="store_true", help="smaller n: a check that everything runs")
    p.add_argument("--soak-minutes", type=float, help="length of the soak (default 10; --quick: 1)")
    p.add_argument("--results", help="JSON lines file to append to (default bench/results/<timestamp>.jsonl)")
    args = p.parse_args()
    stores = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    workloads = [w for w in WORKLOADS if w in args.only] if args.only else \
        [w for w in WORKLOADS if args.all or w not in OPT_IN]
    out = results_file(args.results)
    t0 = time.monotonic()
    records = [run_one(w, s, args.quick, out, args.soak_minutes) for s in stores for w in workloads]
    print(f"\n{summary(records)}\n\n{len(records)} runs in {time.monotonic() - t0:.0f} s; "
          f"JSON lines in {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 1 if any("error" in r for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
