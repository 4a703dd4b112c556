"""Our workloads beside the peer's (DBOS Transact) on this machine, in one table.

    make bench-compare
    .venv/bin/python bench/compare.py --peer-python bench/.peer-venv/bin/python
    .venv/bin/python bench/compare.py --peer-results A.jsonl --ours-results B.jsonl   # table only

Runs the peer's scripts (BENCH_PEER_DIR, default ../shared/bench-peer beside the
repository) once each, like its run_all.sh with RUNS=1, on PostgreSQL (database
keel_bench_peer, dropped afterwards) and SQLite (a temp dir), then ours
(bench/run.py), and prints one table: ratios oriented so that > 1 means we are
better (DBOS/ours for times, ours/DBOS for rates), with the targets of the issue
marked MET or MISSED. JSON lines and the table (markdown) go to bench/results/.

The soak (make soak, 10 minutes) is not part of our run here; its rows show
when its record is among ours, e.g. with --extra-results bench/results/<soak>.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS_DIR, git_rev, stamp  # noqa: E402

PEER_DIR = Path(os.environ.get("BENCH_PEER_DIR", "../shared/bench-peer"))
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PEER_DB = "keel_bench_peer"
PEER_LIMIT_S = 600.0  # per peer script
STORES = ("postgres", "sqlite")

# The peer's run_all.sh, RUNS=1, only the workloads we compare. The SQLite
# events run twice: DBOS checks its SQLite waiters once a second by default,
# 10 ms tuned. Its queue mode runs at its default polling (1 s), beside our
# `queue` workload.
PEER_RUNS: list[tuple[str, list[str], tuple[str, ...]]] = [
    ("seq_steps.py", [], STORES),
    ("wf_throughput.py", ["--mode", "threads"], STORES),
    ("parallel_steps.py", [], STORES),
    ("events.py", [], STORES),
    ("events.py", ["--listener-poll", "0.01"], ("sqlite",)),
    ("recovery.py", [], STORES),
    ("wf_throughput.py", ["--mode", "queue"], STORES),
]


def peer_dir() -> Path:
    return PEER_DIR if PEER_DIR.is_absolute() else (ROOT / PEER_DIR).resolve()


def run_peer(python: str, out: Path) -> None:
    """Every peer script on both stores; their JSON lines appended to `out`."""
    scripts = peer_dir()
    if not (scripts / "common.py").exists():
        raise SystemExit(f"no peer scripts in {scripts} (set BENCH_PEER_DIR)")
    with tempfile.TemporaryDirectory(prefix="keel-bench-peer-") as tmp:
        env = {**os.environ,
               "BENCH_PG_URL": f"{PG_SERVER}/{PEER_DB}",
               "BENCH_SQLITE_PATH": str(Path(tmp) / "dbos.sqlite"),
               "BENCH_RECOVERY_LOG": str(Path(tmp) / "recovery.log")}
        try:
            for backend in STORES:
                for script, args, stores in PEER_RUNS:
                    if backend not in stores:
                        continue
                    cmd = [python, script, "--backend", backend, *args]
                    print(f"+ peer {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
                    try:
                        proc = subprocess.run(cmd, cwd=scripts, env=env, stdout=subprocess.PIPE,
                                              text=True, timeout=PEER_LIMIT_S)
                        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
                        error = None if lines else f"exited with status {proc.returncode}, no JSON line"
                    except subprocess.TimeoutExpired:
                        lines, error = [], f"did not finish within {PEER_LIMIT_S:.0f} s"
                    if error:
                        print(f"  peer {script} on {backend} FAILED: {error}", file=sys.stderr)
                        lines = [json.dumps({"workload": script.removesuffix(".py"), "backend": backend,
                                             "args": args, "error": error})]
                    with open(out, "a") as f:
                        f.writelines(ln + "\n" for ln in lines)
        finally:
            drop_peer_database()


def drop_peer_database() -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PEER_DB}" WITH (FORCE)')


def run_ours(out: Path) -> None:
    # Its exit status is not ours: a failed workload shows as FAILED in the table.
    subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--results", str(out)], cwd=ROOT)


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.startswith("{")]


def dig(record: dict[str, Any] | None, dotted: str) -> float | None:
    value: Any = record
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# -- the table ---------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    text: str
    # (ours, DBOS, ratio) -> met? None when a figure is missing.
    met: Callable[[float | None, float | None, float | None], bool | None]


def ratio_at_least(x: float) -> Target:
    return Target(f"ratio >= {x:g}", lambda o, p, r: None if r is None else r >= x)


def ours_at_least(limit: float, unit: str) -> Target:
    return Target(f">= {limit:g}{unit}", lambda o, p, r: None if o is None else o >= limit)


def ours_below(limit: float, unit: str) -> Target:
    return Target(f"< {limit:g} {unit}", lambda o, p, r: None if o is None else o < limit)


def ours_at_most(limit: float, unit: str = "") -> Target:
    text = f"<= {limit:g} {unit}".rstrip()
    return Target(text, lambda o, p, r: None if o is None else o <= limit)


def full_waiting(record: dict[str, Any]) -> bool:
    return "p10000" in record


def parked(n: int) -> Callable[[dict[str, Any]], bool]:
    """Whether a waiting record has the run with `n` parked (100,000 is opt-in)."""
    return lambda record: f"p{n}" in record


def full_store_size(record: dict[str, Any]) -> bool:
    return int(record.get("finished", 0)) >= 1_000_000


def full_soak(record: dict[str, Any]) -> bool:
    return bool(record.get("minutes", 0) >= 10)


@dataclass(frozen=True)
class Row:
    label: str                 # workload/metric as shown
    workload: str
    ours_key: str
    peer_key: str | None       # None: ours only
    lower_is_better: bool
    peer_match: tuple[tuple[str, Any], ...] = ()  # extra fields the peer's record must have
    stores: tuple[str, ...] = STORES
    targets: tuple[tuple[str, Target], ...] = ()   # (store, target)
    peer_workload: str | None = None               # the peer's name for it, if not `workload`
    # Whether a record is a run that tests the target (a --quick one may not).
    full_run: Callable[[dict[str, Any]], bool] | None = None
    optional: bool = False     # no record: the row is left out (a workload run apart)


MS = "ms"
ROWS = [
    Row("seq_steps/per_step_ms", "seq_steps", "per_step_ms", "per_step_ms", True,
        targets=tuple((s, ratio_at_least(4)) for s in STORES)),
    Row("seq_steps/steps_per_sec", "seq_steps", "steps_per_sec", "steps_per_sec", False),
    Row("seq_steps/floor_ms (a stream round trip that commits a step row)", "seq_steps", "floor_ms",
        None, True),
    Row("seq_steps/per_step_vs_floor", "seq_steps", "per_step_vs_floor", None, True,
        targets=tuple((s, ours_at_most(1.3, "x")) for s in STORES)),
    Row("seq_steps/per_step_vs_floor_median (to the median round trip)", "seq_steps",
        "per_step_vs_floor_median", None, True),
    Row("seq_steps/floor_parts_ms (round trip + commit, each alone)", "seq_steps", "floor_parts_ms",
        None, True),
    Row("seq_steps/per_step_vs_floor_parts", "seq_steps", "per_step_vs_floor_parts", None, True),
    Row("wf_throughput/wf_per_sec", "wf_throughput", "wf_per_sec", "wf_per_sec", False,
        peer_match=(("mode", "threads"),), targets=tuple((s, ratio_at_least(5)) for s in STORES)),
    Row("wf_throughput/lat_p50_ms", "wf_throughput", "lat_p50_ms", "lat_p50_ms", True,
        peer_match=(("mode", "threads"),)),
    Row("wf_throughput/lat_p99_ms", "wf_throughput", "lat_p99_ms", "lat_p99_ms", True,
        peer_match=(("mode", "threads"),)),
    *(Row(f"wf_throughput/cpu_ms_per_wf.{role}", "wf_throughput", f"cpu_ms_per_wf.{role}", None, True)
      for role in ("coordinator", "worker", "client", "total")),
    Row("wf_throughput/backlog.wf_per_sec (4 clients a slot)", "wf_throughput", "backlog.wf_per_sec", None,
        False),
    Row("wf_throughput/backlog.vs_direct", "wf_throughput", "backlog.vs_direct", None, False),
    Row("wf_throughput/backlog.cpu_ms_per_wf.coordinator", "wf_throughput",
        "backlog.cpu_ms_per_wf.coordinator", None, True),
    Row("parallel_steps/gather_noop_ms", "parallel_steps", "gather_noop_ms", "gather_noop_ms", True),
    Row("parallel_steps/first_ms (DBOS first_asyncio_ms)", "parallel_steps", "first_ms",
        "first_asyncio_ms", True),
    Row("events/paced.delay_ms_p50", "events", "paced.delay_ms_p50", "paced.delay_ms_p50", True,
        peer_match=(("listener_poll_s", None),),
        targets=(("postgres", ratio_at_least(5)), ("sqlite", ours_below(10, MS)))),
    Row("events/paced.delay_ms_p50 (DBOS listener-poll 0.01)", "events", "paced.delay_ms_p50",
        "paced.delay_ms_p50", True, peer_match=(("listener_poll_s", 0.01),), stores=("sqlite",)),
    Row("recovery/restart_to_done_ms", "recovery", "restart_to_done_ms", "restart_to_done_ms", True,
        targets=tuple((s, ours_below(1000, MS)) for s in STORES)),
    Row("recovery/kill_to_done_ms (spare worker)", "recovery", "kill_to_done_ms", None, True,
        targets=tuple((s, ours_below(1000, MS)) for s in STORES)),
    Row("waiting/total_rss_mib (10,000 parked)", "waiting", "p10000.total_rss_mib", None, True,
        targets=tuple((s, ours_below(1024, "MiB")) for s in STORES), full_run=full_waiting),
    Row("waiting/wake_all_s (10,000)", "waiting", "p10000.wake_all_s", None, True),
    *(Row(f"waiting/{key} ({n:,} parked)", "waiting", f"p{n}.{key}", None, False,
          targets=tuple((s, ours_at_least(1, "x")) for s in STORES) if key.endswith("_vs_fresh") else (),
          full_run=parked(n))
      for n in (10_000, 100_000)
      for key in ("fresh_wf_per_sec", "park_per_sec", "wake_per_sec", "park_vs_fresh", "wake_vs_fresh")),
    Row("queue/wf_per_sec (DBOS queue, 1 s poll)", "queue", "wf_per_sec", "wf_per_sec", False,
        peer_match=(("mode", "queue"),), peer_workload="wf_throughput",
        targets=tuple((s, ratio_at_least(5)) for s in STORES)),
    Row("queue/lat_p50_ms (enqueue -> end)", "queue", "lat_p50_ms", "lat_p50_ms", True,
        peer_match=(("mode", "queue"),), peer_workload="wf_throughput",
        targets=tuple((s, ratio_at_least(20)) for s in STORES)),
    Row("queue/lat_p99_ms (enqueue -> end)", "queue", "lat_p99_ms", "lat_p99_ms", True,
        peer_match=(("mode", "queue"),), peer_workload="wf_throughput"),
    Row("queue/paced enqueue -> start p50 ms", "queue", "paced.start_ms_p50", None, True,
        targets=(("sqlite", ours_below(5, MS)), ("postgres", ours_below(10, MS)))),
    Row("queue/cpu_ms_per_wf.total", "queue", "cpu_ms_per_wf.total", None, True),
    # The soak: 10 minutes at 70 % of the maximum; PostgreSQL is the target's store.
    Row("soak/wf_per_sec (70 % of max)", "soak", "wf_per_sec", None, False, optional=True),
    Row("soak/lat_p99_ms", "soak", "lat_p99_ms", None, True, optional=True),
    Row("soak/p99_last_vs_first", "soak", "p99_last_vs_first", None, True, optional=True,
        targets=(("postgres", ours_at_most(1.2, "x")),), full_run=full_soak),
    *(Row(f"soak/rss_growth_pct.{role}", "soak", f"rss_growth_pct.{role}", None, True, optional=True,
          targets=(("postgres", ours_below(10, "%")),), full_run=full_soak)
      for role in ("coordinator", "worker")),
    Row("soak/errors", "soak", "errors", None, True, optional=True,
        targets=(("postgres", ours_at_most(0)),), full_run=full_soak),
    Row("soak/cpu_ms_per_wf.total", "soak", "cpu_ms_per_wf.total", None, True, optional=True),
    Row("store_size/p50 latency, 1M finished / empty", "store_size", "with_finished.lat_p50_x", None, True,
        targets=tuple((s, ours_below(1.2, "x")) for s in STORES), full_run=full_store_size),
    Row("store_size/throughput, 1M finished: empty / it", "store_size", "with_finished.throughput_x", None,
        True, targets=tuple((s, ours_below(1.2, "x")) for s in STORES), full_run=full_store_size),
    Row("store_size/p50 latency, +100k parked / empty", "store_size", "with_parked.lat_p50_x", None, True,
        targets=tuple((s, ours_below(1.2, "x")) for s in STORES), full_run=full_store_size),
    Row("store_size/throughput, +100k parked: empty / it", "store_size", "with_parked.throughput_x", None,
        True, targets=tuple((s, ours_below(1.2, "x")) for s in STORES), full_run=full_store_size),
    Row("store_size/list first page ms, 1M finished (SDK)", "store_size", "with_finished.list_sdk_ms", None,
        True, targets=tuple((s, ours_below(50, MS)) for s in STORES), full_run=full_store_size),
    Row("store_size/list first page ms, 1M finished (console)", "store_size",
        "with_finished.list_console_ms", None, True,
        targets=tuple((s, ours_below(50, MS)) for s in STORES), full_run=full_store_size),
]


def find(records: list[dict[str, Any]], workload: str, backend: str,
         match: tuple[tuple[str, Any], ...] = (),
         prefer: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any] | None:
    """The first record of `workload` on `backend` with the fields of `match`;
    the first one `prefer` holds for if any does (the 100,000-parked run of
    waiting, say, passed with --extra-results beside the default run)."""
    found = [r for r in records if r.get("workload") == workload and r.get("backend") == backend
             and all(r.get(k) == v for k, v in match)]
    preferred = [r for r in found if prefer is not None and prefer(r)]
    return (preferred or found or [None])[0]


def fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


def table(ours: list[dict[str, Any]], peer: list[dict[str, Any]]) -> tuple[list[list[str]], list[str]]:
    """Rows of [store, metric, ours, DBOS, ratio, target], and one line per target."""
    rows, verdicts = [], []
    for store in STORES:
        for row in ROWS:
            if store not in row.stores:
                continue
            o_rec = find(ours, row.workload, store, prefer=row.full_run)
            if o_rec is None and row.optional:
                continue
            o = dig(o_rec, row.ours_key)
            p_rec = (find(peer, row.peer_workload or row.workload, store, row.peer_match)
                     if row.peer_key else None)
            p = dig(p_rec, row.peer_key) if row.peer_key else None
            r = None
            if o is not None and p is not None and o > 0 and p > 0:
                r = p / o if row.lower_is_better else o / p
            not_run = row.full_run is not None and o_rec is not None and not row.full_run(o_rec)
            ours_text = fmt(o) if o is not None else "not run" if not_run else "FAILED"
            peer_text = "-" if not row.peer_key else (fmt(p) if p is not None else "FAILED")
            target_text = ""
            for t_store, target in row.targets:
                if t_store != store:
                    continue
                met = target.met(o, p, r)
                verdict = {True: "MET", False: "MISSED", None: "MISSED (no figure)"}[met]
                if not_run:  # a --quick run, or an opt-in size, does not test the target
                    verdict = "NOT TESTED (short or opt-in run)"
                target_text = f"{target.text}: {verdict}"
                verdicts.append(f"{store:8s} {row.label}: {target.text} -> {verdict}")
            rows.append([store, row.label, ours_text, peer_text, f"{r:.2f}x" if r else "-", target_text])
    return rows, verdicts


def render_text(header: str, rows: list[list[str]], verdicts: list[str]) -> str:
    cols = ["store", "workload/metric", "ours", "DBOS", "ratio", "target"]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    right = {2, 3, 4}

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    out = [header, "", line(cols), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    met = sum(v.endswith("-> MET") for v in verdicts)
    untested = sum(v.endswith("-> NOT TESTED (short run)") for v in verdicts)
    out += ["", f"targets: {met} MET, {len(verdicts) - met - untested} MISSED, {untested} NOT TESTED",
            *("  " + v for v in verdicts)]
    return "\n".join(out)


def render_markdown(header: str, rows: list[list[str]], verdicts: list[str]) -> str:
    cols = ["store", "workload/metric", "ours", "DBOS", "ratio (>1: ours better)", "target"]
    out = [f"# keel vs DBOS Transact\n\n{header}\n", "| " + " | ".join(cols) + " |",
           "|" + "|".join(" --- " if i < 2 or i == 5 else " ---: " for i in range(len(cols))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    out += ["", "Targets:", "", *(f"- {v}" for v in verdicts), ""]
    return "\n".join(out)


def header(peer: list[dict[str, Any]]) -> str:
    dbos = next((r["dbos_version"] for r in peer if "dbos_version" in r), "unknown")
    return (f"{time.strftime('%Y-%m-%d %H:%M')}, {len(os.sched_getaffinity(0))} cores (nproc), "
            f"Python {platform.python_version()}, DBOS {dbos}, keel {git_rev()}, one run each "
            f"(the machine is noisy: read ratios, not absolute figures)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--peer-python", help="python of the peer's virtual environment (with dbos installed)")
    p.add_argument("--peer-results", type=Path, help="use these peer JSON lines instead of running the peer")
    p.add_argument("--ours-results", type=Path, help="use these JSON lines of ours instead of running ours")
    p.add_argument("--extra-results", type=Path, action="append", default=[],
                   help="more JSON lines of ours, run apart (the soak's); repeatable")
    args = p.parse_args()
    run_stamp = stamp()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)

    peer_file = args.peer_results or RESULTS_DIR / f"{run_stamp}-peer.jsonl"
    if not args.peer_results:
        if not args.peer_python:
            p.error("--peer-python or --peer-results is needed")
        # absolute(), not resolve(): a venv's python is a symlink that must stay one.
        run_peer(str(Path(args.peer_python).absolute()), peer_file)
    ours_file = args.ours_results or RESULTS_DIR / f"{run_stamp}.jsonl"
    if not args.ours_results:
        run_ours(ours_file)

    peer, ours = load(peer_file), load(ours_file)
    for extra in args.extra_results:
        ours += load(extra)
    head = header(peer)
    rows, verdicts = table(ours, peer)
    print("\n" + render_text(head, rows, verdicts))
    md = RESULTS_DIR / f"compare-{run_stamp}.md"
    md.write_text(render_markdown(head, rows, verdicts))
    print("\n" + "\n".join(f"{what}: {os.path.relpath(path, ROOT)}"
                           for what, path in (("ours", ours_file), ("peer", peer_file), ("table", md))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
