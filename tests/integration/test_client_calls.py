"""ClientService.Calls on a real coordinator, driven by hand over the wire on
both stores: calls answered by id as they complete, each call's error its own,
cancels, a duplicate id, a malformed stream. (The Python client's side, and
what it does when the stream ends: tests/unit/test_client_calls.py.)"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from keel.v1 import client_service_pb2 as cpb
from keel.v1 import client_service_pb2_grpc as cgrpc
from keel.v1 import common_pb2 as pb

from tests.integration.test_protocol import payload

C = grpc.StatusCode


class RawCalls:
    """One Calls stream: send CallsRequests, read answers by id."""

    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(address)
        self.outgoing: queue.SimpleQueue[cpb.CallsRequest | None] = queue.SimpleQueue()
        self.answers: dict[int, cpb.ClientAnswer] = {}
        self.arrived = threading.Condition()
        self.status: grpc.StatusCode | None = None
        self.details = ""
        self.responses = cgrpc.ClientServiceStub(self.channel).Calls(self._requests(), timeout=60)
        threading.Thread(target=self._read, daemon=True).start()

    def _requests(self) -> Iterator[cpb.CallsRequest]:
        while (request := self.outgoing.get()) is not None:
            yield request

    def _read(self) -> None:
        try:
            for response in self.responses:
                with self.arrived:
                    for answer in response.answers:
                        assert answer.id not in self.answers, f"answered twice: {answer.id}"
                        self.answers[answer.id] = answer
                    self.arrived.notify_all()
            status, details = C.OK, ""
        except grpc.RpcError as err:
            status, details = err.code(), err.details() or ""
        with self.arrived:
            self.status, self.details = status, details
            self.arrived.notify_all()

    def send(self, *calls: cpb.ClientCall, cancel: tuple[int, ...] = ()) -> None:
        self.outgoing.put(cpb.CallsRequest(calls=calls, cancel=cancel))

    def answer(self, call_id: int, timeout: float = 20) -> cpb.ClientAnswer:
        with self.arrived:
            arrived = self.arrived.wait_for(
                lambda: call_id in self.answers or self.status is not None, timeout)
            assert arrived, f"no answer to call {call_id} within {timeout} s"
            assert call_id in self.answers, f"the stream ended ({self.status}: {self.details}) unanswered"
            return self.answers[call_id]

    def ended(self, timeout: float = 20) -> tuple[grpc.StatusCode, str]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: self.status is not None, timeout), "the stream did not end"
            assert self.status is not None
            return self.status, self.details

    def close(self) -> None:
        self.outgoing.put(None)


def _seconds(s: float) -> Duration:
    return Duration(seconds=int(s))


def _error(answer: cpb.ClientAnswer) -> tuple[grpc.StatusCode, str]:
    assert answer.WhichOneof("answer") == "error", answer
    return next(c for c in C if c.value[0] == answer.error.code), answer.error.message


def test_calls_are_answered_by_id_each_error_its_own(cluster: Any) -> None:
    cluster.start_worker("tests.flows")
    calls = RawCalls(cluster.address)
    calls.send(
        cpb.ClientCall(id=1, start_workflow=cpb.StartWorkflowRequest(
            name="noops", workflow_id="calls-1", input=payload({"args": [2], "kwargs": {}}))),
        cpb.ClientCall(id=2, get_workflow=cpb.GetWorkflowRequest(workflow_id="nobody")),
        cpb.ClientCall(id=3),
        cpb.ClientCall(id=5, send=cpb.SendRequest(workflow_id="nobody", message=payload(1),
                                                  idempotency_key="k")),
        cpb.ClientCall(id=6, get_event=cpb.GetEventRequest(workflow_id="calls-1", key="never",
                                                           timeout=_seconds(50))),
        cpb.ClientCall(id=7, start_workflow=cpb.StartWorkflowRequest(name="", workflow_id="calls-7")),
    )
    assert calls.answer(1).start_workflow.created
    # (Calls sent together run concurrently: an await sent with the start may
    # find no workflow yet.)
    calls.send(cpb.ClientCall(id=4, await_workflow=cpb.AwaitWorkflowRequest(workflow_id="calls-1",
                                                                            timeout=_seconds(30))))
    assert _error(calls.answer(2))[0] == C.NOT_FOUND
    code, message = _error(calls.answer(3))
    assert code == C.INVALID_ARGUMENT and "names no request" in message
    final = calls.answer(4)
    assert final.WhichOneof("answer") == "await_workflow", final
    assert final.await_workflow.workflow.status == pb.WORKFLOW_STATUS_SUCCESS
    assert _error(calls.answer(5))[0] == C.NOT_FOUND
    assert _error(calls.answer(7))[0] == C.INVALID_ARGUMENT
    calls.send(cancel=(6,))  # held for 50 s: the cancel ends it, unanswered
    calls.close()
    assert calls.ended(timeout=20) == (C.OK, "")
    assert 6 not in calls.answers


def test_a_duplicate_id_in_flight_ends_the_stream(cluster: Any) -> None:
    """Its answer could not say which call it answers: the client's bug ends its stream."""
    calls = RawCalls(cluster.address)
    held = cpb.ClientCall(id=9, get_event=cpb.GetEventRequest(workflow_id="w", key="k", timeout=_seconds(50)))
    calls.send(held)
    calls.send(cpb.ClientCall(id=9, get_workflow=cpb.GetWorkflowRequest(workflow_id="w")))
    code, message = calls.ended()
    assert code == C.INVALID_ARGUMENT and "call id 9 is already in flight" in message
    assert not calls.answers


def test_a_malformed_request_ends_only_its_stream(cluster: Any) -> None:
    channel = grpc.insecure_channel(cluster.address)
    raw = channel.stream_stream("/keel.v1.ClientService/Calls")
    try:
        list(raw(iter([b"\xff\xff\xff"]), timeout=15))
        raise AssertionError("a malformed request was accepted")
    except grpc.RpcError as err:
        assert err.code() == C.INVALID_ARGUMENT, err
        assert "not a valid protobuf message" in (err.details() or "")
    calls = RawCalls(cluster.address)  # the coordinator serves on
    calls.send(cpb.ClientCall(id=1, get_workflow=cpb.GetWorkflowRequest(workflow_id="nobody")))
    assert _error(calls.answer(1))[0] == C.NOT_FOUND
    calls.close()
    assert calls.ended()[0] == C.OK


def test_a_cancelled_id_may_be_used_again_at_once(cluster: Any) -> None:
    calls = RawCalls(cluster.address)
    calls.send(cpb.ClientCall(id=3, get_event=cpb.GetEventRequest(workflow_id="w", key="k",
                                                                  timeout=_seconds(50))))
    calls.send(cpb.ClientCall(id=3, await_workflow=cpb.AwaitWorkflowRequest(workflow_id="nobody")),
               cancel=(3,))
    assert _error(calls.answer(3))[0] == C.NOT_FOUND  # the new call's, never the cancelled one's
    calls.close()
    assert calls.ended()[0] == C.OK
