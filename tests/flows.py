"""Workflows and steps the integration tests run in real worker processes.

Steps leave traces in KEEL_TEST_DIR so a test can count, across processes and
crashes, how often each one ran: every run appends a line "pid" to
`<dir>/runs/<name>`. A "gate" step waits until the file `<dir>/gates/<name>`
exists, so a test can hold a workflow mid-step, kill things, then let it go.
"""

from __future__ import annotations

import os
import time

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


# -- concurrent steps and select ------------------------------------------------


@step()
def sleepy(label: str, seconds: float) -> str:
    trace(label)
    time.sleep(seconds)
    return label


@step()
def quick(label: str) -> str:
    trace(label)
    return label


@step()
def boom(label: str) -> None:
    trace(label)
    raise KeyError(label)


@step()
def ident(i: int) -> int:
    trace("fan")
    time.sleep(0.1)  # long enough for the fan-out to outgrow one worker's slots
    return i


@workflow()
def race(ctx: WorkflowContext, label: str) -> list[object]:
    slow = ctx.go(sleepy, f"{label}-slow", 1.0)
    fast = ctx.go(quick, f"{label}-fast")
    index, value = ctx.select([slow, fast])
    return [index, value, slow.result()]


@workflow()
def race_then_hold(ctx: WorkflowContext, label: str) -> list[object]:
    """The select is decided and recorded, then the workflow waits at a gate."""
    slow = ctx.go(sleepy, f"{label}-slow", 0.3)
    fast = ctx.go(quick, f"{label}-fast")
    index, value = ctx.select([slow, fast])
    ctx.run_step(gated, label)
    return [index, value, slow.result()]


@workflow()
def hold_then_race(ctx: WorkflowContext, label: str, slow_gated: bool) -> list[object]:
    """Both futures start, the workflow waits at a gate, then selects."""
    if slow_gated:
        slow = ctx.go(gated, f"{label}-slow")
    else:
        slow = ctx.go(sleepy, f"{label}-slow", 0.3)
    fast = ctx.go(quick, f"{label}-fast")
    ctx.run_step(gated, label)
    index, value = ctx.select([slow, fast])
    return [index, value, slow.result()]


@workflow()
def race_fail(ctx: WorkflowContext, label: str) -> str:
    slow = ctx.go(sleepy, f"{label}-slow", 1.0)
    bad = ctx.go(boom, f"{label}-bad")
    try:
        ctx.select([slow, bad])
    except KeyError as e:
        return f"select raised {type(e).__name__}: {e}; then {slow.result()}"
    return "select did not raise"


@workflow()
def fan_out(ctx: WorkflowContext, n: int) -> list[int]:
    futures = [ctx.go(ident, i) for i in range(n)]
    return [f.result() for f in futures]


@workflow()
def select_misuse(ctx: WorkflowContext) -> str:
    try:
        ctx.select([])
    except ValueError as e:
        return str(e)
    return "accepted"


# -- events, messages, sleep ------------------------------------------------------


@step()
def clock(label: str) -> float:
    trace(label)
    return time.time()


@workflow()
def publisher(ctx: WorkflowContext, label: str) -> str:
    ctx.set_event("status", "started")
    ctx.set_event("progress", 1)
    ctx.run_step(gated, label)
    ctx.set_event("status", "done")
    return "published"


@workflow()
def event_reader(ctx: WorkflowContext, target: str, key: str, timeout: float) -> object:
    value = ctx.get_event(target, key, timeout)
    ctx.run_step(record, f"read-{target}-{key}")
    return value


@workflow()
def receiver(ctx: WorkflowContext, counts: dict[str, int], timeout: float) -> dict[str, list[object]]:
    return {topic: [ctx.recv(topic or None, timeout) for _ in range(n)] for topic, n in counts.items()}


@workflow()
def steps_around_recv(ctx: WorkflowContext, label: str, before: int) -> list[object]:
    """`before` steps, a recv (parks), one more step: a woken replay of a
    short history (handed out with the assignment) or a long one (paged)."""
    done: list[object] = [ctx.run_step(record, f"{label}-{i}") for i in range(before)]
    done.append(ctx.recv("go", 600))
    done.append(ctx.run_step(record, f"{label}-after"))
    return done


@workflow()
def receive_then_hold(ctx: WorkflowContext, label: str) -> list[object]:
    first = ctx.recv("t", 30)
    ctx.run_step(gated, label)
    second = ctx.recv("t", 30)
    return [first, second]


@workflow()
def sender(ctx: WorkflowContext, destination: str, messages: list[object]) -> str:
    for m in messages:
        ctx.send(destination, m, topic="t")
    try:
        ctx.send("no-such-workflow", "hello")
    except StepError as e:
        return f"{len(messages)} sent; then {e.type_name}"
    return f"{len(messages)} sent"


@workflow()
def sleeper(ctx: WorkflowContext, label: str, seconds: float) -> list[float]:
    start = ctx.run_step(clock, f"{label}-start")
    ctx.sleep(seconds)
    end = ctx.run_step(clock, f"{label}-end")
    return [start, end]
