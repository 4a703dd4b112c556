"""Workflows and steps for tests of several coordinators: `cross` runs a step
its own worker serves, then one only a worker of another module serves
(tests.flows_ha_remote)."""

from __future__ import annotations

import os

from tests.tracing import trace, wait_gate
from worker import WorkflowContext, step, workflow


@step()
def local_a(label: str) -> str:
    trace(f"local_a-{label}")
    return f"a:{label}"


@step()
def held(label: str) -> int:
    """Traces, waits for the gate `label`, returns the pid that ran it."""
    trace(label)
    wait_gate(label)
    return os.getpid()


@workflow()
def cross(ctx: WorkflowContext, label: str) -> list[str]:
    return [ctx.run_step(local_a, label), ctx.run_step("remote_b", label)]


@workflow()
def held_flow(ctx: WorkflowContext, label: str) -> int:
    return int(ctx.run_step(held, label))


@workflow()
def mix(ctx: WorkflowContext, label: str) -> dict[str, object]:
    """A local step, a remote one raced against a local one with go/select,
    an event, and a message to itself."""
    a = ctx.run_step(local_a, label)
    remote = ctx.go("remote_b", label)
    local = ctx.go(local_a, f"{label}-go")
    index, _ = ctx.select([remote, local])
    ctx.set_event("progress", "raced")
    ctx.send(ctx.workflow_id, label, topic="self")
    message = ctx.recv("self", timeout=60)
    return {"a": a, "remote": remote.result(), "local": local.result(), "index": index,
            "message": message}
