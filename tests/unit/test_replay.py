"""Unit tests of replay in the SDK: recorded outcomes come back without calls."""

from __future__ import annotations

import builtins
import json
from typing import Any

import pytest
from keel.v1 import common_pb2 as pb
from keel.v1 import worker_service_pb2 as wpb

from worker import StepError, WorkflowContext
from worker._execution import Execution
from worker._registry import Registry, StepDef, WorkflowDef

calls: list[str] = []


def charge(order: str) -> str:
    calls.append(f"charge {order}")
    return f"paid {order}"


def ship(order: str) -> str:
    calls.append(f"ship {order}")
    return f"shipped {order}"


def checkout(ctx: WorkflowContext, order: str) -> list[Any]:
    out: list[Any] = [ctx.run_step("charge", order)]
    try:
        ctx.run_step("ship", order)
    except StepError as e:
        out.append(f"{e.type_name}: {e}")
    out.append(ctx.run_step("ship", order))
    return out


class RecordingStub:
    """Stands in for the coordinator's stub: serves a fixed history, records writes."""

    def __init__(self, history: list[pb.StepRecord]) -> None:
        self.history = history
        self.recorded: list[wpb.RecordStepRequest] = []
        self.finished: list[wpb.FinishWorkflowRequest] = []

    def GetHistory(self, request: Any, timeout: Any = None) -> wpb.GetHistoryResponse:
        return wpb.GetHistoryResponse(steps=self.history)

    def RecordStep(self, request: wpb.RecordStepRequest, timeout: Any = None) -> wpb.RecordStepResponse:
        self.recorded.append(request)
        return wpb.RecordStepResponse(step=pb.StepRecord(
            step_number=request.step_number, name=request.name, kind=pb.STEP_KIND_STEP,
            output=request.output))

    def FinishWorkflow(self, request: wpb.FinishWorkflowRequest, timeout: Any = None) -> Any:
        self.finished.append(request)
        return wpb.FinishWorkflowResponse(status=pb.WORKFLOW_STATUS_SUCCESS)


def registry() -> Registry:
    r = Registry()
    r.add(r.steps, StepDef("charge", charge, 0, 0, 0))
    r.add(r.steps, StepDef("ship", ship, 0, 0, 0))
    r.add(r.workflows, WorkflowDef("checkout", checkout, None))
    return r


def run(history: list[pb.StepRecord]) -> RecordingStub:
    stub = RecordingStub(history)
    assignment = wpb.WorkflowAssignment(
        workflow_id="wf-1", name="checkout", epoch=2, has_history=bool(history),
        input=pb.Payload(encoding="json", data=json.dumps({"args": ["o-7"]}).encode()))
    Execution(assignment, stub, registry()).run()  # type: ignore[arg-type]
    return stub


def value(v: Any) -> pb.Payload:
    return pb.Payload(encoding="json", data=json.dumps(v).encode())


def test_replay_returns_recorded_outcomes_without_calling_steps() -> None:
    calls.clear()
    history = [
        pb.StepRecord(step_number=0, name="charge", kind=pb.STEP_KIND_STEP, output=value("paid earlier")),
        pb.StepRecord(step_number=1, name="ship", kind=pb.STEP_KIND_STEP,
                      error=pb.ErrorInfo(type="TimeoutError", message="carrier down")),
    ]
    stub = run(history)
    # Steps 0 and 1 replayed (value and error), only step 2 ran.
    assert calls == ["ship o-7"]
    assert [r.step_number for r in stub.recorded] == [2]
    assert stub.recorded[0].epoch == 2 and stub.recorded[0].attempt == 0
    [finish] = stub.finished
    assert json.loads(finish.output.data) == ["paid earlier", "TimeoutError: carrier down", "shipped o-7"]


def test_fresh_run_calls_and_records_every_step() -> None:
    calls.clear()
    stub = run([])
    assert calls == ["charge o-7", "ship o-7", "ship o-7"]
    assert [r.step_number for r in stub.recorded] == [0, 1, 2]


def test_replay_of_a_different_step_fails_with_nondeterminism() -> None:
    calls.clear()
    stub = run([pb.StepRecord(step_number=0, name="ship", kind=pb.STEP_KIND_STEP, output=value("x"))])
    assert calls == [] and stub.recorded == []
    [finish] = stub.finished
    assert finish.error.type == "NonDeterminismError"
    assert "'charge'" in finish.error.message and "'ship'" in finish.error.message


@pytest.mark.parametrize("name", ["ValueError", "KeyError", "CustomError"])
def test_recorded_errors_keep_their_type_name(name: str) -> None:
    from worker._errors import step_error

    e = step_error(name, "boom", "", "s", 3)
    assert isinstance(e, StepError) and type(e).__name__ == name and e.step_number == 3
    if name != "CustomError":
        assert isinstance(e, getattr(builtins, name))


def test_select_refuses_no_futures_and_futures_of_another_workflow() -> None:
    from worker import StepFuture

    def execution(workflow_id: str) -> Execution:
        assignment = wpb.WorkflowAssignment(workflow_id=workflow_id, name="checkout", epoch=1)
        return Execution(assignment, RecordingStub([]), registry())  # type: ignore[arg-type]

    mine, theirs = execution("wf-a"), execution("wf-b")
    ctx = WorkflowContext(mine)
    with pytest.raises(ValueError, match="at least one future"):
        ctx.select([])
    foreign = StepFuture(theirs, 0, "charge")
    with pytest.raises(ValueError, match="futures of this workflow"):
        ctx.select([foreign])
