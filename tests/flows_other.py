"""Steps served by a second kind of worker (not by tests.flows workers)."""

from __future__ import annotations

from tests.tracing import trace
from worker import WorkflowContext, step, workflow


@step(name="elsewhere_step")
def elsewhere(label: str) -> str:
    trace(label)
    return f"{label} ran elsewhere"


@workflow()
def late_comer(ctx: WorkflowContext, label: str) -> str:
    """Served only once a worker with this module starts."""
    return str(ctx.run_step(elsewhere, label))
