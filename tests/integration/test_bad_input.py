"""Bad input gets a clear status and a message naming the problem; the
coordinator keeps serving and loses nothing."""

from __future__ import annotations

import os
import socket
from typing import Any

import grpc
import pytest
from keel.v1 import client_service_pb2 as cpb
from keel.v1 import client_service_pb2_grpc as cgrpc
from keel.v1 import common_pb2 as pb
from keel.v1 import worker_service_pb2 as wpb
from keel.v1 import worker_service_pb2_grpc as wgrpc

BIG = [("grpc.max_send_message_length", 64 * 1024 * 1024),
       ("grpc.max_receive_message_length", 64 * 1024 * 1024)]


@pytest.fixture
def stubs(cluster: Any) -> Any:
    with grpc.insecure_channel(cluster.address, options=BIG) as ch:
        yield cgrpc.ClientServiceStub(ch), wgrpc.WorkerServiceStub(ch)


def status_of(call: Any, request: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        call(request, timeout=10)
    return err.value.code(), err.value.details()


def start(name: str = "three_steps", data: bytes = b'{"args": ["x"]}', encoding: str = "json",
          **kw: Any) -> cpb.StartWorkflowRequest:
    return cpb.StartWorkflowRequest(name=name, input=pb.Payload(encoding=encoding, data=data), **kw)


def test_client_rpcs_refuse_bad_input(cluster: Any, stubs: Any) -> None:
    client, _ = stubs
    cases = [
        (start(data=b"{not json"), grpc.StatusCode.INVALID_ARGUMENT, "not valid JSON"),
        (start(data=b"\xff\xfe"), grpc.StatusCode.INVALID_ARGUMENT, "not valid JSON"),
        (start(data=b"[1, 2]"), grpc.StatusCode.INVALID_ARGUMENT, '"args"'),
        (start(encoding="yaml"), grpc.StatusCode.INVALID_ARGUMENT, "unknown encoding 'yaml'"),
        (start(name="bad name!"), grpc.StatusCode.INVALID_ARGUMENT, "invalid workflow name 'bad name!'"),
        (start(name=""), grpc.StatusCode.INVALID_ARGUMENT, "invalid workflow name"),
        (start(workflow_id="x" * 201), grpc.StatusCode.INVALID_ARGUMENT, "invalid workflow_id"),
        (start(workflow_id="a\nb"), grpc.StatusCode.INVALID_ARGUMENT, "invalid workflow_id"),
        # Under the 4 MiB message limit but over the 2 MiB payload limit.
        (start(data=b'{"args": ["' + b"a" * (3 << 20) + b'"]}'), grpc.StatusCode.RESOURCE_EXHAUSTED,
         "over the limit"),
    ]
    for request, code, words in cases:
        got_code, details = status_of(client.StartWorkflow, request)
        assert (got_code, words in details) == (code, True), (request.name, got_code, details)

    # Over the message limit itself: refused by the transport, not a crash.
    code, details = status_of(client.StartWorkflow, start(data=b'{"args": ["' + b"a" * (5 << 20) + b'"]}'))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, details

    for call, request in [
        (client.GetWorkflow, cpb.GetWorkflowRequest(workflow_id="nope")),
        (client.AwaitWorkflow, cpb.AwaitWorkflowRequest(workflow_id="nope")),
        (client.ListSteps, cpb.ListStepsRequest(workflow_id="nope")),
    ]:
        code, details = status_of(call, request)
        assert code == grpc.StatusCode.NOT_FOUND and "'nope'" in details
    code, details = status_of(client.GetWorkflow, cpb.GetWorkflowRequest())
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "workflow_id is required" in details
    code, details = status_of(client.ListWorkflows, cpb.ListWorkflowsRequest(limit=5000))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_worker_rpcs_refuse_bad_input(cluster: Any, stubs: Any) -> None:
    client, worker = stubs
    client.StartWorkflow(start(workflow_id="wf-bad"), timeout=10)
    no_outcome = wpb.RecordStepRequest(workflow_id="wf-bad", epoch=1, step_number=0, name="s")
    code, details = status_of(worker.RecordStep, no_outcome)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "outcome" in details
    bad_json = wpb.RecordStepRequest(workflow_id="wf-bad", epoch=1, step_number=0, name="s",
                                     output=pb.Payload(encoding="json", data=b"{{"))
    code, details = status_of(worker.RecordStep, bad_json)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "output is not valid JSON" in details
    negative = wpb.RecordStepRequest(workflow_id="wf-bad", epoch=1, step_number=-1, name="s",
                                     output=pb.Payload(encoding="json", data=b"1"))
    code, _ = status_of(worker.RecordStep, negative)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    never_assigned = wpb.RecordStepRequest(workflow_id="wf-bad", epoch=99, step_number=0, name="s",
                                           output=pb.Payload(encoding="json", data=b"1"))
    code, details = status_of(worker.RecordStep, never_assigned)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "wf-bad" in details
    finish = wpb.FinishWorkflowRequest(workflow_id="wf-bad", epoch=99,
                                       output=pb.Payload(encoding="json", data=b"1"))
    code, _ = status_of(worker.FinishWorkflow, finish)
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    # Nothing above was recorded.
    assert list(client.ListSteps(cpb.ListStepsRequest(workflow_id="wf-bad"), timeout=10).steps) == []


def test_garbage_on_the_port_does_not_stop_the_coordinator(cluster: Any) -> None:
    for junk in [os.urandom(4096), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(512)]:
        with socket.create_connection(("127.0.0.1", cluster.port), timeout=5) as s:
            s.sendall(junk)
            try:
                s.recv(1024)
            except (TimeoutError, ConnectionError):
                pass
    assert cluster.coordinator.alive()
    cluster.start_worker()
    handle = cluster.client().start_workflow("three_steps", "after-junk")
    assert handle.result(timeout=20) == ["after-junk-0-done", "after-junk-1-done", "after-junk-2-done"]


def test_oversized_step_output_is_recorded_as_an_error(cluster: Any) -> None:
    cluster.start_worker("tests.flows_big")
    handle = cluster.client().start_workflow("big_output", workflow_id="wf-big")
    assert handle.result(timeout=20) == "caught OutputRejected"
    [step] = handle.steps()
    assert step.status == "ERROR" and "over the limit" in (step.error or "")
    remote = cluster.client().start_workflow("big_output_remote", workflow_id="wf-big-remote")
    assert remote.result(timeout=20) == "caught OutputRejected"
    [step] = remote.steps()
    assert step.status == "ERROR" and step.attempt == 1
