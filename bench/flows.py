"""Workflows the benchmarks run: no-op steps, so only our overhead is timed.

Steps that leave traces write them under $KEEL_BENCH_DIR/trace (set by the
bench for its workers), one line "pid unix_time" per execution, so the bench
process can see across processes when and where a step ran.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from worker import WorkflowContext, step, workflow

# How long step 3 of bench_recovery blocks on its first attempt (the peer's
# BENCH_RECOVERY_SLEEP, 30 s): the worker is killed long before it ends.
RECOVERY_BLOCK_S = 30.0


def _trace_path(name: str) -> Path:
    return Path(os.environ["KEEL_BENCH_DIR"]) / "trace" / name


def trace(name: str) -> None:
    """Append "pid time" to the trace `name` (O_APPEND: lines never interleave)."""
    path = _trace_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(f"{os.getpid()} {time.time():.6f}\n")


def trace_count(name: str) -> int:
    try:
        with open(_trace_path(name)) as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


# -- steps ---------------------------------------------------------------------

@step()
def bench_noop() -> None:
    return None


@step()
def bench_sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@step()
def bench_tick(i: int, pause: float) -> int:
    if pause > 0:
        time.sleep(pause)
    return i


@step()
def bench_mark(name: str) -> None:
    trace(name)


@step()
def bench_recovery_step(tag: str, i: int) -> int:
    """Step i of bench_recovery; step 3 blocks on its first attempt only (like the peer)."""
    trace(f"{tag}-{i}")
    if i == 3 and trace_count(f"{tag}-3") == 1:
        time.sleep(RECOVERY_BLOCK_S)
    return i


@step()
def bench_hold(tag: str) -> int:
    """Traced, then held until the gate file `gates/<tag>` exists (60 s at most):
    a workflow caught mid-step when its coordinator dies."""
    trace(tag)
    gate = _trace_path(tag).parent.parent / "gates" / tag
    deadline = time.monotonic() + 60
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return os.getpid()


# -- workflows -----------------------------------------------------------------

@workflow()
def bench_pid(ctx: WorkflowContext) -> int:
    """Which worker process ran this: a readiness probe (workers log nothing at WARNING)."""
    return os.getpid()


@workflow()
def bench_seq(ctx: WorkflowContext, n: int) -> int:
    for _ in range(n):
        ctx.run_step(bench_noop)
    return n


@workflow()
def bench_three(ctx: WorkflowContext) -> int:
    for _ in range(3):
        ctx.run_step(bench_noop)
    return 3


@workflow()
def bench_queued(ctx: WorkflowContext) -> list[float]:
    """bench_three from a queue; returns when this execution began and ended
    (bench only: a replay would see new times)."""
    start = time.time()
    for _ in range(3):
        ctx.run_step(bench_noop)
    return [start, time.time()]


@workflow()
def bench_gather(ctx: WorkflowContext, k: int) -> int:
    """k no-op steps started with go(), then waited for one by one."""
    futures = [ctx.go(bench_noop) for _ in range(k)]
    for f in futures:
        f.result()
    return k


@workflow()
def bench_select2(ctx: WorkflowContext) -> int:
    index, _ = ctx.select([ctx.go(bench_noop), ctx.go(bench_noop)])
    return index


@workflow()
def bench_first(ctx: WorkflowContext, k: int, sleep: float) -> float:
    """go() k steps, step i sleeping (i+1)*sleep, and select the first. Returns the
    wall-clock time select returned; the losers are waited for afterwards, outside
    what the client times, so runs do not overlap (like the peer's first_asyncio)."""
    futures = [ctx.go(bench_sleep, (i + 1) * sleep) for i in range(k)]
    ctx.select(futures)
    # Read the clock in workflow code, not in a step: a step would add its own
    # checkpoint to the measured delay. Not durable, and need not be: a workflow
    # with steps in flight never parks, so nothing replays this in the bench.
    selected_at = time.time()
    for f in futures:
        f.result()
    return selected_at


@workflow()
def bench_events(ctx: WorkflowContext, n: int, pause: float) -> list[float]:
    """Set events e1..en, a step between each; each value is time.time() just
    before set_event. Returns what each set_event call cost, in seconds."""
    costs = []
    for i in range(1, n + 1):
        ctx.run_step(bench_tick, i, pause)
        ts = time.time()
        t0 = time.perf_counter()
        ctx.set_event(f"e{i}", ts)
        costs.append(time.perf_counter() - t0)
    return costs


@workflow()
def bench_recovery(ctx: WorkflowContext, tag: str) -> list[int]:
    return [ctx.run_step(bench_recovery_step, tag, i) for i in range(1, 6)]


@workflow()
def bench_wait(ctx: WorkflowContext, mark: str) -> Any:
    """A step (traced, so the bench can count arrivals), then wait for one message."""
    ctx.run_step(bench_mark, mark)
    return ctx.recv("go", timeout=3600)


@workflow()
def bench_failover(ctx: WorkflowContext, tag: str) -> int:
    return int(ctx.run_step(bench_hold, tag))


@workflow()
def bench_select_parked(ctx: WorkflowContext) -> Any:
    """The approval pattern: a message or an hour, whichever comes first."""
    return ctx.select([ctx.go_recv("go"), ctx.go_sleep(3600)])[1]


@workflow()
def bench_select_held(ctx: WorkflowContext, n: int) -> int:
    """n selects in a row, each announced by event "w<i>" once its futures exist."""
    for i in range(n):
        message, timer = ctx.go_recv("go"), ctx.go_sleep(3600)
        ctx.set_event(f"w{i}", True)
        ctx.select([message, timer])
    return n
