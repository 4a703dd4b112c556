"""The step only a second kind of worker serves, in tests of several coordinators."""

from __future__ import annotations

from tests.tracing import trace
from worker import step


@step()
def remote_b(label: str) -> str:
    trace(f"remote_b-{label}")
    return f"b:{label}"
