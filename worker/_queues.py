"""Queues as the SDK shows them: `QueueInfo`, and the wire messages of the
queue calls (shared by the client and by `WorkflowContext.enqueue`)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.protobuf.duration_pb2 import Duration
from keel.v1 import client_service_pb2 as cpb

from . import _codec
from ._errors import CoordinatorError, DuplicateWorkflow
from ._results import utc


@dataclass(frozen=True)
class QueueInfo:
    """A queue, as `Client.list_queues` and `Client.set_queue` return it. A
    limit of None means none."""

    name: str
    concurrency: int | None
    worker_concurrency: int | None
    # (at most this many starts, in any window of this many seconds)
    rate_limit: tuple[int, float] | None
    partition_concurrency: int | None
    # How many of its workflows wait (ENQUEUED) and run (PENDING) now.
    enqueued: int
    running: int
    created_at: datetime
    updated_at: datetime


def queue_info(q: cpb.QueueInfo) -> QueueInfo:
    lim = q.limits
    rate = (lim.rate_limit, lim.rate_period.ToMilliseconds() / 1000) if lim.rate_limit else None
    return QueueInfo(q.name, lim.concurrency or None, lim.worker_concurrency or None, rate,
                     lim.partition_concurrency or None, q.enqueued, q.running, utc(q.created_at),
                     utc(q.updated_at))


def _limit(value: int | None, what: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{what} must be a positive int or None, got {value!r}")
    return value


def queue_limits(concurrency: int | None, worker_concurrency: int | None,
                 rate_limit: tuple[int, float] | None, partition_concurrency: int | None) -> cpb.QueueLimits:
    limits = cpb.QueueLimits(
        concurrency=_limit(concurrency, "concurrency"),
        worker_concurrency=_limit(worker_concurrency, "worker_concurrency"),
        partition_concurrency=_limit(partition_concurrency, "partition_concurrency"))
    if rate_limit is not None:
        count, seconds = rate_limit
        limits.rate_limit = _limit(count, "rate_limit's count")
        if not seconds > 0:
            raise ValueError(f"rate_limit's window must be positive seconds, got {seconds!r}")
        limits.rate_period.FromMilliseconds(int(seconds * 1000))
    return limits


def enqueue_request(request: Any, args: tuple[Any, ...], priority: int, deduplication_id: str | None,
                    partition_key: str | None, timeout: float | None) -> Any:
    """Fill the options every enqueue request has (EnqueueRequest, EnqueueWorkflowRequest)."""
    request.input.CopyFrom(_codec.encode_args(args, {}))
    request.priority = priority
    request.deduplication_id = deduplication_id or ""
    request.partition_key = partition_key or ""
    if timeout is not None:
        d = Duration()
        d.FromMilliseconds(int(timeout * 1000))
        request.timeout.CopyFrom(d)
    return request


_HOLDER = re.compile(r"held by workflow ('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")


def duplicate_from(error: CoordinatorError, queue: str, deduplication_id: str | None) -> CoordinatorError:
    """DuplicateWorkflow for an ALREADY_EXISTS answer to an enqueue; else the error."""
    if error.code != "ALREADY_EXISTS":
        return error
    found = _HOLDER.search(str(error))
    holder = ast.literal_eval(found.group(1)) if found else ""
    return DuplicateWorkflow(str(error), holder, queue, deduplication_id or "")
