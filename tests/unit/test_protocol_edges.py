"""Rough edges of the protocol found by a worker written in another language
(issue 15), as the API parses requests and as the protos describe them."""

from __future__ import annotations

import pytest
from google.protobuf.duration_pb2 import Duration
from keel.v1 import client_service_pb2 as cpb
from keel.v1 import common_pb2 as pb
from keel.v1 import worker_service_pb2 as wpb

from coordinator.api import requests
from coordinator.core.errors import InvalidArgument

LIMIT = 1 << 20


@pytest.mark.parametrize("text, why", [
    (b'{"args": [NaN]}', "NaN is not JSON"),
    (b'{"args": [Infinity]}', "Infinity is not JSON"),
    (b'{"args": [-Infinity]}', "-Infinity is not JSON"),
    (b'{"args": [1e400]}', "out of the range of a 64-bit float"),
    (b'{"args": [-1e400]}', "out of the range of a 64-bit float"),
    (b'{"args": [], "args": [1]}', "duplicate key 'args'"),
    (b'{"args": [{"a": 1, "b": 2, "a": 3}]}', "duplicate key 'a'"),
])
def test_json_other_languages_cannot_read_is_refused(text: bytes, why: str) -> None:
    with pytest.raises(InvalidArgument, match=why):
        requests.check_arguments(pb.Payload(encoding="json", data=text), "input", LIMIT)
    with pytest.raises(InvalidArgument, match=why):
        requests.check_payload(pb.Payload(encoding="json", data=text), "output", LIMIT)


def test_json_every_language_reads_is_accepted() -> None:
    for text in (b'{"args": [1.5e300, -0.0, 9007199254740993, "NaN", {"a": {"a": 1}}]}',
                 b'{"kwargs": {"x": null}}'):
        requests.check_arguments(pb.Payload(encoding="json", data=text), "input", LIMIT)


def test_await_workflow_without_a_timeout_answers_at_once_like_get_event() -> None:
    assert requests.await_workflow(cpb.AwaitWorkflowRequest(workflow_id="w")) == ("w", 0.0)
    assert requests.get_event(cpb.GetEventRequest(workflow_id="w", key="k")) == ("w", "k", 0.0)
    long = cpb.AwaitWorkflowRequest(workflow_id="w", timeout=Duration(seconds=3600))
    assert requests.await_workflow(long) == ("w", 60.0)  # long-polls are cut to 60 s


def test_negative_positions_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="after_seq must not be negative"):
        requests.watch_events(cpb.WatchEventsRequest(workflow_id="w", after_seq=-1))
    with pytest.raises(InvalidArgument, match="after_step_number must be -1 or more"):
        requests.get_history(wpb.GetHistoryRequest(workflow_id="w", after_step_number=-2))
    assert requests.get_history(wpb.GetHistoryRequest(workflow_id="w", after_step_number=-1))[1] == -1


def test_schedule_step_timeout_and_attempts() -> None:
    base = {"workflow_id": "w", "epoch": 1, "step_number": 0, "name": "charge",
            "input": pb.Payload(encoding="json", data=b"{}")}
    assert requests.schedule_step(wpb.ScheduleStepRequest(**base), LIMIT)[5:] == (None, 1)
    r = wpb.ScheduleStepRequest(**base, timeout=Duration(seconds=2), max_attempts=3)
    assert requests.schedule_step(r, LIMIT)[5:] == (2000, 3)
    for bad in (wpb.ScheduleStepRequest(**base, timeout=Duration(seconds=0)),
                wpb.ScheduleStepRequest(**base, timeout=Duration(seconds=-1)),
                wpb.ScheduleStepRequest(**base, max_attempts=-1)):
        with pytest.raises(InvalidArgument):
            requests.schedule_step(bad, LIMIT)


def test_executions_is_marked_deprecated_in_favour_of_epoch() -> None:
    field = cpb.WorkflowInfo.DESCRIPTOR.fields_by_name["executions"]
    assert field.GetOptions().deprecated


def test_no_proto3_optional_fields_and_every_language_option_set() -> None:
    for module in (pb, cpb, wpb):
        options = module.DESCRIPTOR.GetOptions()
        assert options.go_package and options.java_package and options.csharp_namespace
        assert options.ruby_package and options.java_multiple_files
        for message in module.DESCRIPTOR.message_types_by_name.values():
            for field in message.fields:
                assert not getattr(field, "has_presence", False) or field.containing_oneof or (
                    field.message_type is not None) or field.label == field.LABEL_REPEATED, (
                    f"{message.name}.{field.name} is a proto3 optional")
                oneof = field.containing_oneof
                assert oneof is None or not oneof.name.startswith("_"), (
                    f"{message.name}.{field.name} is a proto3 optional")
    record = pb.StepRecord(select_index=0)
    assert record.HasField("select_index")  # presence kept: 0 is a valid index


def test_out_of_range_durations_are_refused_even_where_long_ones_are_cut() -> None:
    for bad in (Duration(seconds=10**12), Duration(seconds=1, nanos=-5), Duration(seconds=-1)):
        with pytest.raises(InvalidArgument):
            requests.await_workflow(cpb.AwaitWorkflowRequest(workflow_id="w", timeout=bad))
        with pytest.raises(InvalidArgument):
            requests.get_event(cpb.GetEventRequest(workflow_id="w", key="k", timeout=bad))
