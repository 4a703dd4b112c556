"""Workflows the console's tests watch (tests/integration/test_http.py and the
browser test): steps side by side, a select, events, and a step held by a
gate (tests/tracing.py) so a test decides when the workflow goes on."""

from __future__ import annotations

import time

from tests.tracing import trace, wait_gate
from worker import WorkflowContext, step, workflow


@step()
def load_order(order: str) -> dict[str, object]:
    time.sleep(0.15)
    return {"order": order, "items": ["keyboard", "mouse"]}


@step()
def quote_slow(order: str) -> str:
    time.sleep(0.9)
    return "slow"


@step()
def quote_fast(order: str) -> str:
    time.sleep(0.3)
    return "fast"


@step()
def approval(label: str) -> str:
    """Waits for the gate `label` (the test opens it)."""
    trace(label)
    wait_gate(label, limit=120)
    return "approved"


@step()
def ship(order: str, carrier: str) -> str:
    time.sleep(0.1)
    return f"track-{order}-{carrier}"


@workflow()
def console_race(ctx: WorkflowContext, order: str, gate: str) -> dict[str, str]:
    ctx.set_event("stage", "started")
    ctx.run_step(load_order, order)
    slow, fast = ctx.go(quote_slow, order), ctx.go(quote_fast, order)
    _, carrier = ctx.select([slow, fast])
    ctx.set_event("carrier", carrier)
    ctx.go(approval, gate).result()  # a step task: the console shows it running
    ctx.set_event("stage", "approved")
    tracking = ctx.run_step(ship, order, carrier)
    return {"carrier": carrier, "tracking": tracking}


@workflow()
def console_idle(ctx: WorkflowContext, topic: str) -> object:
    """Waits a long while for a message: a workflow to cancel."""
    ctx.set_event("stage", "waiting")
    return ctx.recv(topic, timeout=600)


@step()
def work_item(i: int) -> int:
    time.sleep(0.002 * (i % 7))
    return i


@workflow()
def console_many(ctx: WorkflowContext, n: int) -> int:
    """n steps, ten at a time side by side, a select over each batch's first two."""
    done = 0
    for start in range(0, n, 10):
        futures = [ctx.go(work_item, i) for i in range(start, min(n, start + 10))]
        if len(futures) >= 2:
            ctx.select(futures[:2])
        done += sum(f.result() >= 0 for f in futures)
        if start % 100 == 0:
            ctx.set_event("progress", done)
    return done
