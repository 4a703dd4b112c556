"""The worker stream driven by hand over the wire on both stores: several
messages in one (WorkerBatch / CoordinatorBatch), opt-in each way, handled in
order as if sent alone, a malformed one ending only its own stream; and the
held waits (receive_message, read_event) sent on it."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from keel.v1 import worker_service_pb2 as wpb

from tests.harness import wait_for
from tests.integration.test_protocol import RawWorker, payload


def record_msg(wf: str, epoch: int, n: int, value: Any) -> wpb.WorkerMessage:
    return wpb.WorkerMessage(record_step=wpb.RecordStepRequest(
        workflow_id=wf, epoch=epoch, step_number=n, name=f"s{n}", output=payload(value)))


def replies(raw: RawWorker, n: int) -> tuple[list[wpb.Reply], int]:
    """The next `n` replies, unbatched, and how many batches carried them."""
    out: list[wpb.Reply] = []
    batches = 0
    while len(out) < n:
        msg = raw.next()
        inner = list(msg.batch.messages) if msg.WhichOneof("body") == "batch" else [msg]
        batches += msg.WhichOneof("body") == "batch"
        out += [m.reply for m in inner if m.WhichOneof("body") == "reply"]
    return out, batches


def taken(cluster: Any, raw: RawWorker, workflow_id: str) -> int:
    cluster.client().start_workflow("raw_wf", workflow_id=workflow_id)
    assignment = raw.next().run_workflow
    assert assignment.workflow_id == workflow_id
    return assignment.epoch


def test_a_batch_is_handled_in_order_as_if_each_message_came_alone(cluster: Any) -> None:
    raw = RawWorker(cluster.address, "raw-batch", ["raw_wf"], [], batches=True)
    assert raw.registered.registered.batches  # the coordinator reads batches
    epoch = taken(cluster, raw, "wf-batch")
    raw.send_batch(*(record_msg("wf-batch", epoch, n, n * 10) for n in range(5)))
    got, _ = replies(raw, 5)
    assert sorted(r.request_seq for r in got) == [raw.seq - 4 + i for i in range(5)]
    by_seq = {r.request_seq: r.record_step.step for r in got}
    assert [by_seq[raw.seq - 4 + n].output.data for n in range(5)] == [str(n * 10).encode() for n in range(5)]
    # Recorded in the order of the batch: completion_seq follows it.
    assert [by_seq[raw.seq - 4 + n].completion_seq for n in range(5)] == [1, 2, 3, 4, 5]

    # A message repeated inside a later batch (a resend) is ignored by seq,
    # the new one beside it is served.
    again = record_msg("wf-batch", epoch, 0, "again")
    again.seq = raw.seq - 4
    raw.seq += 1
    finish = wpb.WorkerMessage(seq=raw.seq, finish_workflow=wpb.FinishWorkflowRequest(
        workflow_id="wf-batch", epoch=epoch, output=payload("done")))
    raw.outbox.put(wpb.WorkerMessage(batch=wpb.WorkerBatch(messages=[again, finish])))
    [reply], _ = replies(raw, 1)
    assert reply.request_seq == raw.seq and reply.WhichOneof("result") == "finish_workflow"
    assert cluster.client().retrieve_workflow("wf-batch").result(timeout=10) == "done"
    raw.close()


def test_a_worker_that_did_not_ask_for_batches_never_gets_one(cluster: Any) -> None:
    raw = RawWorker(cluster.address, "raw-single", ["raw_wf"], [])
    epoch = taken(cluster, raw, "wf-single")
    # Many requests at once: their replies are ready together, yet come one by one.
    for n in range(40):
        raw.send(record_msg("wf-single", epoch, n, n))
    got, batches = replies(raw, 40)
    assert batches == 0 and len({r.request_seq for r in got}) == 40
    assert all(r.WhichOneof("result") == "record_step" for r in got)
    raw.close()


def test_replies_may_come_batched_to_a_worker_that_reads_batches(cluster: Any) -> None:
    raw = RawWorker(cluster.address, "raw-many", ["raw_wf"], [], batches=True)
    epoch = taken(cluster, raw, "wf-many")
    raw.send_batch(*(record_msg("wf-many", epoch, n, n) for n in range(40)))
    got, _ = replies(raw, 40)  # in one batch or several, each exactly once
    assert sorted(r.request_seq for r in got) == list(range(raw.seq - 39, raw.seq + 1))
    raw.close()


@pytest.mark.parametrize("inner", [
    wpb.WorkerMessage(batch=wpb.WorkerBatch(messages=[wpb.WorkerMessage(heartbeat=wpb.Heartbeat())])),
    wpb.WorkerMessage(register=wpb.Register(worker_id="again", workflows=["raw_wf"], workflow_slots=1)),
], ids=["batch in a batch", "register in a batch"])
def test_a_malformed_batch_ends_only_its_own_stream(cluster: Any, inner: wpb.WorkerMessage) -> None:
    bystander = RawWorker(cluster.address, "raw-bystander", ["raw_wf"], [], batches=True)
    bad = RawWorker(cluster.address, "raw-bad", ["other_wf"], [], batches=True)
    bad.send_batch(wpb.WorkerMessage(heartbeat=wpb.Heartbeat()), inner)
    wait_for(bad.responses.done, timeout=10, what="the bad stream to end")
    assert bad.responses.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = bad.responses.details()
    assert "batch" in details or "register" in details
    # The other stream still works.
    epoch = taken(cluster, bystander, "wf-bystander")
    bystander.send(record_msg("wf-bystander", epoch, 0, 1))
    [reply], _ = replies(bystander, 1)
    assert reply.WhichOneof("result") == "record_step"
    bad.close()
    bystander.close()


def test_receive_and_read_event_on_the_stream_are_held_and_answered_by_a_reply(cluster: Any) -> None:
    """The waits a Python worker sends on its stream: held like their unary
    calls, answered once the message or event is committed, or parked."""
    raw = RawWorker(cluster.address, "raw-waits", ["raw_wf"], [], batches=True)
    epoch = taken(cluster, raw, "wf-waits")
    client = cluster.client()
    client.start_workflow("other_wf", workflow_id="wf-source")  # the event's workflow: nobody runs it
    hold = Duration(seconds=30)
    raw.send(wpb.WorkerMessage(receive_message=wpb.ReceiveMessageRequest(
        workflow_id="wf-waits", epoch=epoch, step_number=0, topic="t", timeout=Duration(seconds=60),
        hold=hold)))
    recv_seq = raw.seq
    client.send("wf-waits", {"hello": 1}, topic="t")
    [reply], _ = replies(raw, 1)
    assert reply.request_seq == recv_seq and reply.WhichOneof("result") == "receive_message"
    assert json.loads(reply.receive_message.step.output.data) == {"hello": 1}

    raw.send(wpb.WorkerMessage(read_event=wpb.ReadEventRequest(
        workflow_id="wf-waits", epoch=epoch, step_number=1, target_workflow_id="wf-source", key="k",
        timeout=Duration(seconds=60), hold=Duration(seconds=0), park=True)))
    [parked], _ = replies(raw, 1)  # nothing set, no hold: parked in the same call
    assert parked.WhichOneof("result") == "read_event" and parked.read_event.parked
    raw.close()
