"""Workflows the benchmarks run: no-op steps, so only our overhead is timed."""

from __future__ import annotations

from worker import WorkflowContext, step, workflow


@step()
def bench_noop() -> None:
    return None


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
