"""Inputs that used to hurt callers other than the one who sent them (issue 18):
each is refused with a status that names it, or stored so that every read of
it still answers, on both stores."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration as D
from google.protobuf.timestamp_pb2 import Timestamp as T
from keel.v1 import client_service_pb2 as cpb
from keel.v1 import common_pb2 as pb
from keel.v1 import worker_service_pb2 as wpb

from tests.rawworker import Stubs, code_of, json_payload
from worker import WorkflowFailed

C = grpc.StatusCode
MIB = 1 << 20
# The default payload limit: two of them and a record fit one 4 MiB message.
PAYLOAD_LIMIT = (4 * MIB - 64 * 1024) // 2


@pytest.fixture
def stubs(cluster: Any) -> Iterator[Stubs]:
    s = Stubs(cluster.address)
    yield s
    s.close()


def listing_works(stubs: Stubs) -> list[str]:
    resp = stubs.client.ListWorkflows(cpb.ListWorkflowsRequest(limit=1000), timeout=15)
    return [w.workflow_id for w in resp.workflows]


def test_1_a_timeout_past_9999_is_refused_before_anything_is_stored(stubs: Stubs) -> None:
    for seconds in (10**12, 10**16, 315_576_000_001):
        wid = f"far-{seconds}"
        request = cpb.StartWorkflowRequest(name="any", workflow_id=wid, input=json_payload("{}"),
                                           timeout=D(seconds=seconds))
        code, details = code_of(stubs.client.StartWorkflow, request)
        assert code == C.INVALID_ARGUMENT and "timeout" in details, (seconds, code, details)
        assert code_of(stubs.client.GetWorkflow, cpb.GetWorkflowRequest(workflow_id=wid))[0] == C.NOT_FOUND
    bad_nanos = cpb.StartWorkflowRequest(name="any", input=json_payload("{}"), timeout=D(seconds=1, nanos=-5))
    assert code_of(stubs.client.StartWorkflow, bad_nanos)[0] == C.INVALID_ARGUMENT
    # A long but storable timeout is fine, and every read of it answers.
    ok = cpb.StartWorkflowRequest(name="any", workflow_id="far-ok", input=json_payload("{}"),
                                  timeout=D(seconds=50 * 365 * 86400))
    assert code_of(stubs.client.StartWorkflow, ok)[0] == C.OK
    assert "far-ok" in listing_works(stubs)
    assert code_of(stubs.client.GetWorkflow, cpb.GetWorkflowRequest(workflow_id="far-ok"))[0] == C.OK


def test_2_an_error_message_with_nul_finishes_the_workflow(cluster: Any, stubs: Stubs) -> None:
    raw, epoch = stubs.running("raw_nul", "wf-nul")
    error = pb.ErrorInfo(type="Value\x00Error", message="a\x00b", details="tb\x00")
    step = wpb.RecordStepRequest(workflow_id="wf-nul", epoch=epoch, step_number=0, name="s", error=error)
    assert code_of(stubs.worker.RecordStep, step) == (C.OK, "")
    finish = wpb.FinishWorkflowRequest(workflow_id="wf-nul", epoch=epoch, error=error)
    assert code_of(stubs.worker.FinishWorkflow, finish) == (C.OK, "")
    got = stubs.client.GetWorkflow(cpb.GetWorkflowRequest(workflow_id="wf-nul"), timeout=10).workflow
    assert (got.status, got.error) == (pb.WORKFLOW_STATUS_ERROR, error)
    [recorded] = stubs.client.ListSteps(cpb.ListStepsRequest(workflow_id="wf-nul"), timeout=10).steps
    assert recorded.error == error
    raw.close()
    code, _ = code_of(stubs.client.ListWorkflows, cpb.ListWorkflowsRequest(name="a\x00"))
    assert code == C.INVALID_ARGUMENT
    # Through the SDK: the workflow ends ERROR with the message as raised.
    cluster.start_worker()
    handle = cluster.client().start_workflow("failing", "a\x00b", workflow_id="wf-nul-sdk")
    with pytest.raises(WorkflowFailed) as err:
        handle.result(timeout=20)
    assert err.value.error_message == "a\x00b"


def test_3_and_4_every_answer_fits_the_message_limit(stubs: Stubs) -> None:
    near = b'{"args": ["' + b"x" * (PAYLOAD_LIMIT - 20) + b'"]}'
    for i in range(3):
        request = cpb.StartWorkflowRequest(name="raw_big", workflow_id=f"big-{i}", input=json_payload(near))
        assert code_of(stubs.client.StartWorkflow, request)[0] == C.OK
    # A listing carries no payloads, so it answers whatever was stored.
    listed = stubs.client.ListWorkflows(cpb.ListWorkflowsRequest(), timeout=15).workflows
    assert [w.workflow_id for w in listed] == ["big-2", "big-1", "big-0"]
    assert all(w.payloads_omitted and not w.input.data for w in listed)
    # A payload over the limit is refused, one at the limit with an output at the limit is readable.
    over = cpb.StartWorkflowRequest(name="raw_big", input=json_payload(near[:-2] + b'x"]}' + b" " * 40))
    assert code_of(stubs.client.StartWorkflow, over)[0] == C.RESOURCE_EXHAUSTED
    raw, epoch = stubs.running("raw_big_out", "big-out", input=json_payload(near))
    out = json_payload(b'"' + b"y" * (PAYLOAD_LIMIT - 2) + b'"')
    steps = [wpb.RecordStepRequest(workflow_id="big-out", epoch=epoch, step_number=n, name="s", output=out)
             for n in range(3)]
    for step in steps:
        assert code_of(stubs.worker.RecordStep, step)[0] == C.OK
    finish = wpb.FinishWorkflowRequest(workflow_id="big-out", epoch=epoch, output=out)
    assert code_of(stubs.worker.FinishWorkflow, finish)[0] == C.OK
    raw.close()
    with stubs.default_limits() as client:  # a client with gRPC's default 4 MiB limit
        wf = client.AwaitWorkflow(cpb.AwaitWorkflowRequest(workflow_id="big-out"), timeout=10).workflow
        assert wf.output == out
        # ListSteps pages: each page fits, and together they hold every step.
        seen, first, more = [], 0, True
        while more:
            page = client.ListSteps(cpb.ListStepsRequest(workflow_id="big-out", from_step_number=first),
                                    timeout=10)
            seen += [s.step_number for s in page.steps]
            more, first = page.more, seen[-1] + 1
        assert seen == [0, 1, 2]


def test_5_out_of_range_times_are_refused_and_the_wait_still_completes(stubs: Stubs) -> None:
    raw, epoch = stubs.running("raw_times", "wf-times")
    at = {"workflow_id": "wf-times", "epoch": epoch, "step_number": 0}
    far = D(seconds=10**12)
    for call, request in [
        (stubs.worker.RecordStep, wpb.RecordStepRequest(**at, name="s", output=json_payload("1"),
                                                        started_at=T(seconds=10**12))),
        (stubs.worker.RecordStep, wpb.RecordStepRequest(**at, name="s", output=json_payload("1"),
                                                        started_at=T(nanos=-1))),
        (stubs.worker.Park, wpb.ParkRequest(workflow_id="wf-times", epoch=epoch,
                                            resume_at=T(seconds=10**12))),
        (stubs.worker.ReadEvent, wpb.ReadEventRequest(**at, target_workflow_id="x", key="k", timeout=far)),
        (stubs.worker.ReceiveMessage, wpb.ReceiveMessageRequest(**at, topic="t", timeout=far)),
        (stubs.worker.ReceiveMessage, wpb.ReceiveMessageRequest(**at, topic="t", timeout=D(nanos=10**9))),
        (stubs.worker.Sleep, wpb.SleepRequest(**at, duration=far)),
        (stubs.worker.Sleep, wpb.SleepRequest(**at, duration=D(seconds=-1))),
    ]:
        code, details = code_of(call, request)
        assert code == C.INVALID_ARGUMENT, (request, code, details)
    # Nothing of that was stored: the same step can still wait and complete.
    message = cpb.SendRequest(workflow_id="wf-times", topic="t", message=json_payload("7"))
    stubs.client.Send(message, timeout=10)
    answer = stubs.worker.ReceiveMessage(wpb.ReceiveMessageRequest(**at, topic="t", timeout=D(seconds=5)),
                                         timeout=10)
    assert answer.step.output.data == b"7"
    raw.close()


def test_6_deeply_nested_json_is_invalid_argument_everywhere(stubs: Stubs) -> None:
    deep = "[" * 2000 + "]" * 2000
    args = json_payload('{"args": ' + deep + "}")
    raw, epoch = stubs.running("raw_deep", "wf-deep")
    at = {"workflow_id": "wf-deep", "epoch": epoch, "step_number": 0}
    for call, request in [
        (stubs.client.StartWorkflow, cpb.StartWorkflowRequest(name="raw_deep", input=args)),
        (stubs.client.Send, cpb.SendRequest(workflow_id="wf-deep", message=json_payload(deep))),
        (stubs.worker.RecordStep, wpb.RecordStepRequest(**at, name="s", output=json_payload(deep))),
        (stubs.worker.SetEvent, wpb.SetEventRequest(**at, key="k", value=json_payload(deep))),
        (stubs.worker.ScheduleStep, wpb.ScheduleStepRequest(**at, name="s", input=args)),
        (stubs.worker.FinishWorkflow, wpb.FinishWorkflowRequest(workflow_id="wf-deep", epoch=epoch,
                                                                output=json_payload(deep))),
    ]:
        code, details = code_of(call, request)
        assert code == C.INVALID_ARGUMENT and "nested deeper than 100" in details, (call, code, details)
    # 100 levels are fine.
    fine = wpb.FinishWorkflowRequest(workflow_id="wf-deep", epoch=epoch,
                                     output=json_payload("[" * 100 + "]" * 100))
    assert code_of(stubs.worker.FinishWorkflow, fine)[0] == C.OK
    assert json.loads(stubs.client.GetWorkflow(cpb.GetWorkflowRequest(workflow_id="wf-deep")).workflow
                      .output.data) == json.loads("[" * 100 + "]" * 100)
    raw.close()


def test_8_undecodable_request_bytes_are_invalid_argument_on_every_method(stubs: Stubs) -> None:
    from keel.v1 import client_service_pb2, worker_service_pb2

    garbage = b"\x0a\xff\xff\xff\xff\x0f"  # a length past the end
    for module in (client_service_pb2, worker_service_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                path = f"/{service.full_name}/{method.name}"
                if method.client_streaming:
                    call = stubs.channel.stream_stream(path)
                    responses = call(iter([garbage]), timeout=10)
                    with pytest.raises(grpc.RpcError) as err:
                        list(responses)
                elif method.server_streaming:
                    with pytest.raises(grpc.RpcError) as err:
                        list(stubs.channel.unary_stream(path)(garbage, timeout=10))
                else:
                    with pytest.raises(grpc.RpcError) as err:
                        stubs.channel.unary_unary(path)(garbage, timeout=10)
                assert err.value.code() == C.INVALID_ARGUMENT, (path, err.value.code(), err.value.details())
                assert "not a valid protobuf message" in (err.value.details() or ""), path


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        line = next(line for line in f if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_7_a_worker_that_does_not_read_costs_a_bounded_amount(cluster: Any, stubs: Stubs) -> None:
    from tests.rawworker import RawWorker

    pid = cluster.coordinator.pid
    before = rss_mib(pid)
    # Declares 5,000 slots, then never reads its stream.
    raw = RawWorker(stubs.channel, "sink", ["raw_sink"], slots=5000, read=False)
    near = json_payload(b'{"args": ["' + b"x" * (PAYLOAD_LIMIT - 20) + b'"]}')
    for i in range(60):
        stubs.client.StartWorkflow(cpb.StartWorkflowRequest(name="raw_sink", workflow_id=f"sink-{i}",
                                                            input=near), timeout=15)
    time.sleep(3)  # several dispatch passes
    grown = rss_mib(pid) - before
    # 60 inputs of 2 MiB would be 120 MiB at least; the link holds one claim batch.
    assert grown < 90, f"the coordinator grew by {grown:.0f} MiB"
    assert len(listing_works(stubs)) == 60  # and it still answers
    raw.close()
