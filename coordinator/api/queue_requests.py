"""Checks of the queue calls (SetQueue, Enqueue, EnqueueWorkflow): protobuf in,
core values out, INVALID_ARGUMENT for anything wrong. The rules shared with
the other calls are in api/requests.py."""

from __future__ import annotations

from typing import Any

from keel.v1 import client_service_pb2 as cpb
from keel.v1 import worker_service_pb2 as wpb

from ..core.errors import InvalidArgument
from ..core.records import QueueRecord, Value
from .requests import check_arguments, check_id, check_name, duration_ms, step_call

MAX_LIMIT = 1_000_000
MAX_KEY_LENGTH = 200
# A rate window of at most a day.
MAX_RATE_PERIOD_MS = 86_400_000


def _limit(value: int, what: str) -> int | None:
    """A limit as given (0: none)."""
    if value < 0 or value > MAX_LIMIT:
        raise InvalidArgument(f"{what} must be between 1 and {MAX_LIMIT} (0 for no limit), got {value}")
    return value or None


def set_queue(r: cpb.SetQueueRequest) -> QueueRecord:
    check_name(r.name, "queue name")
    lim = r.limits
    rate = _limit(lim.rate_limit, "rate_limit")
    period = duration_ms(lim, "rate_period", 0) if lim.HasField("rate_period") else 0
    if (rate is None) != (period == 0):
        raise InvalidArgument("rate_limit and rate_period go together: set both or neither")
    if period < 0 or period > MAX_RATE_PERIOD_MS:
        raise InvalidArgument(f"rate_period must be positive and at most {MAX_RATE_PERIOD_MS} ms")
    return QueueRecord(
        r.name, concurrency=_limit(lim.concurrency, "concurrency"),
        worker_concurrency=_limit(lim.worker_concurrency, "worker_concurrency"),
        rate_limit=rate, rate_period_ms=period or None,
        partition_concurrency=_limit(lim.partition_concurrency, "partition_concurrency"))


def _key(value: str, what: str) -> str | None:
    if len(value) > MAX_KEY_LENGTH or not value.isprintable():
        raise InvalidArgument(f"{what} must be at most {MAX_KEY_LENGTH} printable characters")
    return value or None


def _options(r: Any) -> tuple[int | None, int, str | None, str | None]:
    """(timeout_ms, priority, deduplication_id, partition_key) of an enqueue."""
    timeout_ms = None
    if r.HasField("timeout"):
        timeout_ms = duration_ms(r, "timeout", 0)
        if timeout_ms <= 0:
            raise InvalidArgument(f"timeout must be positive, got {timeout_ms} ms")
    if abs(r.priority) > MAX_LIMIT:
        raise InvalidArgument(f"priority must be between {-MAX_LIMIT} and {MAX_LIMIT}")
    return (timeout_ms, r.priority, _key(r.deduplication_id, "deduplication_id"),
            _key(r.partition_key, "partition_key"))


def enqueue(r: cpb.EnqueueRequest, max_bytes: int) -> tuple[
        str, str, Value, str | None, int | None, int, str | None, str | None]:
    """The arguments of Engine.enqueue."""
    check_name(r.queue, "queue name")
    check_name(r.name, "workflow name")
    if r.workflow_id:
        check_id(r.workflow_id)
    value = check_arguments(r.input, "input", max_bytes)
    return (r.queue, r.name, value, r.workflow_id or None, *_options(r))


def enqueue_from_workflow(r: wpb.EnqueueWorkflowRequest, max_bytes: int) -> tuple[
        str, int, int, str, str, Value, str | None, int | None, int, str | None, str | None]:
    """The arguments of Engine.enqueue_from_workflow."""
    workflow_id, epoch, step_number = step_call(r)
    check_name(r.queue, "queue name")
    check_name(r.name, "workflow name")
    if r.child_workflow_id:
        check_id(r.child_workflow_id, "child_workflow_id")
    value = check_arguments(r.input, "input", max_bytes)
    return (workflow_id, epoch, step_number, r.queue, r.name, value, r.child_workflow_id or None,
            *_options(r))
