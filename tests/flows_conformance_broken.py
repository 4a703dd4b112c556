"""A deliberately broken worker for the conformance kit's own test: the steps
and workflows of conformance.python_worker, but it ignores fencing: every
outcome of an assigned step is reported as attempt 1, whichever attempt it
was given. The kit must fail it with a clear table."""

from __future__ import annotations

from typing import Any

from keel.v1 import worker_service_pb2 as wpb

from conformance.python_worker import *  # noqa: F403  (registers the steps and workflows)
from worker import _runtime

_run_step = _runtime.Worker._run_step


def _ignoring_fencing(self: _runtime.Worker, a: wpb.StepAssignment, *rest: Any) -> None:
    wrong = wpb.StepAssignment()
    wrong.CopyFrom(a)
    wrong.attempt = 1
    _run_step(self, wrong, *rest)


_runtime.Worker._run_step = _ignoring_fencing  # type: ignore[method-assign]
