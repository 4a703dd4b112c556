"""The worker's side of stream batching: what is ready goes together, a lone
message goes alone at once, big ones go alone, and the end is never lost."""

from __future__ import annotations

import queue

from keel.v1 import worker_service_pb2 as wpb

from worker import _batching


def msg(seq: int, size: int = 0) -> wpb.WorkerMessage:
    return wpb.WorkerMessage(seq=seq, set_event=wpb.SetEventRequest(key="k" * size or "k"))


def written(items: list[wpb.WorkerMessage | None], batches: bool = True) -> list[list[int]]:
    """The seqs of each write, for everything queued before the generator runs."""
    return [[m.seq for m in out.batch.messages] if out.WhichOneof("body") == "batch" else [out.seq]
            for out in _batching.requests(_queued(*items), lambda: batches)]


def test_whatever_is_queued_together_goes_as_one_batch() -> None:
    assert written([msg(1), msg(2), msg(3), None]) == [[1, 2, 3]]


def test_without_the_coordinator_reading_batches_each_goes_alone() -> None:
    assert written([msg(1), msg(2), None], batches=False) == [[1], [2]]


def test_a_lone_message_is_not_wrapped() -> None:
    out = list(_batching.requests(_queued(msg(7), None), lambda: True))
    assert [m.WhichOneof("body") for m in out] == ["set_event"]


def test_a_batch_closes_at_its_size_and_the_rest_follows() -> None:
    big = _batching.BATCH_BYTES // 2
    assert written([msg(1, big), msg(2, big), msg(3), None]) == [[1], [2, 3]]
    assert written([msg(1, 2 * _batching.BATCH_BYTES), msg(2), None]) == [[1], [2]]


def test_the_end_behind_a_batch_still_ends_the_stream() -> None:
    q = _queued(msg(1), msg(2), None, msg(3))
    assert [len(m.batch.messages) for m in _batching.requests(q, lambda: True)] == [2]


def test_unbatch_gives_the_messages_in_order() -> None:
    one = wpb.CoordinatorMessage(seq=4, reply=wpb.Reply(request_seq=1))
    batch = wpb.CoordinatorMessage(batch=wpb.CoordinatorBatch(messages=[
        wpb.CoordinatorMessage(seq=5), wpb.CoordinatorMessage(seq=6)]))
    assert [m.seq for m in _batching.unbatch(one)] == [4]
    assert [m.seq for m in _batching.unbatch(batch)] == [5, 6]


def _queued(*items: wpb.WorkerMessage | None) -> queue.Queue[wpb.WorkerMessage | None]:
    q: queue.Queue[wpb.WorkerMessage | None] = queue.Queue()
    for item in items:
        q.put(item)
    return q
