"""The fuzzer: well-typed random requests for every RPC (built from the proto
descriptors), mutated bytes for every method, and random worker-stream
sequences, on both stores. No answer may be INTERNAL or UNKNOWN (a reply on
the stream neither); after each batch the coordinator is healthy and a real
workflow still finishes right."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import given
from hypothesis import strategies as st
from keel.v1 import client_service_pb2, worker_service_pb2
from keel.v1 import client_service_pb2 as cpb
from keel.v1 import worker_service_pb2 as wpb

from tests.fuzz.messages import KNOWN_IDS, messages, mutated
from tests.rawworker import BIG, json_payload

BAD = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
BAD_CODES = {c.value[0] for c in BAD}
# Long-polls and waits may run into this deadline: DEADLINE_EXCEEDED is fine.
DEADLINE = 0.5
METHODS = [(service, method) for module in (client_service_pb2, worker_service_pb2)
           for service in module.DESCRIPTOR.services_by_name.values() for method in service.methods]


@pytest.fixture(scope="module")
def channel(fuzz_cluster: Any) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(fuzz_cluster.address, options=BIG) as ch:
        stub = client_service_pb2_grpc_stub(ch)
        for wid in KNOWN_IDS:  # workflows the requests can hit; nobody serves fz_wf
            stub.StartWorkflow(cpb.StartWorkflowRequest(name="fz_wf", workflow_id=wid,
                                                        input=json_payload("{}")), timeout=10)
        yield ch


def client_service_pb2_grpc_stub(ch: grpc.Channel) -> Any:
    from keel.v1 import client_service_pb2_grpc

    return client_service_pb2_grpc.ClientServiceStub(ch)


def call_raw(ch: grpc.Channel, path: str, method: Any, requests: list[bytes]) -> list[bytes]:
    """Call `path` with request bytes; returns the responses' bytes. Raises RpcError."""
    if method.client_streaming:
        return list(ch.stream_stream(path)(iter(requests), timeout=DEADLINE))
    if method.server_streaming:
        return list(ch.unary_stream(path)(requests[0], timeout=DEADLINE))
    return [ch.unary_unary(path)(requests[0], timeout=DEADLINE)]


def check(ch: grpc.Channel, path: str, method: Any, requests: list[bytes]) -> list[bytes]:
    try:
        return call_raw(ch, path, method, requests)
    except grpc.RpcError as e:
        assert e.code() not in BAD, (path, e.code(), e.details(), requests[:3])
        return []


def healthy_and_working(cluster: Any, ch: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert cluster.coordinator.alive()
    label = uuid.uuid4().hex[:8]
    handle = cluster.client().start_workflow("three_steps", label)
    assert handle.result(timeout=30) == [f"{label}-{i}-done" for i in range(3)]


@given(data=st.data())
def test_well_typed_requests_for_every_rpc(fuzz_cluster: Any, channel: grpc.Channel, data: Any) -> None:
    service, method = data.draw(st.sampled_from(METHODS), label="method")
    path = f"/{service.full_name}/{method.name}"
    count = data.draw(st.integers(1, 4)) if method.client_streaming else 1
    requests = [data.draw(messages(method.input_type)).SerializeToString() for _ in range(count)]
    for answer in check(channel, path, method, requests):
        if method.client_streaming:  # Connect: replies carry statuses too
            reply = wpb.CoordinatorMessage.FromString(answer)
            assert reply.reply.error.code not in BAD_CODES, reply


@given(data=st.data())
def test_mutated_bytes_for_every_method(fuzz_cluster: Any, channel: grpc.Channel, data: Any) -> None:
    service, method = data.draw(st.sampled_from(METHODS), label="method")
    path = f"/{service.full_name}/{method.name}"
    count = data.draw(st.integers(1, 3)) if method.client_streaming else 1
    check(channel, path, method, [data.draw(mutated(method.input_type)) for _ in range(count)])


def _register(worker_id: str) -> wpb.WorkerMessage:
    return wpb.WorkerMessage(seq=1, register=wpb.Register(
        worker_id=worker_id, workflows=["fz_wf"], steps=["fz_step"], workflow_slots=3, step_slots=3,
        sdk="fuzz/1"))


@given(data=st.data())
def test_random_worker_stream_sequences(fuzz_cluster: Any, channel: grpc.Channel, data: Any) -> None:
    """A stream that (mostly) registers properly, then sends any bodies, resends, gaps."""
    first = data.draw(st.one_of(
        st.builds(_register, st.sampled_from(["fz-w1", "fz-w2"])),
        messages(wpb.WorkerMessage.DESCRIPTOR)), label="first")
    rest = data.draw(st.lists(messages(wpb.WorkerMessage.DESCRIPTOR), max_size=6), label="rest")
    # Requests about known workflows, under plausible epochs.
    for msg in rest:
        body = msg.WhichOneof("body")
        if body in ("record_step", "set_event", "finish_workflow") and data.draw(st.booleans()):
            inner = getattr(msg, body)
            inner.workflow_id = data.draw(st.sampled_from(KNOWN_IDS))
            inner.epoch = data.draw(st.integers(0, 3))
    requests = [m.SerializeToString() for m in [first, *rest]]
    service = worker_service_pb2.DESCRIPTOR.services_by_name["WorkerService"]
    connect = service.methods_by_name["Connect"]
    for answer in check(channel, f"/{service.full_name}/Connect", connect, requests):
        reply = wpb.CoordinatorMessage.FromString(answer)
        assert reply.reply.error.code not in BAD_CODES, reply


@pytest.fixture(autouse=True)
def _healthy_after(fuzz_cluster: Any, channel: grpc.Channel) -> Iterator[None]:
    """After each batch (one test's examples): serving, and a workflow runs right."""
    yield
    healthy_and_working(fuzz_cluster, channel)
