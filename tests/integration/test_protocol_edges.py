"""The rough edges a worker in another language ran into (issue 15), driven by
hand over the wire on both stores: each numbered point of the issue."""

from __future__ import annotations

import threading
import time
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from keel.v1 import client_service_pb2 as cpb
from keel.v1 import client_service_pb2_grpc as cgrpc
from keel.v1 import common_pb2 as pb
from keel.v1 import worker_service_pb2 as wpb

from tests.harness import ROOT, wait_for
from tests.integration.test_protocol import RawWorker, payload

C = grpc.StatusCode
ARGS = payload({"args": [], "kwargs": {}})


@pytest.fixture
def quick(cluster_factory: Any, store_url: str) -> Any:
    """A coordinator whose dispatched step attempts time out after 1 s, patient
    with raw workers that do not heartbeat."""
    c = cluster_factory(store_url, **{"step-timeout": 1.0, "worker-timeout": 60})
    c.start_coordinator()
    return c


@pytest.fixture
def cluster(quick: Any) -> Any:
    return quick


def client_stub(cluster: Any) -> cgrpc.ClientServiceStub:
    channel = grpc.insecure_channel(cluster.address)
    return cgrpc.ClientServiceStub(channel)


def status(call: Any, request: Any) -> tuple[grpc.StatusCode, str]:
    try:
        call(request, timeout=15)
    except grpc.RpcError as e:
        return e.code(), e.details() or ""
    return C.OK, ""


def running(cluster: Any, name: str, workflow_id: str,
            steps: list[str] | None = None) -> tuple[RawWorker, int]:
    cluster.client().start_workflow(name, workflow_id=workflow_id)
    raw = RawWorker(cluster.address, f"runner-{workflow_id}", [name], steps or [])
    return raw, raw.next().run_workflow.epoch


def schedule_in_thread(raw: RawWorker, workflow_id: str, epoch: int, name: str,
                       **options: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}

    def call() -> None:
        try:
            result["step"] = raw.stub.ScheduleStep(wpb.ScheduleStepRequest(
                workflow_id=workflow_id, epoch=epoch, step_number=0, name=name, input=ARGS,
                **options), timeout=60).step
        except grpc.RpcError as e:
            result["error"] = e

    threading.Thread(target=call, daemon=True).start()
    return result


def next_of(raw: RawWorker, body: str) -> Any:
    while True:
        msg = raw.next(timeout=20)
        if msg.WhichOneof("body") == body:
            return getattr(msg, body)


def test_1_a_refused_output_is_recorded_as_output_rejected_and_a_dropped_one_times_out(quick: Any) -> None:
    runner, epoch = running(quick, "edge_wf1", "wf-refused")
    result = schedule_in_thread(runner, "wf-refused", epoch, "edge_big", max_attempts=2)
    steps = RawWorker(quick.address, "edge-steps", [], ["edge_big"])
    first = next_of(steps, "run_step")
    huge = pb.Payload(encoding="json", data=b'"' + b"x" * (3 << 20) + b'"')
    request = wpb.RecordStepRequest(workflow_id="wf-refused", epoch=first.epoch, step_number=0,
                                    name="edge_big", attempt=first.attempt, output=huge)
    code, _ = status(steps.stub.RecordStep, request)
    assert code is C.RESOURCE_EXHAUSTED
    # This worker drops the outcome (as a careless worker would): the attempt
    # times out and the step is dispatched again instead of hanging.
    second = next_of(steps, "run_step")
    assert second.attempt == first.attempt + 1 and second.timeout.ToMilliseconds() == 1000
    # Done right: the refusal recorded as the step's error, type OutputRejected.
    request.attempt = second.attempt
    request.error.CopyFrom(pb.ErrorInfo(type="OutputRejected", message="over the limit"))
    assert steps.stub.RecordStep(request, timeout=10).step.error.type == "OutputRejected"
    wait_for(lambda: "step" in result, "ScheduleStep to answer")
    assert result["step"].error.type == "OutputRejected"


def test_1_a_step_that_never_reports_fails_with_step_timeout(quick: Any) -> None:
    runner, epoch = running(quick, "edge_wf1b", "wf-silent")
    result = schedule_in_thread(runner, "wf-silent", epoch, "edge_silent")
    steps = RawWorker(quick.address, "edge-silent", [], ["edge_silent"])
    assert next_of(steps, "run_step").attempt == 1
    wait_for(lambda: "step" in result, "ScheduleStep to answer", timeout=30)
    assert result["step"].error.type == "StepTimeout"


def test_2_a_retried_record_of_a_dispatched_attempt_gets_the_committed_record(cluster: Any) -> None:
    runner, epoch = running(cluster, "edge_wf2", "wf-retry")
    result = schedule_in_thread(runner, "wf-retry", epoch, "edge_retry",
                                timeout=Duration(seconds=60))
    s1 = RawWorker(cluster.address, "edge-r1", [], ["edge_retry"])
    assert next_of(s1, "run_step").attempt == 1
    s1.close()  # presumed dead: attempt 2 goes to another worker
    s2 = RawWorker(cluster.address, "edge-r2", [], ["edge_retry"])
    a2 = next_of(s2, "run_step")
    assert a2.attempt == 2
    request = wpb.RecordStepRequest(workflow_id="wf-retry", epoch=a2.epoch, step_number=0,
                                    name="edge_retry", attempt=2, output=payload("paid"))
    first = s2.stub.RecordStep(request, timeout=10).step
    request.output.CopyFrom(payload("again"))  # the answer was lost: the worker retries
    again = s2.stub.RecordStep(request, timeout=10).step
    assert again == first and again.output.data == b'"paid"'
    wait_for(lambda: "step" in result, "ScheduleStep to answer")


def test_3_the_names_recorded_for_each_kind_are_the_documented_ones(cluster: Any) -> None:
    raw, epoch = running(cluster, "edge_wf3", "wf-names")
    cluster.client().start_workflow("edge_other", workflow_id="wf-other")
    at = {"workflow_id": "wf-names", "epoch": epoch}
    raw.stub.SetEvent(wpb.SetEventRequest(**at, step_number=0, key="status", value=payload(1)), timeout=10)
    raw.stub.Sleep(wpb.SleepRequest(**at, step_number=1, duration=Duration(nanos=1_000_000)), timeout=10)
    raw.stub.Select(wpb.SelectRequest(**at, step_number=2, candidates=[0]), timeout=10)
    raw.stub.SendMessage(wpb.SendMessageRequest(**at, step_number=3, destination_workflow_id="wf-other",
                                                topic="orders", message=payload(1)), timeout=10)
    raw.stub.ReceiveMessage(wpb.ReceiveMessageRequest(**at, step_number=4, topic="replies",
                                                      timeout=Duration()), timeout=10)
    raw.stub.ReadEvent(wpb.ReadEventRequest(**at, step_number=5, target_workflow_id="wf-other",
                                            key="k", timeout=Duration()), timeout=10)
    names = [s.name for s in cluster.client().retrieve_workflow("wf-names").steps()]
    documented = (ROOT / "docs" / "protocol.md").read_text()
    expected = ["status", "sleep", "select", "orders", "replies", "wf-other/k"]
    assert names == expected
    for row in ("| `STEP_KIND_SET_EVENT` | the key", "| `STEP_KIND_SLEEP` | `sleep`",
                "| `STEP_KIND_SELECT` | `select`", "| `STEP_KIND_SEND` | the topic",
                "| `STEP_KIND_RECV` | the topic", "| `STEP_KIND_GET_EVENT` | `<workflow_id>/<key>`"):
        assert row in documented, row


def test_4_await_without_a_timeout_answers_at_once(cluster: Any) -> None:
    cluster.client().start_workflow("edge_nobody", workflow_id="wf-await")
    stub = client_stub(cluster)
    started = time.monotonic()
    wf = stub.AwaitWorkflow(cpb.AwaitWorkflowRequest(workflow_id="wf-await"), timeout=30).workflow
    assert wf.status == pb.WORKFLOW_STATUS_PENDING
    assert time.monotonic() - started < 30  # answered: it did not hold the call open


def test_5_json_other_languages_cannot_read_is_refused(cluster: Any) -> None:
    stub = client_stub(cluster)
    for text in (b'{"args": [NaN]}', b'{"args": [1e400]}', b'{"args": [], "args": []}'):
        request = cpb.StartWorkflowRequest(name="edge_json", input=pb.Payload(encoding="json", data=text))
        assert status(stub.StartWorkflow, request)[0] is C.INVALID_ARGUMENT


def test_7_cancelling_revokes_steps_on_other_workers(cluster: Any) -> None:
    runner, epoch = running(cluster, "edge_wf7", "wf-cancel")
    result = schedule_in_thread(runner, "wf-cancel", epoch, "edge_long", timeout=Duration(seconds=60))
    steps = RawWorker(cluster.address, "edge-long", [], ["edge_long"])
    a = next_of(steps, "run_step")
    cluster.client().retrieve_workflow("wf-cancel").cancel()
    revoke = next_of(steps, "revoke")
    assert (revoke.workflow_id, revoke.reason) == ("wf-cancel", "cancelled")
    code, message = status(steps.stub.RecordStep, wpb.RecordStepRequest(
        workflow_id="wf-cancel", epoch=a.epoch, step_number=0, name="edge_long", attempt=a.attempt,
        output=payload(1)))
    assert code is C.FAILED_PRECONDITION and "already CANCELLED" in message
    wait_for(lambda: "error" in result, "ScheduleStep to fail")


def test_8_sending_to_a_final_workflow_is_refused(cluster: Any) -> None:
    client = cluster.client()
    client.start_workflow("edge_nobody", workflow_id="wf-done").cancel()
    code, message = status(client_stub(cluster).Send, cpb.SendRequest(workflow_id="wf-done",
                                                                      message=payload(1)))
    assert code is C.FAILED_PRECONDITION and "already CANCELLED" in message


def test_10_leniencies_decided(cluster: Any) -> None:
    raw, epoch = running(cluster, "edge_wf10", "wf-len")
    # GetHistory of an unknown workflow: NOT_FOUND; negative positions: INVALID_ARGUMENT.
    assert status(raw.stub.GetHistory, wpb.GetHistoryRequest(workflow_id="nope"))[0] is C.NOT_FOUND
    assert status(raw.stub.GetHistory, wpb.GetHistoryRequest(
        workflow_id="wf-len", after_step_number=-5))[0] is C.INVALID_ARGUMENT
    # ScheduleStep of a recorded step number under another name.
    raw.stub.RecordStep(wpb.RecordStepRequest(workflow_id="wf-len", epoch=epoch, step_number=0,
                                              name="charge", output=payload(1)), timeout=10)
    code, message = status(raw.stub.ScheduleStep, wpb.ScheduleStepRequest(
        workflow_id="wf-len", epoch=epoch, step_number=0, name="refund", input=ARGS))
    assert code is C.INVALID_ARGUMENT and "'charge'" in message
    # A repeated seq on a stream is not acted on (its first Reply stands).
    at = {"workflow_id": "wf-len", "epoch": epoch}
    raw.send(wpb.WorkerMessage(set_event=wpb.SetEventRequest(**at, step_number=1, key="a",
                                                             value=payload(1))))
    repeat = wpb.WorkerMessage(set_event=wpb.SetEventRequest(**at, step_number=2, key="b",
                                                             value=payload(2)))
    repeat.seq = raw.seq
    raw.outbox.put(repeat)
    raw.send(wpb.WorkerMessage(set_event=wpb.SetEventRequest(**at, step_number=3, key="c",
                                                             value=payload(3))))
    replies = [next_of(raw, "reply"), next_of(raw, "reply")]
    assert sorted(r.set_event.step.step_number for r in replies) == [1, 3]
    assert [s.step_number for s in cluster.client().retrieve_workflow("wf-len").steps()] == [0, 1, 3]
    # A second Register ends the stream with INVALID_ARGUMENT.
    raw.send(wpb.WorkerMessage(register=wpb.Register(worker_id="again", workflows=["edge_wf10"],
                                                     workflow_slots=1)))
    wait_for(lambda: raw.responses.done(), "the stream to end")
    assert raw.responses.code() is C.INVALID_ARGUMENT
    assert "register may only be the first message" in raw.responses.details()


def test_10_register_with_seq_0_is_accepted(cluster: Any) -> None:
    with grpc.insecure_channel(cluster.address) as channel:
        from keel.v1 import worker_service_pb2_grpc as wgrpc
        call = wgrpc.WorkerServiceStub(channel).Connect(iter([wpb.WorkerMessage(
            seq=0, register=wpb.Register(worker_id="zero", steps=["x"], step_slots=1))]))
        first = next(call)
        assert first.WhichOneof("body") == "registered"
        call.cancel()


