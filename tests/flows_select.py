"""Workflows of the select-over-anything tests (issue 11): messages, timers,
events, child workflows and steps raced in one select."""

from __future__ import annotations

from tests.flows import fail, gated, quick, sleepy
from worker import StepError, WorkflowContext, workflow


@workflow()
def approval(ctx: WorkflowContext, timeout: float) -> list[object]:
    """The approval message or the timer, whichever comes first; if the timer
    won, a later recv still gets a message sent after it."""
    index, value = ctx.select([ctx.go_recv("approval"), ctx.go_sleep(timeout)])
    later = ctx.recv("approval", timeout=30) if index == 1 else None
    return [index, value, later]


@workflow()
def step_then_message(ctx: WorkflowContext, label: str) -> list[object]:
    """A step completes, then a message arrives while the workflow waits on
    another step: the select picks the step, and the message stays."""
    first = ctx.go(quick, f"{label}-quick")
    ctx.run_step(gated, label)
    index, value = ctx.select([first, ctx.go_recv("t")])
    return [index, value, ctx.recv("t", timeout=30)]


@workflow()
def timer_then_hold(ctx: WorkflowContext, label: str) -> list[object]:
    """The timer wins; the workflow waits at a gate; then it receives."""
    index, value = ctx.select([ctx.go_recv("m"), ctx.go_sleep(0.2)])
    ctx.run_step(gated, label)
    return [index, value, ctx.recv("m", timeout=30)]


@workflow()
def slow_child(ctx: WorkflowContext, label: str, seconds: float) -> str:
    return str(ctx.run_step(sleepy, f"{label}-child", seconds))


@workflow()
def child_race(ctx: WorkflowContext, label: str, child_seconds: float, step_seconds: float) -> list[object]:
    """A child workflow against a step; the loser's value through .result()."""
    child = ctx.start_workflow(slow_child, label, child_seconds)
    work = ctx.go(sleepy, f"{label}-step", step_seconds)
    index, value = ctx.select([child, work])
    return [index, value, child.result(), work.result(), child.workflow_id]


@workflow()
def event_or_timer(ctx: WorkflowContext, other: str, timeout: float) -> list[object]:
    return list(ctx.select([ctx.go_event(other, "ready"), ctx.go_sleep(timeout)]))


@workflow()
def set_ready(ctx: WorkflowContext, value: str) -> str:
    ctx.set_event("ready", value)
    return value


@workflow()
def waiting_child(ctx: WorkflowContext) -> object:
    return ctx.recv("never", timeout=3600)


@workflow()
def parent_of_waiting(ctx: WorkflowContext) -> list[object]:
    child = ctx.start_workflow(waiting_child)
    return list(ctx.select([child, ctx.go_sleep(3600)]))


@workflow()
def message_or_hour(ctx: WorkflowContext) -> list[object]:
    return list(ctx.select([ctx.go_recv("go"), ctx.go_sleep(3600)]))


@workflow()
def quick_one(ctx: WorkflowContext, label: str) -> str:
    return str(ctx.run_step(quick, label))


@workflow()
def approval_announced(ctx: WorkflowContext, timeout: float) -> list[object]:
    """The approval pattern, saying (event "waiting") once both futures exist:
    a client in any language then sends the message that wins."""
    message, timer = ctx.go_recv("approval"), ctx.go_sleep(timeout)
    ctx.set_event("waiting", True)
    return list(ctx.select([message, timer]))


@workflow()
def failing_child(ctx: WorkflowContext, message: str) -> None:
    ctx.run_step(fail, message)


@workflow()
def parent_of_failing(ctx: WorkflowContext) -> list[object]:
    """The winner failed: select raises its error; so does .result() later."""
    child = ctx.start_workflow(failing_child, "child broke")
    try:
        ctx.select([child, ctx.go_sleep(3600)])
    except ValueError as e:
        caught = [type(e).__name__, isinstance(e, StepError), str(e)]
    try:
        child.result()
    except StepError as e:
        return [*caught, e.type_name]
    return caught
