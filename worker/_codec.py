"""Payload encoding: JSON by default, raw bytes as "binary"; errors as ErrorInfo."""

from __future__ import annotations

import json
import traceback
from typing import Any

from keel.v1 import common_pb2 as pb

# Made once: json.dumps with options and json.loads of bytes build or probe
# them on every call, which a step pays four times (its input both ways,
# its output, the recorded answer).
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_DECODER = json.JSONDecoder()
# None, the commonest outcome of a step, both ways without them.
_NULL = b"null"


def encode(value: Any) -> pb.Payload:
    """Encode a value; raises TypeError if it is neither bytes nor JSON-serialisable."""
    if value is None:
        return pb.Payload(encoding="json", data=_NULL)
    if isinstance(value, (bytes, bytearray)):
        return pb.Payload(encoding="binary", data=bytes(value))
    try:
        data = _ENCODER.encode(value).encode()
    except (TypeError, ValueError) as e:
        raise TypeError(f"value of type {type(value).__name__} cannot be encoded as JSON: {e}") from None
    return pb.Payload(encoding="json", data=data)


def decode(payload: pb.Payload) -> Any:
    encoding, data = payload.encoding, payload.data
    if encoding == "binary":
        return data
    if encoding in ("", "json"):
        # UTF-8: the only JSON text a coordinator stores (api/requests.py).
        return None if not data or data == _NULL else _DECODER.decode(data.decode())
    raise ValueError(f"unknown payload encoding {encoding!r}")


def encode_args(args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]) -> pb.Payload:
    """Inputs are a JSON object {"args": [...], "kwargs": {...}}, readable by any language."""
    return encode({"args": list(args), "kwargs": kwargs})


def decode_args(payload: pb.Payload) -> tuple[list[Any], dict[str, Any]]:
    doc = decode(payload)
    if doc is None:
        return [], {}
    if not isinstance(doc, dict):
        raise TypeError(f"input must be an object with args and kwargs, got {type(doc).__name__}")
    return list(doc.get("args", [])), dict(doc.get("kwargs", {}))


def round_trip_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """The arguments as a step served elsewhere would receive them: through
    their encoding and back (tuples become lists, say). None need no trip."""
    if not args and not kwargs:
        return [], {}
    return decode_args(encode_args(args, kwargs))


def error_info(exc: BaseException) -> pb.ErrorInfo:
    type_name = getattr(exc, "type_name", None) or type(exc).__name__
    message = getattr(exc, "error_message", None) or str(exc)
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return pb.ErrorInfo(type=type_name, message=message, details=details[-16_000:])
