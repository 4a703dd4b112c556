"""Python workflows that call steps implemented only in JavaScript
(examples/node/worker.js), by name: the coordinator dispatches those steps to
the Node worker, since the Python worker serving this module does not have them.
"""

from __future__ import annotations

from typing import Any

from tests.tracing import trace
from worker import StepError, WorkflowContext, step, workflow


@step()
def py_tax(item: str, qty: int) -> int:
    trace(f"py_tax-{item}")
    return qty * 20


@step()
def py_record(label: str) -> str:
    trace(label)
    return f"{label}-done"


@workflow()
def polyglot_order(ctx: WorkflowContext, item: str, qty: int) -> dict[str, Any]:
    """Python step, JavaScript step, an event, then a message from the client."""
    tax = ctx.run_step(py_tax, item, qty)
    price = ctx.run_step("js_price", item, qty)
    ctx.set_event("priced", {"total": price["total"], "tax": tax})
    confirm = ctx.recv("confirm", 30)
    ctx.set_event("confirmed", confirm)
    return {"item": item, "tax": tax, "price": price, "confirm": confirm,
            "grand_total": price["total"] + tax}


@workflow()
def polyglot_slow(ctx: WorkflowContext, label: str) -> dict[str, Any]:
    """before (Python) -> js_slow (JavaScript, waits at its gate) -> after (Python)."""
    before = ctx.run_step(py_record, f"{label}-before")
    slow = ctx.run_step("js_slow", label)
    after = ctx.run_step(py_record, f"{label}-after")
    return {"before": before, "slow": slow, "after": after}


@workflow()
def polyglot_fail(ctx: WorkflowContext, message: str, catch: bool = True) -> dict[str, Any]:
    """A JavaScript TypeError comes back as a StepError that is also a TypeError;
    uncaught, it ends the workflow ERROR with the JavaScript type and message."""
    try:
        ctx.run_step("js_fail", message)
    except TypeError as e:
        if not catch:
            raise
        assert isinstance(e, StepError)
        return {"type": e.type_name, "message": e.error_message, "has_stack": "js_fail" in e.details}
    raise AssertionError("js_fail did not fail")
