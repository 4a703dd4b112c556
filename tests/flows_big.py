"""A step whose output is over the coordinator's payload limit."""

from __future__ import annotations

from worker import StepError, WorkflowContext, step, workflow


@step()
def huge() -> str:
    return "x" * (3 << 20)


@workflow()
def big_output(ctx: WorkflowContext) -> str:
    try:
        ctx.run_step(huge)
    except StepError as e:
        return f"caught {e.type_name}"
    return "accepted"


@workflow()
def big_output_remote(ctx: WorkflowContext) -> str:
    """The same through the coordinator's dispatch (go): an assigned step."""
    try:
        ctx.go(huge).result()
    except StepError as e:
        return f"caught {e.type_name}"
    return "accepted"
