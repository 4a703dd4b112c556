"""A lint of the wire contract, in the spirit of `buf lint`: versioned package
matching its folder, services named *Service, one request and response message
per unary RPC, enums starting with <ENUM>_UNSPECIFIED = 0 and prefixed values,
and a comment on every service, RPC, message, field, enum and value."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / "protos"
FILES = sorted(PROTOS.glob("keel/v1/*.proto"))

# Paths into FileDescriptorProto (descriptor.proto field numbers).
MESSAGE, ENUM, SERVICE = 4, 5, 6
FIELD, NESTED, ONEOF = 2, 3, 8
VALUE, METHOD = 2, 2


@pytest.fixture(scope="module")
def files() -> list[descriptor_pb2.FileDescriptorProto]:
    out = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTOS}", "--include_source_info",
         "--descriptor_set_out=/dev/stdout", *map(str, FILES)],
        capture_output=True, check=True, timeout=60,
    ).stdout
    fds = descriptor_pb2.FileDescriptorSet.FromString(out)
    return [f for f in fds.file if f.name.startswith("keel/")]


def comments(f: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    return {tuple(loc.path): (loc.leading_comments + loc.trailing_comments).strip()
            for loc in f.source_code_info.location}


def test_package_is_versioned_and_matches_its_folder(files: list[descriptor_pb2.FileDescriptorProto]) -> None:
    for f in files:
        assert re.fullmatch(r"keel\.v\d+", f.package), f.package
        assert Path(f.name).parent.as_posix() == f.package.replace(".", "/"), f.name


def test_services_and_rpcs(files: list[descriptor_pb2.FileDescriptorProto]) -> None:
    used: dict[str, str] = {}
    for f in files:
        for service in f.service:
            assert service.name.endswith("Service"), service.name
            for m in service.method:
                if m.client_streaming or m.server_streaming:
                    continue  # streams carry envelope or item messages by design
                request, response = m.input_type.split(".")[-1], m.output_type.split(".")[-1]
                assert request == f"{m.name}Request", f"{service.name}.{m.name} takes {request}"
                assert response == f"{m.name}Response", f"{service.name}.{m.name} returns {response}"
                for message in (request, response):
                    assert message not in used, f"{message} is used by {used.get(message)} too"
                    used[message] = m.name


def test_enums_start_unspecified_and_are_prefixed(files: list[descriptor_pb2.FileDescriptorProto]) -> None:
    for f in files:
        for enum in f.enum_type:
            prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"
            assert enum.value[0].name == prefix + "UNSPECIFIED" and enum.value[0].number == 0, enum.name
            for v in enum.value:
                assert v.name.startswith(prefix), v.name


def test_everything_is_commented(files: list[descriptor_pb2.FileDescriptorProto]) -> None:
    missing = []
    for f in files:
        docs = comments(f)

        def need(path: tuple[int, ...], what: str, docs: dict[tuple[int, ...], str] = docs,
                 name: str = f.name) -> None:
            if not docs.get(path):
                missing.append(f"{name}: {what}")

        for i, service in enumerate(f.service):
            need((SERVICE, i), service.name)
            for j, m in enumerate(service.method):
                need((SERVICE, i, METHOD, j), f"{service.name}.{m.name}")
        for i, enum in enumerate(f.enum_type):
            need((ENUM, i), enum.name)
            for j, v in enumerate(enum.value):
                need((ENUM, i, VALUE, j), v.name)
        for i, message in enumerate(f.message_type):
            need((MESSAGE, i), message.name)
            for j, field in enumerate(message.field):
                # A field of a commented oneof is documented by the oneof.
                if field.HasField("oneof_index") and docs.get((MESSAGE, i, ONEOF, field.oneof_index)):
                    continue
                need((MESSAGE, i, FIELD, j), f"{message.name}.{field.name}")
    assert not missing, "uncommented:\n" + "\n".join(missing)

