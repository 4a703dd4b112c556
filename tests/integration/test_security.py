"""TLS, mutual TLS, token revocation and expiry, secrets kept out of sight,
the audit of worker tokens, and the stream limits (issue 13)."""

from __future__ import annotations

import contextlib
import io
import logging
import time
from pathlib import Path

import grpc
import pytest

import tests.flows  # noqa: F401 - registers the workflows the workers serve
from coordinator.cli import _parser as coordinator_parser
from coordinator.cli import main as coordinator_cli
from tests.certs import Authority
from tests.harness import wait_for
from tests.inproc import running
from tests.integration.test_auth_roles import make_token
from worker import Client, Worker
from worker._cli import _parser as worker_parser
from worker._errors import CoordinatorError


def _db(tmp_path: Path) -> str:
    return "sqlite:///" + str(tmp_path / "keel.db")


def _works(client: Client) -> bool:
    try:
        client.list_workflows()
        return True
    except CoordinatorError:
        return False


def test_tls(tmp_path: Path) -> None:
    ca, other = Authority(tmp_path, "ca"), Authority(tmp_path, "other-ca")
    server = ca.issue("server", server=True)
    with running(_db(tmp_path), tls_cert=server.cert, tls_key=server.key) as s:
        with Client(s.listen, tls_ca=ca.ca) as good:
            assert _works(good)
        with Client(s.listen, timeout=2) as plaintext:
            assert not _works(plaintext)
        with Client(s.listen, tls_ca=other.ca, timeout=2) as stranger:
            assert not _works(stranger)


def test_mutual_tls(tmp_path: Path) -> None:
    ca, other = Authority(tmp_path, "ca"), Authority(tmp_path, "other-ca")
    server, client = ca.issue("server", server=True), ca.issue("client", server=False)
    forged = other.issue("forged", server=False)
    with running(_db(tmp_path), tls_cert=server.cert, tls_key=server.key, tls_client_ca=ca.ca) as s:
        with Client(s.listen, tls_ca=ca.ca, tls_cert=client.cert, tls_key=client.key) as good:
            assert _works(good)
        with Client(s.listen, tls_ca=ca.ca, timeout=2) as anonymous:
            assert not _works(anonymous)
        with Client(s.listen, tls_ca=ca.ca, tls_cert=forged.cert, tls_key=forged.key, timeout=2) as bad:
            assert not _works(bad)
        # The admin verbs take the same flags.
        flags = ["--address", s.listen, "--tls-ca", ca.ca]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert coordinator_cli(["list", *flags, "--tls-cert", client.cert, "--tls-key", client.key]) == 0


def test_tls_with_tokens_end_to_end(tmp_path: Path) -> None:
    """A worker and a client over TLS with tokens; the audit names the worker's token."""
    ca = Authority(tmp_path, "ca")
    server = ca.issue("server", server=True)
    db = _db(tmp_path)
    worker_secret, client_secret = make_token(db, "worker", "worker-a"), make_token(db, "client", "app")
    admin = make_token(db, "admin", "ops")
    with running(db, tls_cert=server.cert, tls_key=server.key, require_auth=True) as s:
        with Worker(s.listen, token=worker_secret, tls_ca=ca.ca) as worker, \
                Client(s.listen, token=client_secret, tls_ca=ca.ca) as client:
            wait_for(worker.connected.is_set, "the worker to connect")
            handle = client.start_workflow("noops", 2)
            assert handle.result(timeout=20) == 2
            steps = handle.steps()
            assert len(steps) == 2 and {st.worker_token for st in steps} == {"worker-a"}
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert coordinator_cli(["steps", handle.workflow_id, "--address", s.listen, "--tls-ca", ca.ca,
                                    "--token", admin]) == 0
        assert out.getvalue().count('"workerToken": "worker-a"') == 2


def test_roles_of_workers_and_clients(tmp_path: Path) -> None:
    db = _db(tmp_path)
    client_secret, worker_secret = make_token(db, "client", "app"), make_token(db, "worker", "w")
    with running(db, require_auth=True) as s:
        worker = Worker(s.listen, token=client_secret).start()
        wait_for(lambda: worker.refused, "the worker to be refused", timeout=10)
        assert worker.refused is not None and worker.refused.startswith("PERMISSION_DENIED")
        assert not worker.connected.is_set()
        with Client(s.listen, token=worker_secret) as client:
            with pytest.raises(CoordinatorError) as e:
                client.start_workflow("noops", 1)
            assert e.value.code == "PERMISSION_DENIED"
        with Client(s.listen) as anonymous:
            with pytest.raises(CoordinatorError) as e:
                anonymous.list_workflows()
            assert e.value.code == "UNAUTHENTICATED"


def _revoke(db: str, name: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        assert coordinator_cli(["token", "revoke", name, "--db", db]) == 0


def test_revocation_and_expiry_within_a_second(tmp_path: Path) -> None:
    db = _db(tmp_path)
    client_secret, worker_secret = make_token(db, "client", "app"), make_token(db, "worker", "w")
    short = make_token(db, "client", "short", "--expires", "2s")
    with running(db, require_auth=True) as s:
        with Client(s.listen, token=client_secret) as client, Client(s.listen, token=short) as brief:
            worker = Worker(s.listen, token=worker_secret).start()
            wait_for(worker.connected.is_set, "the worker to connect")
            assert _works(client) and _works(brief)
            _revoke(db, "app")
            _revoke(db, "w")
            revoked_at = time.monotonic()
            wait_for(lambda: not _works(client), "the revoked token to be refused", timeout=1.0)
            # The open worker stream is ended too, and the worker stops.
            wait_for(lambda: worker.refused, "the worker's stream to end", timeout=1.5)
            assert worker.refused is not None and worker.refused.startswith("UNAUTHENTICATED")
            assert time.monotonic() - revoked_at < 1.5
            wait_for(lambda: not _works(brief), "the expired token to be refused", timeout=3.0)
            with pytest.raises(CoordinatorError) as e:
                brief.list_workflows()
            assert e.value.code == "UNAUTHENTICATED" and "expired" in str(e.value)


def test_secrets_stay_out_of_store_logs_listings_and_help(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    db = _db(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert coordinator_cli(["token", "create", "--db", db, "--role", "client", "--name", "app"]) == 0
    lines = out.getvalue().splitlines()
    secret = lines[-1]
    assert secret.startswith("keel_") and len(secret) > 40 and all(secret not in line for line in lines[:-1])
    caplog.set_level(logging.DEBUG)
    with running(db, require_auth=True) as s:
        with Client(s.listen, token=secret) as client:
            client.list_workflows()
        with Client(s.listen, token=secret + "x") as wrong:
            assert not _works(wrong)
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "refused" in logged and secret not in logged
    for path in tmp_path.iterdir():  # the SQLite file, its WAL: only the hash
        assert secret.encode() not in path.read_bytes(), path
    listing = io.StringIO()
    with contextlib.redirect_stdout(listing):
        assert coordinator_cli(["token", "list", "--db", db]) == 0
    assert "app" in listing.getvalue() and "client" in listing.getvalue()
    assert secret not in listing.getvalue() and "keel_" not in listing.getvalue()
    # --help shows neither the token nor the store password taken from the environment.
    monkeypatch.setenv("KEEL_TOKEN", secret)
    monkeypatch.setenv("KEEL_DB", "postgresql://keel:hunter2@db.example:5432/keel")
    helps = [coordinator_parser()._subparsers._group_actions[0].choices[verb].format_help()  # type: ignore[union-attr]
             for verb in ("serve", "list", "steps", "migrate")]
    helps.append(worker_parser()._subparsers._group_actions[0].choices["run"].format_help())  # type: ignore[union-attr]
    assert not any(secret in h or "hunter2" in h for h in helps)


def test_limits_on_workers_and_watches(tmp_path: Path) -> None:
    with running(_db(tmp_path), max_workers=1, max_watch_streams=1) as s:
        first = Worker(s.listen).start()
        wait_for(first.connected.is_set, "the first worker to connect")
        from keel.v1 import client_service_pb2 as cpb
        from keel.v1 import client_service_pb2_grpc as cgrpc
        from keel.v1 import worker_service_pb2 as wpb
        from keel.v1 import worker_service_pb2_grpc as wgrpc

        with grpc.insecure_channel(s.listen) as channel:
            second = wgrpc.WorkerServiceStub(channel).Connect(iter([wpb.WorkerMessage(
                seq=1, register=wpb.Register(worker_id="second", steps=["noop"], step_slots=1))]), timeout=5)
            with pytest.raises(grpc.RpcError) as e:
                list(second)
            assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "--max-workers" in e.value.details()
            first.stop(grace=0)
            with Client(s.listen) as client:
                handle = client.start_workflow("noops", 1)
            stub = cgrpc.ClientServiceStub(channel)
            watch = stub.WatchEvents(cpb.WatchEventsRequest(workflow_id=handle.workflow_id), timeout=10)
            wait_for(lambda: watch.is_active() and _second_watch_refused(stub, handle.workflow_id),
                     "a second watch to be refused", timeout=10)
            watch.cancel()


def _second_watch_refused(stub: object, workflow_id: str) -> bool:
    from keel.v1 import client_service_pb2 as cpb

    try:
        list(stub.WatchEvents(cpb.WatchEventsRequest(workflow_id=workflow_id), timeout=0.5))  # type: ignore[attr-defined]
    except grpc.RpcError as e:
        return bool(e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED)
    return False


def test_server_certificate_rotates_without_restart(tmp_path: Path) -> None:
    old_ca, new_ca = Authority(tmp_path, "old-ca"), Authority(tmp_path, "new-ca")
    old, new = old_ca.issue("old", server=True), new_ca.issue("new", server=True)
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    cert.write_bytes(Path(old.cert).read_bytes())
    key.write_bytes(Path(old.key).read_bytes())
    with running(_db(tmp_path), tls_cert=str(cert), tls_key=str(key)) as s:
        with Client(s.listen, tls_ca=old_ca.ca) as before:
            assert _works(before)
        # Written beside and renamed over, as docs/security.md says.
        for src, dst in ((new.cert, cert), (new.key, key)):
            Path(f"{dst}.tmp").write_bytes(Path(src).read_bytes())
            Path(f"{dst}.tmp").replace(dst)
        with Client(s.listen, tls_ca=new_ca.ca) as after:
            assert _works(after)
        with Client(s.listen, tls_ca=old_ca.ca, timeout=2) as stale:
            assert not _works(stale)
