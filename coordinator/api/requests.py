"""Request parsing: every check and limit on what callers send, turning protobuf
requests into the plain core values the engine takes.

Bad input is refused here, before anything is stored, with InvalidArgument or
ResourceExhausted naming the field. The order of the checks is part of the
protocol (a request with several faults reports the first), so keep it.
Functions named after an engine call return exactly that call's arguments.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from keel.v1 import client_service_pb2 as cpb
from keel.v1 import worker_service_pb2 as wpb

from ..core.dispatch import WorkerSession
from ..core.errors import InvalidArgument, ResourceExhausted
from ..core.ports import WorkerLink
from ..core.records import (
    Failure,
    NewStep,
    Outcome,
    StepKind,
    Value,
    Wait,
    WaitKind,
    WorkflowStatus,
)
from .convert import STATUS_FROM_PB

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.:\-/]{0,199}")
MAX_ID_LENGTH = 200
ENCODINGS = ("json", "binary")
MAX_SLOTS = 100_000
# A hold keeps a read or receive call open inside the coordinator instead of
# parking the workflow; capped so a call never outlives the clients' deadlines.
MAX_HOLD_MS = 60_000
# Long-polls (AwaitWorkflow, GetEvent) return by then; the client asks again.
MAX_AWAIT_MS = 60_000
DEFAULT_READ_TIMEOUT_MS = 60_000
MAX_PAGE = 1000
DEFAULT_LIST_LIMIT = 100
# Times: every Timestamp lies in 0001-01-01 .. 9999-12-31 (the protobuf range),
# with nanos in 0..999,999,999; a Duration that starts a wait, a sleep or a
# deadline is at most 100 years, so no end the coordinator stores passes 9999.
MIN_TIME_S = -62_135_596_800  # 0001-01-01T00:00:00Z
MAX_TIME_S = 253_402_300_799  # 9999-12-31T23:59:59Z
MAX_DURATION_S = 315_576_000_000  # the protobuf Duration range, +-10,000 years
MAX_WAIT_MS = 3_155_760_000_000  # 100 years of 365.25 days
# JSON payloads nest at most this deep (arrays and objects).
MAX_JSON_DEPTH = 100
EMPTY_ARGUMENTS = Value("json", b'{"args": [], "kwargs": {}}')


# -- fields ----------------------------------------------------------------------


def check_name(name: str, what: str = "name") -> str:
    if not NAME_RE.fullmatch(name):
        raise InvalidArgument(
            f"invalid {what} {name[:80]!r}: use letters, digits and '_.:-/', starting with a "
            "letter or '_', at most 200 characters"
        )
    return name


def check_id(value: str, what: str = "workflow_id") -> str:
    """A workflow ID, or any other caller-chosen identifier (keys, worker IDs)."""
    if not value:
        raise InvalidArgument(f"{what} is required")
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise InvalidArgument(f"invalid {what} {value[:80]!r}: at most {MAX_ID_LENGTH} printable characters")
    return value


def check_topic(topic: str) -> str:
    """Topics may be empty (the default topic)."""
    return check_id(topic, "topic") if topic else ""


def timestamp_ms(ts: Any, field: str) -> int:
    """A Timestamp in milliseconds since the epoch, checked against the protobuf range."""
    seconds, nanos = ts.seconds, ts.nanos
    if not MIN_TIME_S <= seconds <= MAX_TIME_S:
        raise InvalidArgument(f"{field} is out of range: seconds must be within 0001-01-01 and "
                              f"9999-12-31 ({MIN_TIME_S}..{MAX_TIME_S}), got {seconds}")
    if not 0 <= nanos <= 999_999_999:
        raise InvalidArgument(f"{field}.nanos must be between 0 and 999999999, got {nanos}")
    return int(seconds * 1000 + nanos // 1_000_000)


def duration_value_ms(d: Any, field: str) -> int:
    """A Duration in milliseconds (truncated toward zero), checked against the protobuf range."""
    seconds, nanos = d.seconds, d.nanos
    if not -MAX_DURATION_S <= seconds <= MAX_DURATION_S:
        raise InvalidArgument(f"{field} is out of range: at most {MAX_DURATION_S} seconds either way, "
                              f"got {seconds}")
    if not -999_999_999 <= nanos <= 999_999_999 or (seconds and nanos and (seconds < 0) != (nanos < 0)):
        raise InvalidArgument(f"{field}.nanos must be within +-999999999 and of the sign of "
                              f"seconds, got seconds={seconds} nanos={nanos}")
    return int(seconds * 1000 + int(nanos / 1_000_000))


def duration_ms(msg: Any, field: str, default_ms: int, max_ms: int | None = None) -> int:
    """The Duration field `field` of `msg` in milliseconds: the default when unset.
    With `max_ms` longer ones are capped to it (a long-poll); without, one longer
    than MAX_WAIT_MS is refused (it would end too far away to store)."""
    if not msg.HasField(field):
        return default_ms
    ms = duration_value_ms(getattr(msg, field), field)
    if ms < 0:
        raise InvalidArgument(f"{field} must not be negative, got {ms} ms")
    if max_ms is not None:
        return min(ms, max_ms)
    if ms > MAX_WAIT_MS:
        raise InvalidArgument(f"{field} is too long: at most 100 years ({MAX_WAIT_MS} ms), got {ms} ms")
    return ms


def _json_depth_over(doc: Any, limit: int) -> bool:
    """Whether arrays and objects in `doc` nest deeper than `limit` (iterative)."""
    stack = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        raise ValueError(f"number {text[:40]} is out of the range of a 64-bit float")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key[:40]!r} in an object")
            seen.add(key)
    return doc


# One decoder for every check (json.loads with options builds one per call).
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float,
                            object_pairs_hook=_unique_keys)


# Documents common enough to be known (null: a step that returns None), and immutable.
_KNOWN_JSON: dict[bytes, Any] = {b"null": None, b"true": True, b"false": False}


def check_json(data: bytes, what: str) -> Any:
    """Parse JSON text that every language reads the same: any failure to decode
    is InvalidArgument, and so are NaN, Infinity, numbers beyond a 64-bit float
    (1e400), duplicate keys in an object, and nesting deeper than MAX_JSON_DEPTH
    (checked before parsing when it might be)."""
    if data in _KNOWN_JSON:
        return _KNOWN_JSON[data]
    try:
        text = data.decode("utf-8")
        # Fewer brackets than the limit cannot nest deeper: skip the walk.
        deep = text.count("[") + text.count("{") > MAX_JSON_DEPTH
        doc = _DECODER.decode(text)
    except RecursionError:
        raise InvalidArgument(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise InvalidArgument(f"{what} is not valid JSON: {e}") from None
    if deep and _json_depth_over(doc, MAX_JSON_DEPTH):
        raise InvalidArgument(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels")
    return doc


def check_payload(p: Any, what: str, max_bytes: int) -> Value:
    """A Payload message, checked: known encoding, within the limit, and JSON if it says so."""
    encoding, data = p.encoding or "json", p.data
    if encoding not in ENCODINGS:
        raise InvalidArgument(f"{what}: unknown encoding {encoding[:40]!r}, expected one of {ENCODINGS}")
    if len(data) > max_bytes:
        raise ResourceExhausted(f"{what} is {len(data)} bytes, over the limit of {max_bytes}")
    if encoding == "json":
        check_json(data, what)
    return Value(encoding, data)


def check_arguments(p: Any, what: str, max_bytes: int) -> Value:
    """An input payload: in JSON, an object {"args": [...], "kwargs": {...}}; empty means none."""
    value = check_payload(p, what, max_bytes)
    if value.encoding == "json":
        if not value.data:
            return EMPTY_ARGUMENTS
        doc = check_json(value.data, what)
        if (
            not isinstance(doc, dict)
            or not set(doc) <= {"args", "kwargs"}
            or not isinstance(doc.get("args", []), list)
            or not isinstance(doc.get("kwargs", {}), dict)
        ):
            raise InvalidArgument(f'{what} must be a JSON object {{"args": [...], "kwargs": {{...}}}}')
    return value


def check_error(e: Any, max_bytes: int) -> Failure:
    """An ErrorInfo message; its type is required, its size (in bytes) limited like a payload."""
    if not e.type:
        raise InvalidArgument("error.type is required")
    size = e.ByteSize()
    if size > max_bytes:
        raise ResourceExhausted(f"error is {size} bytes, over the limit of {max_bytes}")
    return Failure(e.type[:200], e.message, e.details)


def outcome(msg: Any, max_bytes: int) -> Outcome:
    """The `outcome` oneof of a request: exactly one of output and error."""
    which = msg.WhichOneof("outcome")
    if which == "output":
        return Outcome(output=check_payload(msg.output, "output", max_bytes))
    if which == "error":
        return Outcome(error=check_error(msg.error, max_bytes))
    raise InvalidArgument("an outcome is required: set output or error")


def step_call(r: Any) -> tuple[str, int, int]:
    """(workflow_id, epoch, step_number): where a durable operation of a running workflow is."""
    check_id(r.workflow_id)
    if r.step_number < 0:
        raise InvalidArgument("step_number must not be negative")
    return r.workflow_id, r.epoch, r.step_number


# -- ClientService -------------------------------------------------------------


def start_workflow(r: cpb.StartWorkflowRequest, max_bytes: int) -> tuple[str, Value, str | None, int | None]:
    """(name, input, workflow_id or None to make one up, timeout_ms or None)."""
    check_name(r.name, "workflow name")
    if r.workflow_id:
        check_id(r.workflow_id)
    value = check_arguments(r.input, "input", max_bytes)
    timeout_ms = None
    if r.HasField("timeout"):
        timeout_ms = duration_ms(r, "timeout", 0)
        if timeout_ms <= 0:
            raise InvalidArgument(f"timeout must be positive, got {timeout_ms} ms")
    return r.name, value, r.workflow_id or None, timeout_ms


def await_workflow(r: cpb.AwaitWorkflowRequest) -> tuple[str, float]:
    """(workflow_id, timeout in seconds, at most MAX_AWAIT_MS). Like GetEvent, an
    unset or zero timeout answers at once."""
    check_id(r.workflow_id)
    return r.workflow_id, duration_ms(r, "timeout", 0, MAX_AWAIT_MS) / 1000


def list_parent(r: cpb.ListWorkflowsRequest) -> str | None:
    """The parent filter of a listing, if any."""
    return check_id(r.parent_workflow_id, "parent_workflow_id") if r.parent_workflow_id else None


def list_workflows(r: cpb.ListWorkflowsRequest) -> tuple[WorkflowStatus | None, str | None, int]:
    """(status filter, name filter, limit); 0 means the default limit."""
    if r.limit < 0 or r.limit > MAX_PAGE:
        raise InvalidArgument(f"limit must be between 0 and {MAX_PAGE}")
    status = STATUS_FROM_PB.get(r.status)
    if r.status and status is None:
        raise InvalidArgument(f"unknown status {r.status}")
    if r.name:
        check_name(r.name, "name filter")
    return status, r.name or None, r.limit or DEFAULT_LIST_LIMIT


def list_steps(r: cpb.ListStepsRequest) -> tuple[str, int, int]:
    """(workflow_id, first step number, page size); 0 means the largest page."""
    check_id(r.workflow_id)
    if r.from_step_number < 0:
        raise InvalidArgument("from_step_number must not be negative")
    if r.limit < 0 or r.limit > MAX_PAGE:
        raise InvalidArgument(f"limit must be between 0 and {MAX_PAGE}")
    return r.workflow_id, r.from_step_number, r.limit or MAX_PAGE


def get_event(r: cpb.GetEventRequest) -> tuple[str, str, float]:
    """(workflow_id, key, seconds to wait for it; 0 answers at once)."""
    check_id(r.workflow_id)
    check_id(r.key, "key")
    return r.workflow_id, r.key, duration_ms(r, "timeout", 0, MAX_AWAIT_MS) / 1000


def watch_events(r: cpb.WatchEventsRequest) -> tuple[str, int]:
    check_id(r.workflow_id)
    if r.after_seq < 0:
        raise InvalidArgument(f"after_seq must not be negative, got {r.after_seq}")
    return r.workflow_id, r.after_seq


def send(r: cpb.SendRequest, max_bytes: int) -> tuple[str, str, Value, str | None]:
    """(destination, topic, message, idempotency_key or None)."""
    check_id(r.workflow_id)
    if r.idempotency_key:
        check_id(r.idempotency_key, "idempotency_key")
    message = check_payload(r.message, "message", max_bytes)
    return r.workflow_id, check_topic(r.topic), message, r.idempotency_key or None


# -- WorkerService ---------------------------------------------------------------


def register(first: wpb.WorkerMessage) -> wpb.Register:
    """The Register a stream must open with."""
    body = first.WhichOneof("body")
    if body != "register":
        raise InvalidArgument(f"the first message must be register, got {body}")
    return first.register


def worker_session(reg: wpb.Register, link: WorkerLink) -> WorkerSession:
    check_id(reg.worker_id, "register.worker_id")
    for name in [*reg.workflows, *reg.steps]:
        check_name(name, "registered name")
    if not 0 <= reg.workflow_slots <= MAX_SLOTS or not 0 <= reg.step_slots <= MAX_SLOTS:
        raise InvalidArgument(f"slots must be between 0 and {MAX_SLOTS}")
    if reg.workflows and reg.workflow_slots < 1:
        raise InvalidArgument("a worker that serves workflows needs workflow_slots >= 1")
    if reg.steps and reg.step_slots < 1:
        raise InvalidArgument("a worker that serves steps needs step_slots >= 1")
    return WorkerSession(
        worker_id=reg.worker_id,
        workflows=frozenset(reg.workflows),
        steps=frozenset(reg.steps),
        workflow_slots=reg.workflow_slots,
        step_slots=reg.step_slots,
        link=link,
    )


def get_history(r: wpb.GetHistoryRequest) -> tuple[str, int, int]:
    """(workflow_id, after_step_number, page size); out-of-range sizes mean the largest."""
    check_id(r.workflow_id)
    if r.after_step_number < -1:
        raise InvalidArgument(f"after_step_number must be -1 or more, got {r.after_step_number}")
    return r.workflow_id, r.after_step_number, r.page_size if 0 < r.page_size <= MAX_PAGE else MAX_PAGE


def record_step(r: wpb.RecordStepRequest, max_bytes: int, now: int) -> NewStep:
    """The step outcome to record; completed now, started when the worker says (or now)."""
    check_id(r.workflow_id)
    check_name(r.name, "step name")
    if r.step_number < 0 or r.attempt < 0:
        raise InvalidArgument("step_number and attempt must not be negative")
    started = timestamp_ms(r.started_at, "started_at") if r.HasField("started_at") else now
    return NewStep(
        workflow_id=r.workflow_id,
        epoch=r.epoch,
        step_number=r.step_number,
        name=r.name,
        kind=StepKind.STEP,
        outcome=outcome(r, max_bytes),
        attempt=r.attempt,
        started_at=started,
        completed_at=now,
    )


def schedule_step(r: wpb.ScheduleStepRequest, max_bytes: int
                  ) -> tuple[str, int, int, str, Value, int | None, int]:
    """(..., name, input, attempt timeout in ms or None for the default, max_attempts)."""
    check_id(r.workflow_id)
    check_name(r.name, "step name")
    if r.step_number < 0:
        raise InvalidArgument("step_number must not be negative")
    value = check_arguments(r.input, "input", max_bytes)
    timeout_ms = None
    if r.HasField("timeout"):
        timeout_ms = duration_ms(r, "timeout", 0)
        if timeout_ms <= 0:
            raise InvalidArgument(f"timeout must be positive, got {timeout_ms} ms")
    if not 0 <= r.max_attempts <= MAX_SLOTS:
        raise InvalidArgument(f"max_attempts must be between 0 and {MAX_SLOTS}, got {r.max_attempts}")
    return r.workflow_id, r.epoch, r.step_number, r.name, value, timeout_ms, max(1, r.max_attempts)


def select(r: wpb.SelectRequest) -> tuple[str, int, int, list[int]]:
    check_id(r.workflow_id)
    candidates = list(r.candidates)
    if not candidates:
        raise InvalidArgument("select needs at least one candidate step")
    if len(set(candidates)) != len(candidates):
        raise InvalidArgument(f"select candidates repeat a step number: {candidates[:20]}")
    if not all(0 <= c < r.step_number for c in candidates):
        raise InvalidArgument(
            f"select candidates must be earlier steps (0..{r.step_number - 1}), got {candidates[:20]}"
        )
    return r.workflow_id, r.epoch, r.step_number, candidates


def set_event(r: wpb.SetEventRequest, max_bytes: int) -> tuple[str, int, int, str, Value]:
    at = step_call(r)
    return (*at, check_id(r.key, "key"), check_payload(r.value, "value", max_bytes))


def read_event(r: wpb.ReadEventRequest) -> tuple[str, int, int, str, str, int, int, bool]:
    """(..., target, key, timeout_ms, hold_ms, park)."""
    at = step_call(r)
    target = check_id(r.target_workflow_id, "target_workflow_id")
    key = check_id(r.key, "key")
    return (*at, target, key, duration_ms(r, "timeout", DEFAULT_READ_TIMEOUT_MS),
            duration_ms(r, "hold", 0, MAX_HOLD_MS), r.park)


def send_from_workflow(r: wpb.SendMessageRequest, max_bytes: int) -> tuple[str, int, int, str, str, Value]:
    at = step_call(r)
    destination = check_id(r.destination_workflow_id, "destination_workflow_id")
    topic = check_topic(r.topic)
    return (*at, destination, topic, check_payload(r.message, "message", max_bytes))


def receive(r: wpb.ReceiveMessageRequest) -> tuple[str, int, int, str, int, int, bool]:
    """(..., topic, timeout_ms, hold_ms, park)."""
    at = step_call(r)
    topic = check_topic(r.topic)
    return (*at, topic, duration_ms(r, "timeout", DEFAULT_READ_TIMEOUT_MS),
            duration_ms(r, "hold", 0, MAX_HOLD_MS), r.park)


def sleep(r: wpb.SleepRequest) -> tuple[str, int, int, int]:
    at = step_call(r)
    return (*at, duration_ms(r, "duration", 0))


def park(r: wpb.ParkRequest, now: int) -> tuple[str, int, int, Wait]:
    """(workflow_id, epoch, resume_at, what else wakes it); resume_at defaults to now."""
    check_id(r.workflow_id)
    which = r.WhichOneof("wait")
    if which == "topic":
        wait = Wait(WaitKind.RECV, topic=check_topic(r.topic))
    elif which == "event":
        wait = Wait(WaitKind.EVENT, target=check_id(r.event.workflow_id, "event.workflow_id"),
                    key=check_id(r.event.key, "event.key"))
    else:
        wait = Wait(WaitKind.SLEEP)
    resume_at = timestamp_ms(r.resume_at, "resume_at") if r.HasField("resume_at") else now
    return r.workflow_id, r.epoch, resume_at, wait


def finish_workflow(r: wpb.FinishWorkflowRequest, max_bytes: int) -> tuple[str, int, Outcome]:
    check_id(r.workflow_id)
    return r.workflow_id, r.epoch, outcome(r, max_bytes)
