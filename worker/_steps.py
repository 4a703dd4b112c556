"""Running a step function: retries with backoff, outcome encoding."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from keel.v1 import common_pb2 as pb

from . import _codec
from ._errors import LeaseLost, step_error
from ._registry import StepDef

log = logging.getLogger(__name__)


def now() -> Timestamp:
    """The current time, as a step's `started_at`. (Timestamp.GetCurrentTime
    goes through a datetime: five times the cost.)"""
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    return Timestamp(seconds=seconds, nanos=nanos)


def run_step_function(
    definition: StepDef, args: list[Any], kwargs: dict[str, Any], stop: threading.Event,
    where: Callable[[], str],
) -> pb.Payload | pb.ErrorInfo:
    """Call the step, retrying failures as its definition says; return the final
    outcome, encoded. `stop` cuts a backoff wait short (execution fenced off);
    `where` names the step in logs, made only when one is written."""
    delay = definition.backoff
    for attempt in range(definition.max_retries + 1):
        try:
            return _codec.encode(definition.fn(*args, **kwargs))
        except Exception as exc:  # the step's own failure: recorded, not ours
            if attempt == definition.max_retries:
                return _codec.error_info(exc)
            log.info("%s failed (%s: %s); retry %d of %d in %.2fs", where(), type(exc).__name__,
                     exc, attempt + 1, definition.max_retries, delay)
            if stop.wait(delay):
                raise LeaseLost(f"{where()}: stopped while waiting to retry") from None
            delay = min(definition.backoff_max, delay * 2)
    raise AssertionError("unreachable")


def outcome_value(record: pb.StepRecord) -> Any:
    """The value of a recorded step, or its error raised."""
    if record.WhichOneof("outcome") == "error":
        e = record.error
        raise step_error(e.type, e.message, e.details, record.name, record.step_number)
    return _codec.decode(record.output)
