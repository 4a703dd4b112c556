"""Workflow semantics end to end, real coordinator and worker processes, both stores."""

from __future__ import annotations

from datetime import timezone
from typing import Any

import pytest

from tests.harness import wait_for
from worker import WorkflowCancelled, WorkflowFailed, WorkflowInfo, WorkflowNotFound, WorkflowStatus


def test_steps_run_and_are_listed(cluster: Any) -> None:
    cluster.start_worker()
    handle = cluster.client().start_workflow("three_steps", "t", workflow_id="wf-three")
    assert handle.result(timeout=20) == ["t-0-done", "t-1-done", "t-2-done"]
    assert handle.status() == "SUCCESS"
    steps = handle.steps()
    assert [(s.step_number, s.name, s.output) for s in steps] == [
        (0, "record", "t-0-done"), (1, "record", "t-1-done"), (2, "record", "t-2-done")]
    assert [s.completion_seq for s in steps] == [1, 2, 3]


def test_start_is_idempotent(cluster: Any) -> None:
    cluster.start_worker()
    client = cluster.client()
    first = client.start_workflow("three_steps", "idem", workflow_id="wf-idem")
    assert first.created
    first.result(timeout=20)
    again = client.start_workflow("three_steps", "other input", workflow_id="wf-idem")
    assert not again.created
    assert again.result(timeout=20) == ["idem-0-done", "idem-1-done", "idem-2-done"]
    assert len(cluster.runs("idem-0")) == 1 and cluster.runs("other input-0") == []


def test_step_retries_with_backoff_and_only_the_final_outcome_is_recorded(cluster: Any) -> None:
    cluster.start_worker()
    handle = cluster.client().start_workflow("retrying", "flaky", 2, workflow_id="wf-retry")
    assert handle.result(timeout=20) == "flaky ok after 3 attempts"
    times = cluster.run_times("flaky")
    assert len(times) == 3
    # backoff=0.1 doubling: at least 0.1 s, then 0.2 s between attempts.
    assert times[1] - times[0] >= 0.09 and times[2] - times[1] >= 0.19
    [step] = handle.steps()
    assert step.status == "SUCCESS" and step.output == "flaky ok after 3 attempts"


def test_step_that_exhausts_retries_fails_the_workflow(cluster: Any) -> None:
    cluster.start_worker()
    handle = cluster.client().start_workflow("retrying", "hopeless", 10, workflow_id="wf-hopeless")
    with pytest.raises(WorkflowFailed) as err:
        handle.result(timeout=20)
    assert err.value.type_name == "ConnectionError"
    assert "hopeless attempt 4 failed" in err.value.error_message
    assert len(cluster.runs("hopeless")) == 4  # 1 + max_retries


def test_workflow_error_carries_type_and_message(cluster: Any) -> None:
    cluster.start_worker()
    client = cluster.client()
    handle = client.start_workflow("failing", "card declined", workflow_id="wf-fail")
    with pytest.raises(WorkflowFailed) as err:
        handle.result(timeout=20)
    assert err.value.type_name == "ValueError"
    assert err.value.error_message == "card declined"
    assert "wf-fail" in str(err.value) and "card declined" in str(err.value)
    assert handle.status() == "ERROR"
    [step] = handle.steps()
    assert step.status == "ERROR" and step.error == "ValueError: card declined"
    # A workflow can catch a step's error by its original builtin type.
    caught = client.start_workflow("catching", "nope", workflow_id="wf-catch")
    assert caught.result(timeout=20) == "caught ValueError: nope"


def test_replay_that_calls_a_different_step_is_a_nondeterminism_error(cluster: Any) -> None:
    (cluster.tmp / "variant").write_text("record")
    first = cluster.start_worker()
    handle = cluster.client().start_workflow("variant", "nd", workflow_id="wf-nd")
    cluster.wait_runs("nd")
    (cluster.tmp / "variant").write_text("noop")  # the code changed under the workflow
    cluster.start_worker()
    first.kill()
    with pytest.raises(WorkflowFailed) as err:
        handle.result(timeout=30)
    assert err.value.type_name == "NonDeterminismError"
    assert "'noop'" in err.value.error_message and "'record'" in err.value.error_message
    assert "step 0" in err.value.error_message


def test_unserved_name_waits_for_a_worker(cluster: Any) -> None:
    client = cluster.client()
    handle = client.start_workflow("late_comer", "late", workflow_id="wf-late")
    assert handle.created and handle.status() == "PENDING"
    with pytest.raises(TimeoutError):
        handle.result(timeout=0.5)
    cluster.start_worker("tests.flows_other")
    assert handle.result(timeout=20) == "late ran elsewhere"


def test_step_served_only_by_another_worker_is_dispatched_there(cluster: Any) -> None:
    here = cluster.start_worker("tests.flows")
    handle = cluster.client().start_workflow("remote", "far", workflow_id="wf-remote")
    # Waits until a worker that serves the step connects.
    with pytest.raises(TimeoutError):
        handle.result(timeout=0.5)
    there = cluster.start_worker("tests.flows_other")
    assert handle.result(timeout=20) == "far ran elsewhere"
    assert cluster.runs("far") == [there.pid] and here.pid != there.pid
    [step] = handle.steps()
    assert step.name == "elsewhere_step" and step.attempt == 1


def test_cancel_and_timeout(cluster: Any) -> None:
    worker = cluster.start_worker()
    client = cluster.client()
    held = client.start_workflow("hold", "cx", workflow_id="wf-cancel")
    cluster.wait_runs("cx")
    assert held.cancel() == "CANCELLED"
    with pytest.raises(WorkflowCancelled):
        held.result(timeout=10)
    timed = client.start_workflow("hold", "tx", workflow_id="wf-timeout", timeout=1.0)
    with pytest.raises(WorkflowCancelled) as err:
        timed.result(timeout=20)
    assert err.value.type_name == "WorkflowTimeout"
    # The stopped executions record nothing more, even once their gates open.
    cluster.open_gate("cx")
    cluster.open_gate("tx")
    for wf in ("wf-cancel", "wf-timeout"):
        wait_for(lambda wf=wf: f"workflow {wf} (execution 1) stopped" in worker.log(),
                 f"the execution of {wf} to stop")
    assert held.status() == "CANCELLED" and timed.status() == "CANCELLED"
    assert cluster.runs("cx-after") == [] and cluster.runs("tx-after") == []


def test_unknown_workflow_id(cluster: Any) -> None:
    client = cluster.client()
    with pytest.raises(WorkflowNotFound):
        client.retrieve_workflow("no-such-workflow")
    from worker import WorkflowHandle

    with pytest.raises(WorkflowNotFound):
        WorkflowHandle(client, "no-such-workflow").result(timeout=5)
    with pytest.raises(WorkflowNotFound):
        client.get_workflow("no-such-workflow")


def test_listed_and_read_workflows_are_typed(cluster: Any) -> None:
    cluster.start_worker()
    client = cluster.client()
    ok = client.start_workflow("three_steps", "ls", workflow_id="wf-ls-ok")
    ok.result(timeout=20)
    bad = client.start_workflow("failing", "nope", workflow_id="wf-ls-bad")
    with pytest.raises(WorkflowFailed):
        bad.result(timeout=20)
    status = ok.status()
    assert isinstance(status, WorkflowStatus) and status is WorkflowStatus.SUCCESS
    assert status == "SUCCESS" and f"{status}" == "SUCCESS" and str(status) == "SUCCESS"

    info = client.get_workflow("wf-ls-ok")
    assert isinstance(info, WorkflowInfo) and info == ok.info()
    assert (info.workflow_id, info.name, info.status) == ("wf-ls-ok", "three_steps", "SUCCESS")
    assert info.input == {"args": ["ls"], "kwargs": {}}
    assert info.output == ["ls-0-done", "ls-1-done", "ls-2-done"] and info.error is None
    assert info.epoch >= 1 and info.deadline is None
    assert info.created_at.tzinfo is timezone.utc and info.updated_at >= info.created_at

    failed = bad.info()
    assert failed.status is WorkflowStatus.ERROR and failed.output is None
    assert failed.error is not None and (failed.error.type, failed.error.message) == ("ValueError", "nope")

    listed = client.list_workflows()
    assert [w.workflow_id for w in listed] == ["wf-ls-bad", "wf-ls-ok"]
    assert all(isinstance(w, WorkflowInfo) for w in listed)
    assert [w.workflow_id for w in client.list_workflows(status="ERROR")] == ["wf-ls-bad"]
    assert [w.workflow_id for w in client.list_workflows(status=WorkflowStatus.SUCCESS)] == ["wf-ls-ok"]
    assert client.list_workflows(name="failing", limit=1)[0].workflow_id == "wf-ls-bad"
    with pytest.raises(ValueError, match="unknown workflow status 'DONE'"):
        client.list_workflows(status="DONE")
