"""Hypothesis strategies for any protobuf message, built from its descriptor:
well-typed requests whose values come from pools of the edges that hurt
(extreme numbers and times, NUL and odd Unicode, bad and deeply nested JSON,
IDs of workflows that exist), and raw bytes mutated from them."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

# IDs the fuzz tests create, so requests hit real workflows too.
KNOWN_IDS = ["fz-a", "fz-b", "fz-c"]
NAMES = ["fz_wf", "fz_step", "three_steps", "record"]
STRINGS = st.one_of(
    st.sampled_from(["", *KNOWN_IDS, *NAMES, "a\x00b", "\x00", "x" * 201, "bad name!", "é☃𝄞",
                     "json", "binary", "k", "t", "a\nb"]),
    st.text(max_size=20),
)
JSON_DOCS = [b"", b"{}", b"null", b"1", b'"s"', b'{"args": [1], "kwargs": {}}', b'{"args": 1}',
             b"[" * 3000 + b"]" * 3000, b'{"a":' * 500 + b"1" + b"}" * 500, b"\xff\xfe", b"{not json",
             b'"\\ud800"', b"1e999999", b'"a\\u0000b"']
BYTES = st.one_of(st.sampled_from(JSON_DOCS), st.binary(max_size=64))
INT32_EDGES = [0, 1, -1, 2, 3, 2**31 - 1, -(2**31)]
INT64_EDGES = [*INT32_EDGES, 2**53 + 1, 2**63 - 1, -(2**63), 10**12, 10**16]
# Seconds and nanos of Timestamps and Durations: in range, at the edges, past them.
SECONDS = [0, 1, -1, 5, 60, 10**9, 253_402_300_799, 253_402_300_800, -62_135_596_801,
           315_576_000_000, 315_576_000_001, 10**12, 10**16, -(10**16), 2**63 - 1, -(2**63)]
NANOS = [0, 1, -1, 999_999_999, 1_000_000_000, -(10**9), 2**31 - 1, -(2**31)]

_INTS = {
    FieldDescriptor.CPPTYPE_INT32: st.one_of(st.sampled_from(INT32_EDGES), st.integers(-5, 50)),
    FieldDescriptor.CPPTYPE_INT64: st.one_of(st.sampled_from(INT64_EDGES), st.integers(-5, 50)),
    FieldDescriptor.CPPTYPE_UINT32: st.one_of(st.sampled_from([0, 1, 2, 2**32 - 1]), st.integers(0, 50)),
    FieldDescriptor.CPPTYPE_UINT64: st.one_of(st.sampled_from([0, 1, 2, 3, 2**64 - 1]), st.integers(0, 50)),
}


def _scalar(field: FieldDescriptor, name: str) -> st.SearchStrategy[Any]:
    cpp = field.cpp_type
    if cpp in _INTS:
        if field.message_type is None and field.containing_type is not None and (
                field.containing_type.full_name in ("google.protobuf.Timestamp", "google.protobuf.Duration")):
            return st.sampled_from(SECONDS if name == "seconds" else NANOS).filter(
                lambda v: _fits(cpp, v))
        return _INTS[cpp]
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return st.booleans()
    if cpp == FieldDescriptor.CPPTYPE_STRING:
        return BYTES if field.type == FieldDescriptor.TYPE_BYTES else STRINGS
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        values = [v.number for v in field.enum_type.values]
        return st.sampled_from([*values, max(values) + 1, -1])
    if cpp in (FieldDescriptor.CPPTYPE_DOUBLE, FieldDescriptor.CPPTYPE_FLOAT):
        return st.floats(allow_nan=True, width=32)
    raise NotImplementedError(field.full_name)


def _fits(cpp: int, v: int) -> bool:
    bits = 32 if cpp == FieldDescriptor.CPPTYPE_INT32 else 64
    return -(2 ** (bits - 1)) <= v < 2 ** (bits - 1)


def _field(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.message_type is not None:
        return messages(field.message_type, depth + 1)
    return _scalar(field, field.name)


@st.composite
def _message(draw: st.DrawFn, descriptor: Descriptor, depth: int) -> Message:
    msg = GetMessageClass(descriptor)()
    for field in descriptor.fields:
        if depth > 3 and field.message_type is not None:
            continue
        if not draw(st.booleans()):
            continue
        repeated = field.is_repeated
        if repeated:
            values = draw(st.lists(_field(field, depth), max_size=3))
            target = getattr(msg, field.name)
            if field.message_type is not None:
                for v in values:
                    target.add().CopyFrom(v)
            else:
                target.extend(values)
        elif field.message_type is not None:
            getattr(msg, field.name).CopyFrom(draw(_field(field, depth)))
        else:
            setattr(msg, field.name, draw(_field(field, depth)))
    return msg


def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Well-typed messages of this type, from the pools above."""
    return _message(descriptor, depth)


@st.composite
def mutated(draw: st.DrawFn, descriptor: Descriptor) -> bytes:
    """The bytes of a well-typed message, then flipped, cut, spliced or replaced."""
    data = bytearray(draw(messages(descriptor)).SerializeToString())
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "replace"]))
        if op == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
        elif op == "cut" and data:
            del data[draw(st.integers(0, len(data) - 1)):]
        elif op == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        else:
            data = bytearray(draw(st.binary(max_size=32)))
    return bytes(data)
