"""Workflows the queue tests run in real worker processes. Each timed step
returns when it ran (time.monotonic(), one clock for every process of the
machine) and where, so a test can count how many ran at once."""

from __future__ import annotations

import os
import time

from tests.tracing import wait_gate
from worker import WorkflowContext, step, workflow


@step()
def timed(seconds: float) -> list[float]:
    start = time.monotonic()
    time.sleep(seconds)
    return [start, time.monotonic(), os.getpid()]


@step()
def gate(name: str) -> None:
    wait_gate(name)


@workflow()
def queued_work(ctx: WorkflowContext, seconds: float, key: str = "") -> dict[str, object]:
    start, end, pid = ctx.run_step(timed, seconds)
    return {"start": start, "end": end, "pid": pid, "key": key}


@workflow()
def gated_work(ctx: WorkflowContext, name: str) -> str:
    ctx.run_step(gate, name)
    return name


@workflow()
def fan_out(ctx: WorkflowContext, n: int) -> list[str]:
    """Enqueues n queued_work from a workflow and waits for them all."""
    futures = [ctx.enqueue("children", queued_work, 0.05, f"child-{i}") for i in range(n)]
    return [str(f.result(timeout=60)["key"]) for f in futures]
