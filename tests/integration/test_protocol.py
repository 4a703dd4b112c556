"""The wire protocol driven by hand, as a worker in another language would:
fencing of stale executions, first outcome wins, and stream rules."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from keel.v1 import common_pb2 as pb
from keel.v1 import worker_service_pb2 as wpb
from keel.v1 import worker_service_pb2_grpc as wgrpc


def payload(value: Any) -> pb.Payload:
    return pb.Payload(encoding="json", data=json.dumps(value).encode())


class RawWorker:
    """A minimal worker speaking the protocol directly."""

    def __init__(self, address: str, worker_id: str, workflows: list[str], steps: list[str],
                 batches: bool = False) -> None:
        self.channel = grpc.insecure_channel(address)
        self.stub = wgrpc.WorkerServiceStub(self.channel)
        self.outbox: queue.Queue[wpb.WorkerMessage | None] = queue.Queue()
        self.inbox: queue.Queue[wpb.CoordinatorMessage] = queue.Queue()
        self.seq = 0
        self.send(wpb.WorkerMessage(register=wpb.Register(
            worker_id=worker_id, workflows=workflows, steps=steps, workflow_slots=1, step_slots=1,
            sdk="test/raw", batches=batches)))
        self.responses = self.stub.Connect(self._requests())
        threading.Thread(target=self._read, daemon=True).start()
        self.registered = self.next(timeout=10)
        assert self.registered.WhichOneof("body") == "registered"

    def _requests(self) -> Iterator[wpb.WorkerMessage]:
        while (msg := self.outbox.get()) is not None:
            yield msg

    def _read(self) -> None:
        try:
            for msg in self.responses:
                self.inbox.put(msg)
        except grpc.RpcError:
            pass

    def send(self, msg: wpb.WorkerMessage) -> None:
        self.seq += 1
        msg.seq = self.seq
        self.outbox.put(msg)

    def send_batch(self, *msgs: wpb.WorkerMessage) -> None:
        """`msgs` numbered and written as one WorkerBatch."""
        for msg in msgs:
            self.seq += 1
            msg.seq = self.seq
        self.outbox.put(wpb.WorkerMessage(batch=wpb.WorkerBatch(messages=msgs)))

    def next(self, timeout: float = 10) -> wpb.CoordinatorMessage:
        try:
            return self.inbox.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message from the coordinator within {timeout} s") from None

    def close(self) -> None:
        self.outbox.put(None)
        self.responses.cancel()
        self.channel.close()


def record(stub: Any, wf: str, epoch: int, n: int, value: Any, attempt: int = 0,
           name: str = "s") -> pb.StepRecord:
    return stub.RecordStep(wpb.RecordStepRequest(
        workflow_id=wf, epoch=epoch, step_number=n, name=name, attempt=attempt, output=payload(value),
    ), timeout=10).step


def test_stale_execution_is_fenced_and_first_outcome_wins(cluster: Any) -> None:
    client = cluster.client()
    client.start_workflow("raw_wf", workflow_id="wf-raw")
    a = RawWorker(cluster.address, "raw-a", ["raw_wf"], [])
    first = a.next().run_workflow
    assert (first.workflow_id, first.epoch, first.has_history) == ("wf-raw", 1, False)
    assert record(a.stub, "wf-raw", 1, 0, "from-a").output.data == b'"from-a"'

    # Worker a vanishes; b gets the workflow under a new epoch, with history.
    a.close()
    b = RawWorker(cluster.address, "raw-b", ["raw_wf"], [])
    second = b.next().run_workflow
    assert (second.epoch, second.has_history) == (2, True)

    # a's late outcome for step 1 is refused: its epoch is fenced off.
    with pytest.raises(grpc.RpcError) as err:
        record(b.stub, "wf-raw", 1, 1, "late-from-a")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "stale" in err.value.details() or "lease" in err.value.details()

    # b replays step 0 (recorded by a) and records step 1; a second outcome for
    # step 1 does not overwrite the first.
    history = b.stub.GetHistory(wpb.GetHistoryRequest(workflow_id="wf-raw", after_step_number=-1),
                                timeout=10)
    assert [s.output.data for s in history.steps] == [b'"from-a"']
    assert record(b.stub, "wf-raw", 2, 1, "from-b").output.data == b'"from-b"'
    again = record(b.stub, "wf-raw", 2, 1, "second-try")
    assert again.output.data == b'"from-b"' and again.completion_seq == 2

    # An assigned-step outcome with an attempt the coordinator never handed out.
    with pytest.raises(grpc.RpcError) as err:
        record(b.stub, "wf-raw", 2, 2, "x", attempt=7)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    b.stub.FinishWorkflow(wpb.FinishWorkflowRequest(workflow_id="wf-raw", epoch=2,
                                                    output=payload("done")), timeout=10)
    assert client.retrieve_workflow("wf-raw").result(timeout=10) == "done"
    # Finished: nothing more can be recorded, even under the last epoch.
    with pytest.raises(grpc.RpcError) as err:
        record(b.stub, "wf-raw", 2, 3, "after the end")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    b.close()


def test_remote_step_attempts_are_fenced(cluster: Any) -> None:
    """A step dispatched to a worker that dies is re-dispatched with attempt 2;
    the outcome of attempt 1 is then refused."""
    client = cluster.client()
    client.start_workflow("raw_wf2", workflow_id="wf-raw2")
    runner = RawWorker(cluster.address, "raw-runner", ["raw_wf2"], [])
    run = runner.next().run_workflow
    result: dict[str, Any] = {}

    def schedule() -> None:
        result["step"] = runner.stub.ScheduleStep(wpb.ScheduleStepRequest(
            workflow_id="wf-raw2", epoch=run.epoch, step_number=0, name="far_step",
            input=payload({"args": [1], "kwargs": {}})), timeout=30).step

    t = threading.Thread(target=schedule)
    t.start()
    s1 = RawWorker(cluster.address, "raw-s1", [], ["far_step"])
    a1 = s1.next().run_step
    assert (a1.step_number, a1.attempt, json.loads(a1.input.data)) == (0, 1, {"args": [1], "kwargs": {}})
    s1.close()  # dies before reporting
    s2 = RawWorker(cluster.address, "raw-s2", [], ["far_step"])
    a2 = s2.next().run_step
    assert a2.attempt == 2
    with pytest.raises(grpc.RpcError) as err:
        record(s2.stub, "wf-raw2", run.epoch, 0, "from attempt 1", attempt=1, name="far_step")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert record(s2.stub, "wf-raw2", run.epoch, 0, "from attempt 2", attempt=2, name="far_step").attempt == 2
    t.join(10)
    assert result["step"].output.data == b'"from attempt 2"'
    for w in (runner, s2):
        w.close()


def test_stream_must_start_with_register(cluster: Any) -> None:
    with grpc.insecure_channel(cluster.address) as ch:
        stub = wgrpc.WorkerServiceStub(ch)
        with pytest.raises(grpc.RpcError) as err:
            list(stub.Connect(iter([wpb.WorkerMessage(seq=1, heartbeat=wpb.Heartbeat())]), timeout=10))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "register" in err.value.details()
        bad = wpb.WorkerMessage(seq=1, register=wpb.Register(worker_id="w", workflows=["not a name!"],
                                                             workflow_slots=1))
        with pytest.raises(grpc.RpcError) as err:
            list(stub.Connect(iter([bad]), timeout=10))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a name!" in err.value.details()
