"""Workflows and steps the integration tests run in real worker processes.

Steps leave traces in KEEL_TEST_DIR so a test can count, across processes and
crashes, how often each one ran: every run appends a line "pid" to
`<dir>/runs/<name>`. A "gate" step waits until the file `<dir>/gates/<name>`
exists, so a test can hold a workflow mid-step, kill things, then let it go.
"""

from __future__ import annotations

import os

from tests.tracing import trace, trace_dir, wait_gate
from worker import StepError, WorkflowContext, step, workflow


@step()
def record(label: str) -> str:
    trace(label)
    return f"{label}-done"


@step()
def gated(label: str) -> int:
    """Traces, then waits for the gate `label`; returns the pid that ran it."""
    trace(label)
    wait_gate(label)
    return os.getpid()


@step()
def noop(*args: object) -> None:
    return None


@step()
def fail(message: str) -> None:
    trace("fail")
    raise ValueError(message)


@step(max_retries=3, backoff=0.1)
def flaky(label: str, failures: int) -> str:
    """Fails `failures` times (counted in the trace file), then succeeds."""
    trace(label)
    runs = (trace_dir() / "runs" / label).read_text().splitlines()
    if len(runs) <= failures:
        raise ConnectionError(f"{label} attempt {len(runs)} failed")
    return f"{label} ok after {len(runs)} attempts"


@workflow()
def three_steps(ctx: WorkflowContext, label: str) -> list[str]:
    return [ctx.run_step(record, f"{label}-{i}") for i in range(3)]


@workflow()
def hold(ctx: WorkflowContext, label: str) -> dict[str, object]:
    """before -> gated (blocks until the gate opens) -> after."""
    before = ctx.run_step(record, f"{label}-before")
    pid = ctx.run_step(gated, label)
    after = ctx.run_step(record, f"{label}-after")
    return {"before": before, "pid": pid, "after": after}


@workflow()
def noops(ctx: WorkflowContext, n: int) -> int:
    for _ in range(n):
        ctx.run_step(noop)
    return n


@workflow()
def failing(ctx: WorkflowContext, message: str) -> None:
    ctx.run_step(fail, message)


@workflow()
def catching(ctx: WorkflowContext, message: str) -> str:
    try:
        ctx.run_step(fail, message)
    except ValueError as e:
        assert isinstance(e, StepError)
        return f"caught {type(e).__name__}: {e}"
    return "not raised"


@workflow()
def retrying(ctx: WorkflowContext, label: str, failures: int) -> str:
    return str(ctx.run_step(flaky, label, failures))


@workflow()
def variant(ctx: WorkflowContext, label: str) -> str:
    """Calls a different first step depending on a file: a non-deterministic workflow."""
    first = (trace_dir() / "variant").read_text().strip()
    ctx.run_step(record if first == "record" else noop, f"{label}-first")
    ctx.run_step(gated, label)
    return "done"


@workflow()
def remote(ctx: WorkflowContext, label: str) -> str:
    """Calls a step by a name this worker does not serve."""
    return str(ctx.run_step("elsewhere_step", label))
