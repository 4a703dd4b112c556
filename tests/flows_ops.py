"""Workflows of the operating tests (resume, fork, schedules), run in real
worker processes; steps leave traces as in tests/flows.py."""

from __future__ import annotations

from tests.flows import gated, record
from tests.tracing import trace, trace_dir
from worker import WorkflowContext, step, workflow


@step()
def read_flag(label: str) -> str:
    """Fails until the test writes "ok" to `<dir>/flags/<label>`."""
    trace(label)
    flag = trace_dir() / "flags" / label
    text = flag.read_text().strip() if flag.exists() else ""
    if text != "ok":
        raise RuntimeError(f"flag {label} says {text!r}")
    return text


@workflow()
def four_steps(ctx: WorkflowContext, label: str) -> list[str]:
    return [ctx.run_step(record, f"{label}-{i}") for i in range(4)]


@workflow()
def third_gated(ctx: WorkflowContext, label: str) -> list[object]:
    """Two steps, a third that waits for the gate `label`, then one more."""
    first = [ctx.run_step(record, f"{label}-{i}") for i in range(2)]
    pid = ctx.run_step(gated, label)
    return [*first, pid, ctx.run_step(record, f"{label}-3")]


@workflow()
def needs_flag(ctx: WorkflowContext, label: str) -> str:
    before = ctx.run_step(record, f"{label}-before")
    return f"{before} {ctx.run_step(read_flag, label)}"


@workflow()
def ticked(ctx: WorkflowContext, label: str) -> str:
    """A scheduled workflow: traces its run under its own ID."""
    return ctx.run_step(record, f"{label}-{ctx.workflow_id}")
