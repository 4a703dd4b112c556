"""Unit tests of the replay journal: step numbers, recorded lookup, determinism check."""

from __future__ import annotations

import threading

import pytest
from keel.v1 import common_pb2 as pb

from worker import NonDeterminismError
from worker._journal import Journal


def rec(n: int, name: str, kind: int = pb.STEP_KIND_STEP) -> pb.StepRecord:
    return pb.StepRecord(step_number=n, name=name, kind=kind)


def test_step_numbers_follow_call_order_from_zero() -> None:
    journal = Journal("wf")
    assert [journal.next_step() for _ in range(4)] == [0, 1, 2, 3]
    assert journal.begin("charge", pb.STEP_KIND_STEP) == (4, None)


def test_step_numbers_are_unique_across_threads() -> None:
    journal = Journal("wf")
    taken: list[int] = []

    def take() -> None:
        for _ in range(500):
            taken.append(journal.next_step())

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == list(range(2000))


def test_recorded_steps_are_returned_and_missing_ones_are_none() -> None:
    journal = Journal("wf", [rec(0, "charge")])
    journal.load([rec(1, "ship"), rec(3, "k", pb.STEP_KIND_SET_EVENT)])
    assert len(journal) == 3 and journal.last_loaded == 3
    n, record = journal.begin("charge", pb.STEP_KIND_STEP)
    assert n == 0 and record is not None and record.name == "charge"
    n, record = journal.begin("ship", pb.STEP_KIND_STEP)
    assert n == 1 and record is not None
    assert journal.begin("anything", pb.STEP_KIND_RECV) == (2, None)  # a gap: runs
    n, record = journal.begin("k", pb.STEP_KIND_SET_EVENT)
    assert n == 3 and record is not None
    assert journal.begin("later", pb.STEP_KIND_STEP) == (4, None)
    assert journal.fatal is None


def test_empty_journal_runs_everything() -> None:
    journal = Journal("wf")
    assert journal.last_loaded == -1 and len(journal) == 0
    assert journal.recorded(0, "charge", pb.STEP_KIND_STEP) is None


def test_a_different_name_is_a_nondeterminism_error_naming_both_calls() -> None:
    journal = Journal("wf-9", [rec(0, "ship")])
    with pytest.raises(NonDeterminismError) as info:
        journal.begin("charge", pb.STEP_KIND_STEP)
    message = str(info.value)
    assert "wf-9" in message and "step 0" in message
    assert "now calls STEP_KIND_STEP 'charge'" in message
    assert "recorded STEP_KIND_STEP 'ship'" in message
    assert journal.fatal is info.value


def test_a_different_kind_with_the_same_name_is_also_caught() -> None:
    journal = Journal("wf", [rec(0, "orders", pb.STEP_KIND_SEND)])
    with pytest.raises(NonDeterminismError, match="STEP_KIND_RECV 'orders'.*STEP_KIND_SEND 'orders'"):
        journal.begin("orders", pb.STEP_KIND_RECV)


def test_the_fatal_flag_stays_set_even_if_the_error_is_caught() -> None:
    journal = Journal("wf", [rec(0, "ship")])
    try:
        journal.begin("charge", pb.STEP_KIND_STEP)
    except NonDeterminismError:
        pass  # a workflow swallowing the error does not clear the flag
    assert isinstance(journal.fatal, NonDeterminismError)
    # Later operations still get their own numbers.
    assert journal.begin("next", pb.STEP_KIND_STEP) == (1, None)
    assert journal.fatal is not None
