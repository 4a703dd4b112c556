"""Replay a finished workflow against its recorded history, in this process:
every durable call must be answered by the history (any other call to the
coordinator fails the replay), and the result must be the recorded one."""

from __future__ import annotations

from typing import Any

import grpc
from keel.v1 import client_service_pb2 as cpb
from keel.v1 import client_service_pb2_grpc as cgrpc
from keel.v1 import worker_service_pb2 as wpb
from keel.v1 import worker_service_pb2_grpc as wgrpc

from worker._execution import Execution
from worker._registry import REGISTRY


class HistoryStub:
    """Serves one history; any call that would change or wait on something is recorded."""

    def __init__(self, history: list[Any]) -> None:
        self.history = history
        self.finished: list[wpb.FinishWorkflowRequest] = []
        self.unexpected: list[str] = []

    def GetHistory(self, request: Any, timeout: Any = None) -> wpb.GetHistoryResponse:
        return wpb.GetHistoryResponse(steps=self.history)

    def FinishWorkflow(self, request: wpb.FinishWorkflowRequest, timeout: Any = None) -> Any:
        self.finished.append(request)
        return wpb.FinishWorkflowResponse()

    def __getattr__(self, name: str) -> Any:
        def call(request: Any, timeout: Any = None) -> Any:
            self.unexpected.append(f"{name}({request})")
            raise RuntimeError(f"the replay called {name}")
        return call


def replay(address: str, workflow_id: str, times: int = 10) -> list[Any]:
    """Replay the finished workflow `times` times; the outcomes it finished with."""
    with grpc.insecure_channel(address) as channel:
        wf = cgrpc.ClientServiceStub(channel).GetWorkflow(
            cpb.GetWorkflowRequest(workflow_id=workflow_id), timeout=10).workflow
        history: list[Any] = []
        while True:
            page = wgrpc.WorkerServiceStub(channel).GetHistory(wpb.GetHistoryRequest(
                workflow_id=workflow_id, after_step_number=history[-1].step_number if history else -1),
                timeout=10)
            history += page.steps
            if not page.more:
                break
    outcomes = []
    for _ in range(times):
        stub = HistoryStub(history)
        assignment = wpb.WorkflowAssignment(workflow_id=workflow_id, name=wf.name, input=wf.input,
                                            epoch=wf.epoch + 1, has_history=True)
        Execution(assignment, stub, REGISTRY).run()  # type: ignore[arg-type]
        assert not stub.unexpected, f"replay of {workflow_id} diverged: {stub.unexpected}"
        assert len(stub.finished) == 1, f"replay of {workflow_id} did not finish"
        done = stub.finished[0]
        outcome = done.WhichOneof("outcome")
        assert outcome == wf.WhichOneof("outcome"), f"replay of {workflow_id}: {done}"
        assert getattr(done, outcome) == getattr(wf, outcome), f"replay of {workflow_id}: {done}"
        outcomes.append(getattr(done, outcome))
    return outcomes
