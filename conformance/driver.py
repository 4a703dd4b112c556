"""The kit's own workflows, served by its driver worker (the Python SDK): they
call the steps of the worker under test by name, so a worker that serves only
steps is tested the same way."""

from __future__ import annotations

from typing import Any

from worker import StepError, WorkflowContext, remote_step, workflow


@workflow(name="conf_driver_call")
def conf_driver_call(ctx: WorkflowContext, name: str, args: list[Any]) -> dict[str, Any]:
    """Run step `name`: {"ok": value} ({"hex": ...} for bytes) or {"error": {type, message}}."""
    try:
        value = ctx.run_step(name, *args)
    except StepError as e:
        return {"error": {"type": e.type_name, "message": str(getattr(e, "error_message", e))}}
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    return {"ok": value}


@workflow(name="conf_driver_retry")
def conf_driver_retry(ctx: WorkflowContext, label: str, timeout: float) -> dict[str, Any]:
    """conf_mark sleeps 4 x `timeout` on its first attempt: that attempt times
    out, the second (another run of conf_mark for the label) answers at once."""
    try:
        value = ctx.run_step(remote_step("conf_mark", timeout=timeout, max_retries=1), label, 4 * timeout)
    except StepError as e:
        return {"error": {"type": e.type_name, "message": str(e)}}
    return {"ok": value}
