"""A worker speaking the protocol by hand, for tests that send what an SDK never would."""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Iterator
from typing import Any

import grpc
from keel.v1 import client_service_pb2 as cpb
from keel.v1 import client_service_pb2_grpc as cgrpc
from keel.v1 import common_pb2 as pb
from keel.v1 import worker_service_pb2 as wpb
from keel.v1 import worker_service_pb2_grpc as wgrpc

BIG = [("grpc.max_send_message_length", 64 * 1024 * 1024),
       ("grpc.max_receive_message_length", 64 * 1024 * 1024)]


def json_payload(data: bytes | str) -> pb.Payload:
    return pb.Payload(encoding="json", data=data.encode() if isinstance(data, str) else data)


class RawWorker:
    """One Connect stream, registered for `workflows`; `take()` the next assignment."""

    def __init__(self, channel: grpc.Channel, worker_id: str, workflows: list[str],
                 slots: int = 4, read: bool = True) -> None:
        self.outbox: queue.Queue[wpb.WorkerMessage | None] = queue.Queue()
        self.seq = 0
        self.send(wpb.WorkerMessage(register=wpb.Register(
            worker_id=worker_id, workflows=workflows, workflow_slots=slots, sdk="raw/1")))
        self.call = wgrpc.WorkerServiceStub(channel).Connect(self._messages())
        if read:
            first = next(self.call)
            assert first.WhichOneof("body") == "registered", first

    def _messages(self) -> Iterator[wpb.WorkerMessage]:
        while (msg := self.outbox.get()) is not None:
            yield msg

    def send(self, msg: wpb.WorkerMessage) -> None:
        self.seq += 1
        msg.seq = self.seq
        self.outbox.put(msg)

    def take(self) -> wpb.WorkflowAssignment:
        for msg in self.call:
            if msg.WhichOneof("body") == "run_workflow":
                return msg.run_workflow
        raise AssertionError("the stream ended without an assignment")

    def close(self) -> None:
        self.outbox.put(None)
        self.call.cancel()


class Stubs:
    """Client and worker stubs on one channel that allows big messages."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.channel = grpc.insecure_channel(address, options=BIG)
        self.client = cgrpc.ClientServiceStub(self.channel)
        self.worker = wgrpc.WorkerServiceStub(self.channel)

    @contextlib.contextmanager
    def default_limits(self) -> Iterator[cgrpc.ClientServiceStub]:
        """A client stub on a channel with gRPC's default message limits (4 MiB)."""
        with grpc.insecure_channel(self.address) as channel:
            yield cgrpc.ClientServiceStub(channel)

    def running(self, name: str, workflow_id: str, worker_id: str = "raw",
                input: pb.Payload | None = None) -> tuple[RawWorker, int]:
        """Start `workflow_id` and take it with a raw worker: (the worker, its epoch)."""
        raw = RawWorker(self.channel, worker_id, [name])
        self.client.StartWorkflow(cpb.StartWorkflowRequest(
            name=name, workflow_id=workflow_id, input=input or json_payload("{}")), timeout=10)
        assignment = raw.take()
        assert assignment.workflow_id == workflow_id
        return raw, assignment.epoch

    def close(self) -> None:
        self.channel.close()


def code_of(call: Any, request: Any) -> tuple[grpc.StatusCode, str]:
    """The status of a call (OK if it answered)."""
    try:
        call(request, timeout=15)
    except grpc.RpcError as e:
        return e.code(), e.details() or ""
    return grpc.StatusCode.OK, ""
