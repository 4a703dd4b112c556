"""A step's record on the wire: fill_step_record (set in place, the hot path)
gives the message the record's parts would build, outcome, optional select
fields and clamped times included."""

from __future__ import annotations

import pytest
from keel.v1 import common_pb2 as pb

from coordinator.api import convert
from coordinator.core.records import Failure, Outcome, StepKind, StepRecord, Value


def _from_parts(r: StepRecord) -> pb.StepRecord:
    msg = pb.StepRecord(step_number=r.step_number, name=r.name, kind=convert.KIND_TO_PB[r.kind],
                        attempt=r.attempt, started_at=convert.timestamp(r.started_at),
                        completed_at=convert.timestamp(r.completed_at), completion_seq=r.completion_seq,
                        worker_token=r.worker_token, **convert.outcome_fields(r.outcome))
    if r.select_index is not None:
        msg.select_index = r.select_index
    if r.select_step_number is not None:
        msg.select_step_number = r.select_step_number
    return msg


@pytest.mark.parametrize("outcome", [Outcome(output=Value("json", b"null")),
                                     Outcome(output=Value("binary", b"\x00\xff")),
                                     Outcome(error=Failure("ValueError", "bad", "Traceback ...")), None])
@pytest.mark.parametrize("select", [(None, None), (0, 0), (2, 7)])
def test_a_record_filled_in_place_is_the_one_built_from_parts(
        outcome: Outcome | None, select: tuple[int | None, int | None]) -> None:
    record = StepRecord(workflow_id="wf", step_number=17, name="charge", kind=StepKind.SELECT,
                        outcome=outcome, attempt=2, epoch=3, started_at=1_765_000_000_123,
                        completed_at=1_765_000_000_456,
                        completion_seq=18, select_index=select[0], select_step_number=select[1],
                        worker_token="ops", worker_id="w1")
    filled = convert.fill_step_record(pb.StepRecord(), record)
    assert filled == _from_parts(record) == convert.step_record(record)
    assert filled.HasField("select_index") is (select[0] is not None)
    assert filled.started_at.ToMilliseconds() == 1_765_000_000_123


@pytest.mark.parametrize("ms", [-10**18, 10**18, -1, 0, 1_765_000_000_999])
def test_times_out_of_range_are_clamped_and_negative_ones_kept(ms: int) -> None:
    ts = convert.timestamp(ms)
    assert 0 <= ts.nanos < 1_000_000_000
    assert ts.ToMilliseconds() == min(max(ms, convert.MIN_TIMESTAMP_MS), convert.MAX_TIMESTAMP_MS)
