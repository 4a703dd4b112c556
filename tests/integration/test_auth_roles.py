"""Role tokens: every RPC of both services × the three roles and no token,
allowed or refused exactly as the role table says (issue 13)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from keel.v1 import client_service_pb2, common_pb2, worker_service_pb2

from coordinator.api.auth import ROLES, bearer
from coordinator.cli import main as coordinator_cli
from coordinator.core.records import Role
from coordinator.settings import Settings
from tests.inproc import running

SERVICES = [client_service_pb2.DESCRIPTOR.services_by_name["ClientService"],
            worker_service_pb2.DESCRIPTOR.services_by_name["WorkerService"]]
# Every RPC of both services, as (full method path, client streaming, server streaming).
RPCS = [(f"/{s.full_name}/{m.name}", m.client_streaming, m.server_streaming)
        for s in SERVICES for m in s.methods]
# What each role may call, written out rather than derived from the table.
ALLOWED = {
    "client": {"StartWorkflow", "GetWorkflow", "AwaitWorkflow", "ListWorkflows", "ListSteps",
               "GetEvent", "WatchEvents", "Send", "CancelWorkflow", "ResumeWorkflow", "ForkWorkflow",
               "SetSchedule", "DeleteSchedule", "ListSchedules", "PauseSchedule", "ResumeSchedule",
               "SetQueue", "GetQueue", "ListQueues", "Enqueue", "Calls"},
    "worker": {"Connect", "GetHistory", "RecordStep", "ScheduleStep", "Select", "SetEvent",
               "ReadEvent", "SendMessage", "ReceiveMessage", "Sleep", "Park", "FinishWorkflow",
               "EnqueueWorkflow", "StartChildWorkflow", "StartWait"},
}


def make_token(db: str, role: str, name: str, *extra: str) -> str:
    """`coordinator token create`; returns the secret, alone on the last line."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert coordinator_cli(["token", "create", "--db", db, "--role", role, "--name", name, *extra]) == 0
    return out.getvalue().strip().splitlines()[-1]


def test_the_role_table_covers_every_rpc() -> None:
    """Fails when an RPC is added to a service without a row in the table."""
    assert sorted(ROLES) == sorted(path for path, _, _ in RPCS)
    for path, _, _ in RPCS:
        rpc = path.rsplit("/", 1)[-1]
        expected = Role.CLIENT if rpc in ALLOWED["client"] else Role.WORKER
        assert rpc in ALLOWED["client"] | ALLOWED["worker"], f"{rpc}: which role may call it?"
        assert ROLES[path] is expected, path


def test_bearer_metadata() -> None:
    assert bearer([("authorization", "Bearer abc")]) == "abc"
    assert bearer([("authorization", "bearer  abc ")]) == "abc"
    assert bearer([("authorization", "Basic abc")]) == ""
    assert bearer([("x", "y")]) == "" and bearer(None) == ""


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, dict[str, str]]]:
    db = "sqlite:///" + str(Path(tmp_path_factory.mktemp("roles")) / "keel.db")
    secrets = {role: make_token(db, role, f"{role}-1") for role in ("client", "worker", "admin")}
    with running(db, require_auth=True) as settings:
        yield settings, secrets


def _call(channel: grpc.Channel, path: str, client_streaming: bool, server_streaming: bool,
          metadata: list[tuple[str, str]]) -> grpc.StatusCode:
    """Call `path` with an empty request; the status it ends with (OK if none)."""
    kw = {"request_serializer": None, "response_deserializer": None}
    try:
        if client_streaming and server_streaming:
            for _ in channel.stream_stream(path, **kw)(iter([b""]), metadata=metadata, timeout=5):
                pass
        elif server_streaming:
            for _ in channel.unary_stream(path, **kw)(b"", metadata=metadata, timeout=5):
                pass
        else:
            channel.unary_unary(path, **kw)(b"", metadata=metadata, timeout=5)
    except grpc.RpcError as e:
        code: grpc.StatusCode = e.code()
        return code
    return grpc.StatusCode.OK


@pytest.mark.parametrize("who", ["none", "client", "worker", "admin"])
@pytest.mark.parametrize(("path", "client_streaming", "server_streaming"), RPCS,
                         ids=[p.rsplit("/", 1)[-1] for p, _, _ in RPCS])
def test_every_rpc_for_every_role(secured: tuple[Settings, dict[str, str]], who: str, path: str,
                                  client_streaming: bool, server_streaming: bool) -> None:
    settings, secrets = secured
    metadata = [] if who == "none" else [("authorization", f"Bearer {secrets[who]}")]
    with grpc.insecure_channel(settings.listen) as channel:
        code = _call(channel, path, client_streaming, server_streaming, metadata)
    rpc = path.rsplit("/", 1)[-1]
    if who == "none":
        assert code == grpc.StatusCode.UNAUTHENTICATED
    elif who == "admin" or rpc in ALLOWED[who]:
        # Past the check: the empty request gets its own answer, never a refusal.
        assert code not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED), code
    else:
        assert code == grpc.StatusCode.PERMISSION_DENIED


def test_refusals_name_the_role_and_reveal_nothing(secured: tuple[Settings, dict[str, str]]) -> None:
    from keel.v1 import client_service_pb2_grpc as cgrpc

    settings, secrets = secured
    with grpc.insecure_channel(settings.listen) as channel:
        stub = cgrpc.ClientServiceStub(channel)
        admin = [("authorization", f"Bearer {secrets['admin']}")]
        args = common_pb2.Payload(encoding="json", data=b'{"args": []}')
        stub.StartWorkflow(client_service_pb2.StartWorkflowRequest(name="wf", workflow_id="exists",
                                                                   input=args), metadata=admin, timeout=5)
        answers = []
        for wid in ("exists", "does-not-exist"):
            for metadata in ([], [("authorization", "Bearer keel_wrong")]):
                with pytest.raises(grpc.RpcError) as e:
                    stub.GetWorkflow(client_service_pb2.GetWorkflowRequest(workflow_id=wid),
                                     metadata=metadata, timeout=5)
                answers.append((e.value.code(), e.value.details()))
        # Whether the workflow exists changes nothing in the answer.
        assert answers[:2] == answers[2:]
        assert {code for code, _ in answers} == {grpc.StatusCode.UNAUTHENTICATED}
        assert all("keel_wrong" not in details for _, details in answers)
        with pytest.raises(grpc.RpcError) as e:
            stub.StartWorkflow(client_service_pb2.StartWorkflowRequest(name="wf"), timeout=5,
                               metadata=[("authorization", f"Bearer {secrets['worker']}")])
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "role client" in e.value.details() and "worker-1" in e.value.details()
        # Health checking stays open for load balancers.
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        resp = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
