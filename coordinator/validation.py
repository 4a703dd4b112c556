"""Checks on what callers send, so bad input is refused before it is stored."""

from __future__ import annotations

import json
import re
from typing import Any

from .core.records import Failure, Value
from .errors import InvalidArgument, ResourceExhausted

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.:\-/]{0,199}")
MAX_ID_LENGTH = 200
ENCODINGS = ("json", "binary")


def check_name(name: str, what: str = "name") -> str:
    if not NAME_RE.fullmatch(name):
        raise InvalidArgument(
            f"invalid {what} {name[:80]!r}: use letters, digits and '_.:-/', starting with a "
            "letter or '_', at most 200 characters"
        )
    return name


def check_workflow_id(workflow_id: str, what: str = "workflow_id") -> str:
    if not workflow_id:
        raise InvalidArgument(f"{what} is required")
    if len(workflow_id) > MAX_ID_LENGTH or not workflow_id.isprintable():
        raise InvalidArgument(
            f"invalid {what} {workflow_id[:80]!r}: at most {MAX_ID_LENGTH} printable characters"
        )
    return workflow_id


def check_topic(topic: str) -> str:
    """Topics may be empty (the default topic)."""
    return check_workflow_id(topic, "topic") if topic else ""


def duration_ms(d: Any, what: str, present: bool, default_ms: int, max_ms: int | None = None) -> int:
    """A protobuf Duration field in milliseconds, checked."""
    if not present:
        return default_ms
    ms = int(d.ToMilliseconds())
    if ms < 0:
        raise InvalidArgument(f"{what} must not be negative, got {ms} ms")
    return ms if max_ms is None else min(ms, max_ms)


def check_payload(encoding: str, data: bytes, what: str, max_bytes: int) -> Value:
    encoding = encoding or "json"
    if encoding not in ENCODINGS:
        raise InvalidArgument(f"{what}: unknown encoding {encoding[:40]!r}, expected one of {ENCODINGS}")
    if len(data) > max_bytes:
        raise ResourceExhausted(f"{what} is {len(data)} bytes, over the limit of {max_bytes}")
    if encoding == "json":
        try:
            json.loads(data)
        except (UnicodeDecodeError, ValueError) as e:
            raise InvalidArgument(f"{what} is not valid JSON: {e}") from None
    return Value(encoding, data)


def check_arguments(encoding: str, data: bytes, what: str, max_bytes: int) -> Value:
    """An input payload: in JSON, an object {"args": [...], "kwargs": {...}}."""
    value = check_payload(encoding, data, what, max_bytes)
    if value.encoding == "json":
        if not data:
            return Value("json", b'{"args": [], "kwargs": {}}')
        doc = json.loads(data)
        if (
            not isinstance(doc, dict)
            or not set(doc) <= {"args", "kwargs"}
            or not isinstance(doc.get("args", []), list)
            or not isinstance(doc.get("kwargs", {}), dict)
        ):
            raise InvalidArgument(f'{what} must be a JSON object {{"args": [...], "kwargs": {{...}}}}')
    return value


def check_error(type_: str, message: str, details: str, max_bytes: int) -> Failure:
    if not type_:
        raise InvalidArgument("error.type is required")
    size = len(type_) + len(message) + len(details)
    if size > max_bytes:
        raise ResourceExhausted(f"error is {size} bytes, over the limit of {max_bytes}")
    return Failure(type_[:200], message, details)
