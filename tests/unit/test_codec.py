"""Unit tests of payload encoding: JSON and binary, argument documents, errors."""

from __future__ import annotations

import json
import math

import pytest
from keel.v1 import common_pb2 as pb

from worker import _codec


@pytest.mark.parametrize("value", [None, 0, -7, 2.5, "héllo", True, [1, "a", None],
                                   {"a": {"b": [1, 2]}, "": 0}])
def test_json_round_trip(value: object) -> None:
    payload = _codec.encode(value)
    assert payload.encoding == "json"
    assert _codec.decode(payload) == value


def test_none_is_json_null_both_ways() -> None:
    assert _codec.encode(None).data == b"null"
    assert _codec.decode(pb.Payload(encoding="json", data=b"null")) is None
    assert _codec.decode(pb.Payload(encoding="json", data=b"")) is None


def test_a_local_step_gets_its_arguments_as_from_the_wire() -> None:
    assert _codec.round_trip_args((), {}) == ([], {})
    assert _codec.round_trip_args(((1, 2), {"k": (3,)}), {"x": (4,)}) == ([[1, 2], {"k": [3]}], {"x": [4]})
    with pytest.raises(TypeError):
        _codec.round_trip_args((object(),), {})


def test_json_is_compact_and_readable_by_any_language() -> None:
    payload = _codec.encode({"a": [1, 2]})
    assert payload.data == b'{"a":[1,2]}'


@pytest.mark.parametrize("value", [b"", b"\x00\xffraw", bytearray(b"abc")])
def test_binary_round_trip(value: bytes) -> None:
    payload = _codec.encode(value)
    assert payload.encoding == "binary"
    assert _codec.decode(payload) == bytes(value)
    assert type(_codec.decode(payload)) is bytes


def test_an_empty_payload_decodes_to_none() -> None:
    assert _codec.decode(pb.Payload()) is None
    assert _codec.decode(pb.Payload(encoding="json")) is None


def test_an_unknown_encoding_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown payload encoding 'msgpack'"):
        _codec.decode(pb.Payload(encoding="msgpack", data=b"\x90"))


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, [1.0, math.nan]])
def test_nan_and_infinity_are_refused(value: object) -> None:
    with pytest.raises(TypeError, match="cannot be encoded as JSON"):
        _codec.encode(value)


def test_values_json_cannot_hold_are_refused() -> None:
    with pytest.raises(TypeError, match="object"):
        _codec.encode(object())
    with pytest.raises(TypeError, match="set"):
        _codec.encode({1, 2})


def test_args_are_a_document_of_args_and_kwargs() -> None:
    payload = _codec.encode_args(("o-7", 3), {"express": True})
    assert json.loads(payload.data) == {"args": ["o-7", 3], "kwargs": {"express": True}}
    assert _codec.decode_args(payload) == (["o-7", 3], {"express": True})


def test_args_decoding_accepts_missing_parts_and_refuses_non_objects() -> None:
    assert _codec.decode_args(pb.Payload()) == ([], {})
    assert _codec.decode_args(_codec.encode({"args": [1]})) == ([1], {})
    assert _codec.decode_args(_codec.encode({"kwargs": {"a": 1}})) == ([], {"a": 1})
    with pytest.raises(TypeError, match="args and kwargs, got list"):
        _codec.decode_args(_codec.encode([1, 2]))


def test_error_info_keeps_type_message_and_traceback() -> None:
    try:
        raise KeyError("missing")
    except KeyError as e:
        info = _codec.error_info(e)
    assert info.type == "KeyError"
    assert info.message == "'missing'"
    assert "Traceback" in info.details and "raise KeyError" in info.details


def test_error_info_prefers_a_recorded_type_name_and_message() -> None:
    class Rebuilt(Exception):
        type_name = "TimeoutError"
        error_message = "carrier down"

    info = _codec.error_info(Rebuilt("ignored"))
    assert (info.type, info.message) == ("TimeoutError", "carrier down")


def test_error_info_details_are_bounded() -> None:
    info = _codec.error_info(ValueError("x" * 100_000))
    assert len(info.details) <= 16_000
