"""The client's Calls stream (worker/_calls.py) against scripted coordinators
in this process: what a real one never does on cue (lack Calls, end the
stream mid-call, never answer). The real coordinator's side of Calls is
tested in tests/integration/test_client_calls.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from keel.v1 import client_service_pb2 as cpb
from keel.v1 import client_service_pb2_grpc as cgrpc
from keel.v1 import common_pb2 as pb
from keel.v1 import worker_service_pb2 as wpb

from tests.harness import free_port
from worker import Client, CoordinatorError, WorkflowNotFound


class Scripted(cgrpc.ClientServiceServicer):
    """Answers get_workflow on Calls with the workflow ID asked for (PENDING);
    IDs starting with "missing" NOT_FOUND, "silent" never. `end_first`: the
    first stream ends UNAVAILABLE once it has a call. Without `calls`, only
    the unary GetWorkflow exists (Calls is UNIMPLEMENTED, as on an older
    coordinator)."""

    def __init__(self, calls: bool = True, end_first: bool = False) -> None:
        self.calls = calls
        self.end_first = end_first
        self.streams = 0
        self.unary = 0
        self.cancelled: list[int] = []
        self.received: list[int] = []
        self.lock = threading.Lock()

    def GetWorkflow(self, request: cpb.GetWorkflowRequest, context: Any) -> cpb.GetWorkflowResponse:
        with self.lock:
            self.unary += 1
        return cpb.GetWorkflowResponse(workflow=_info(request.workflow_id))

    def Calls(self, request_iterator: Iterator[cpb.CallsRequest],
              context: Any) -> Iterator[cpb.CallsResponse]:
        if not self.calls:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not implemented!")
        with self.lock:
            self.streams += 1
            first = self.streams == 1
        for request in request_iterator:
            with self.lock:
                self.cancelled.extend(request.cancel)
                self.received.extend(c.id for c in request.calls)
            if first and self.end_first and request.calls:
                context.abort(grpc.StatusCode.UNAVAILABLE, "going away")
            answers = [_answer(c) for c in request.calls
                       if not c.get_workflow.workflow_id.startswith("silent")]
            if answers:
                yield cpb.CallsResponse(answers=answers)


def _info(workflow_id: str) -> cpb.WorkflowInfo:
    return cpb.WorkflowInfo(workflow_id=workflow_id, name="w", status=pb.WORKFLOW_STATUS_PENDING)


def _answer(call: cpb.ClientCall) -> cpb.ClientAnswer:
    workflow_id = call.get_workflow.workflow_id
    if workflow_id.startswith("missing"):
        return cpb.ClientAnswer(id=call.id, error=wpb.CallError(
            code=grpc.StatusCode.NOT_FOUND.value[0], message=f"no workflow {workflow_id}"))
    return cpb.ClientAnswer(id=call.id, get_workflow=cpb.GetWorkflowResponse(workflow=_info(workflow_id)))


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[grpc.Server] = []

    def start(servicer: Scripted) -> Client:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        cgrpc.add_ClientServiceServicer_to_server(servicer, server)
        port = free_port()
        server.add_insecure_port(f"127.0.0.1:{port}")
        server.start()
        servers.append(server)
        return Client(f"127.0.0.1:{port}", timeout=5)

    yield start
    for server in servers:
        server.stop(None)


def test_calls_from_many_threads_share_one_stream_and_get_their_own_answers(serve: Any) -> None:
    servicer = Scripted()
    client = serve(servicer)
    with futures.ThreadPoolExecutor(16) as pool:
        ids = [f"wf-{i}" for i in range(200)]
        got = list(pool.map(lambda i: client.get_workflow(i).workflow_id, ids))
    assert got == ids
    assert servicer.streams == 1 and servicer.unary == 0
    client.close()


def test_an_error_answer_raises_as_the_unary_call_would_and_spares_the_others(serve: Any) -> None:
    client = serve(Scripted())
    with pytest.raises(WorkflowNotFound):
        client.get_workflow("missing-1")
    assert client.get_workflow("wf-after").workflow_id == "wf-after"
    client.close()


def test_a_coordinator_without_calls_gets_unary_calls(serve: Any) -> None:
    servicer = Scripted(calls=False)
    client = serve(servicer)
    assert client.get_workflow("wf-1").workflow_id == "wf-1"
    assert client.get_workflow("wf-2").workflow_id == "wf-2"
    assert servicer.unary == 2  # and Calls was not tried again
    client.close()


def test_calls_in_flight_when_the_stream_ends_are_retried_on_a_new_one(serve: Any) -> None:
    servicer = Scripted(end_first=True)
    client = serve(servicer)
    assert client.get_workflow("wf-1").workflow_id == "wf-1"
    assert servicer.streams == 2
    client.close()


def test_a_call_past_its_deadline_is_cancelled_on_the_stream(serve: Any) -> None:
    servicer = Scripted()
    client = serve(servicer)
    client.timeout = 0.3
    started = time.monotonic()
    with pytest.raises(CoordinatorError) as caught:
        client.get_workflow("silent-1")
    assert caught.value.code == "DEADLINE_EXCEEDED"
    assert time.monotonic() - started < 3
    assert client.get_workflow("wf-2").workflow_id == "wf-2"  # the stream still serves
    deadline = time.monotonic() + 5
    while servicer.cancelled != servicer.received[:1] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert servicer.cancelled == servicer.received[:1]
    client.close()
