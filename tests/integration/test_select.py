"""Concurrent steps (`go`) and durable `select`, decided by the coordinator; both stores."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from keel.v1 import worker_service_pb2 as wpb
from keel.v1 import worker_service_pb2_grpc as wgrpc

from tests.harness import wait_for
from worker._execution import Execution
from worker._registry import REGISTRY


def test_select_returns_first_completed_and_loser_is_still_available(cluster: Any) -> None:
    cluster.start_worker()
    handle = cluster.client().start_workflow("race", "r", workflow_id="wf-race")
    assert handle.result(timeout=30) == [1, "r-fast", "r-slow"]
    steps = {s.step_number: s for s in handle.steps()}
    decision = steps[2]
    assert (decision.kind, decision.select_index, decision.select_step_number) == ("SELECT", 1, 1)
    assert decision.output == {"index": 1, "step_number": 1, "candidates": [0, 1]}
    assert steps[1].completion_seq < steps[2].completion_seq < steps[0].completion_seq
    assert len(cluster.runs("r-slow")) == 1 and len(cluster.runs("r-fast")) == 1


def completed(handle: Any, numbers: set[int]) -> bool:
    return numbers <= {s.step_number for s in handle.steps()}


def test_replay_returns_the_recorded_winner(cluster: Any) -> None:
    """Decided and recorded before the crash: the replay, where both futures are
    ready at once, still returns index 1."""
    first = cluster.start_worker()
    handle = cluster.client().start_workflow("race_then_hold", "rt", workflow_id="wf-rt")
    cluster.wait_runs("rt")
    wait_for(lambda: completed(handle, {0, 1, 2}), "both futures and the decision to be checkpointed")
    cluster.start_worker()
    first.kill()
    cluster.open_gate("rt")
    assert handle.result(timeout=30) == [1, "rt-fast", "rt-slow"]
    assert len(cluster.runs("rt-slow")) == 1 and len(cluster.runs("rt-fast")) == 1


def test_select_trap_decides_by_commit_order_after_a_crash(cluster: Any) -> None:
    """Both outcomes checkpointed, the decision not yet made, then a crash: on
    replay both futures are ready at once, and select still says the fast one."""
    first = cluster.start_worker()
    handle = cluster.client().start_workflow("hold_then_race", "tr", False, workflow_id="wf-trap")
    cluster.wait_runs("tr")
    wait_for(lambda: completed(handle, {0, 1}), "both futures to be checkpointed")
    cluster.start_worker()
    first.kill()
    cluster.open_gate("tr")
    assert handle.result(timeout=30) == [1, "tr-fast", "tr-slow"]
    # Neither step ran twice; the select is recorded once.
    assert len(cluster.runs("tr-slow")) == 1 and len(cluster.runs("tr-fast")) == 1
    selects = [s for s in handle.steps() if s.kind == "SELECT"]
    assert [(s.step_number, s.select_index, s.select_step_number) for s in selects] == [(3, 1, 1)]


def test_crash_before_the_decision_gives_a_fresh_valid_one(cluster: Any) -> None:
    first = cluster.start_worker(step_concurrency=1)
    second = cluster.start_worker(step_concurrency=1)
    handle = cluster.client().start_workflow("hold_then_race", "fd", True, workflow_id="wf-fresh")
    wait_for(lambda: completed(handle, {1}), "the fast future to be checkpointed")
    cluster.wait_runs("fd")
    runner = cluster.worker_by_pid(cluster.runs("fd")[0])
    runner.kill()
    survivor = second if runner is first else first
    cluster.wait_runs("fd", 2)
    cluster.open_gate("fd")
    cluster.open_gate("fd-slow")
    index, value, slow = handle.result(timeout=30)
    assert (index, value) == (1, "fd-fast") and slow == survivor.pid
    assert len(cluster.runs("fd-fast")) == 1
    numbers = [s.step_number for s in handle.steps()]
    assert numbers == sorted(set(numbers)) == [0, 1, 2, 3]


def test_select_on_a_failing_future_raises_its_error(cluster: Any) -> None:
    cluster.start_worker()
    handle = cluster.client().start_workflow("race_fail", "rf", workflow_id="wf-rf")
    answer = "select raised KeyError: 'rf-bad'; then rf-slow"
    assert handle.result(timeout=30) == answer
    assert replays(cluster, "wf-rf", 3) == [answer] * 3


def test_fan_out_spreads_over_workers_and_keeps_order(cluster: Any) -> None:
    a = cluster.start_worker(step_concurrency=8)
    b = cluster.start_worker(step_concurrency=8)
    handle = cluster.client().start_workflow("fan_out", 50, workflow_id="wf-fan")
    assert handle.result(timeout=60) == list(range(50))
    pids = cluster.runs("fan")
    assert len(pids) == 50
    assert pids.count(a.pid) > 0 and pids.count(b.pid) > 0, pids
    assert [s.step_number for s in handle.steps()] == list(range(50))


def test_same_workflow_replayed_ten_times_gives_the_same_answer(cluster: Any) -> None:
    cluster.start_worker()
    handle = cluster.client().start_workflow("race", "ten", workflow_id="wf-ten")
    answer = handle.result(timeout=30)
    assert replays(cluster, "wf-ten", 10) == [answer] * 10


def test_select_misuse(cluster: Any) -> None:
    cluster.start_worker()
    handle = cluster.client().start_workflow("select_misuse", workflow_id="wf-misuse")
    assert "at least one future" in handle.result(timeout=30)


def test_select_rpc_checks_candidates(cluster: Any) -> None:
    with grpc.insecure_channel(cluster.address) as ch:
        stub = wgrpc.WorkerServiceStub(ch)
        for candidates, words in [([], "at least one"), ([1, 1], "repeat"), ([5], "earlier steps")]:
            with pytest.raises(grpc.RpcError) as err:
                stub.Select(wpb.SelectRequest(workflow_id="w", epoch=1, step_number=3,
                                              candidates=candidates), timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert words in err.value.details()


class ReplayStub:
    """Replays a finished workflow against its real history; writes are refused."""

    def __init__(self, channel: grpc.Channel) -> None:
        real = wgrpc.WorkerServiceStub(channel)
        self.GetHistory = real.GetHistory
        self.finished: list[wpb.FinishWorkflowRequest] = []

    def FinishWorkflow(self, request: wpb.FinishWorkflowRequest, timeout: Any = None) -> Any:
        self.finished.append(request)
        return wpb.FinishWorkflowResponse()

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a full replay must not call {name}")


def replays(cluster: Any, workflow_id: str, times: int) -> list[Any]:
    """Run the finished workflow's code `times` more times against its history."""
    import tests.flows  # noqa: F401  (registers the workflows in this process)

    info = cluster.client()._get(workflow_id)
    answers = []
    with grpc.insecure_channel(cluster.address) as ch:
        for _ in range(times):
            stub = ReplayStub(ch)
            assignment = wpb.WorkflowAssignment(workflow_id=workflow_id, name=info.name, epoch=99,
                                                input=info.input, has_history=True)
            Execution(assignment, stub, REGISTRY).run()  # type: ignore[arg-type]
            [finish] = stub.finished
            assert finish.WhichOneof("outcome") == "output", finish
            answers.append(json.loads(finish.output.data))
    return answers
