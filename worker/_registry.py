"""The @workflow and @step decorators and the registry they fill."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.:\-/]{0,199}")


@dataclass(frozen=True)
class StepDef:
    name: str
    fn: Callable[..., Any]
    max_retries: int
    backoff: float
    backoff_max: float
    # Seconds one attempt may run before the coordinator fences it off and
    # dispatches it again (up to max_retries + 1 attempts), or None.
    timeout: float | None = None


@dataclass(frozen=True)
class WorkflowDef:
    name: str
    fn: Callable[..., Any]
    timeout: float | None


class Registry:
    """Workflows and steps a worker can serve, by registered name."""

    def __init__(self) -> None:
        self.workflows: dict[str, WorkflowDef] = {}
        self.steps: dict[str, StepDef] = {}

    def add(self, table: dict[str, Any], definition: StepDef | WorkflowDef) -> None:
        if not NAME_RE.fullmatch(definition.name):
            raise ValueError(f"invalid name {definition.name!r}: use letters, digits and '_.:-/'")
        old = table.get(definition.name)
        if old is not None and old.fn.__qualname__ != definition.fn.__qualname__:
            raise ValueError(
                f"name {definition.name!r} is already registered to {old.fn.__module__}."
                f"{old.fn.__qualname__}; pass name= to tell them apart"
            )
        table[definition.name] = definition


REGISTRY = Registry()


def workflow(name: str | None = None, *, timeout: float | None = None) -> Callable[[F], F]:
    """Register a workflow: `fn(ctx, *args)`. `timeout` (seconds) cancels it if
    it has not finished that long after its start (start_workflow may override)."""

    def decorate(fn: F) -> F:
        definition = WorkflowDef(name or fn.__name__, fn, timeout)
        REGISTRY.add(REGISTRY.workflows, definition)
        fn.__keel_workflow__ = definition  # type: ignore[attr-defined]
        return fn

    return decorate


def step(
    name: str | None = None,
    *,
    max_retries: int = 0,
    backoff: float = 1.0,
    backoff_max: float = 60.0,
    timeout: float | None = None,
) -> Callable[[F], F]:
    """Register a step. A failure is retried up to `max_retries` times, waiting
    `backoff` seconds, doubling each time up to `backoff_max`; only the final
    outcome is checkpointed. Called directly, the function runs as usual.

    With `timeout` (seconds) the step always goes through the coordinator (this
    worker first, when it has a free step slot), which bounds each attempt:
    an attempt still running after `timeout` is fenced off (its outcome
    refused) and dispatched again, up to `max_retries + 1` attempts, then the
    step fails with an error of type StepTimeout."""
    if max_retries < 0 or backoff < 0 or backoff_max < 0:
        raise ValueError("max_retries, backoff and backoff_max must not be negative")
    if timeout is not None and not timeout > 0:
        raise ValueError("timeout must be positive seconds, or None")

    def decorate(fn: F) -> F:
        definition = StepDef(name or fn.__name__, fn, max_retries, backoff, backoff_max, timeout)
        REGISTRY.add(REGISTRY.steps, definition)
        fn.__keel_step__ = definition  # type: ignore[attr-defined]
        return fn

    return decorate


def remote_step(name: str, *, timeout: float | None = None, max_retries: int = 0) -> Callable[..., Any]:
    """A step served by other workers (in any language), with the options this
    workflow calls it with: `ctx.run_step(remote_step("charge", timeout=30,
    max_retries=2), order_id)`. Nothing is registered here: the coordinator
    dispatches it, bounding each attempt by `timeout` (see `step`)."""
    if not NAME_RE.fullmatch(name):
        raise ValueError(f"invalid step name {name!r}")
    if max_retries < 0 or (timeout is not None and not timeout > 0):
        raise ValueError("max_retries must not be negative and timeout must be positive")

    def not_here(*args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"step {name!r} is served by other workers: call it with ctx.run_step")

    not_here.__keel_step__ = StepDef(name, not_here, max_retries, 0.0, 0.0, timeout)  # type: ignore[attr-defined]
    not_here.__keel_remote__ = True  # type: ignore[attr-defined]
    return not_here


def step_options_of(fn_or_name: Callable[..., Any] | str) -> StepDef | None:
    """The options a step is called with: those of a remote_step, else None."""
    if getattr(fn_or_name, "__keel_remote__", False):
        return getattr(fn_or_name, "__keel_step__", None)
    return None


def step_name_of(fn_or_name: Callable[..., Any] | str) -> str:
    if isinstance(fn_or_name, str):
        return fn_or_name
    definition = getattr(fn_or_name, "__keel_step__", None)
    if definition is None:
        raise TypeError(f"{getattr(fn_or_name, '__name__', fn_or_name)!r} is not a @step; decorate it")
    return str(definition.name)


def workflow_name_of(fn_or_name: Callable[..., Any] | str) -> str:
    if isinstance(fn_or_name, str):
        return fn_or_name
    definition = getattr(fn_or_name, "__keel_workflow__", None)
    if definition is None:
        raise TypeError(f"{getattr(fn_or_name, '__name__', fn_or_name)!r} is not a @workflow")
    return str(definition.name)
