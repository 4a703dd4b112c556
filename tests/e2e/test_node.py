"""A second language with nothing but protos/: the Node.js client and step
worker of examples/node talk to a real coordinator (on both stores) next to a
Python worker serving tests.flows_polyglot, whose workflows call JavaScript steps
by name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.harness import ROOT, Proc, free_port, wait_for

NODE_DIR = ROOT / "examples" / "node"


@pytest.fixture(scope="session")
def node() -> str:
    """The node binary, with examples/node's dependencies installed (npm ci)
    unless node_modules is at least as new as package-lock.json."""
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are required for tests/e2e/test_node.py (Node.js 18+ on PATH)")
    stamp = NODE_DIR / "node_modules" / ".package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, timeout=300,
                              capture_output=True, text=True)
        assert done.returncode == 0, f"npm ci failed in {NODE_DIR}:\n{done.stdout}\n{done.stderr}"
    return node


@pytest.fixture
def node_worker(node: str) -> Any:
    """Start a Node step worker of a cluster; it is killed with the cluster."""
    n = 0

    def start(cluster: Any, wait: bool = True, coordinator: str | None = None) -> Proc:
        nonlocal n
        n += 1
        proc = Proc([node, str(NODE_DIR / "worker.js"), "--coordinator", coordinator or cluster.address,
                     "--worker-id", f"node-{n}-{cluster.port}", "--step-slots", "4", "--grace", "5"],
                    cluster.tmp / f"node-worker-{n}.log", cluster.env)
        cluster.workers.append(proc)  # closed, and its log shown on failure, with the cluster
        if wait:
            cluster.wait_connected(proc, timeout=30)
        return proc

    return start


def run_node(node: str, cluster: Any, script: str, *args: str, timeout: float = 90,
             coordinator: str | None = None) -> tuple[int, list[Any]]:
    """Run a Node CLI to the end; its exit code and the JSON lines it printed."""
    done = subprocess.run([node, str(NODE_DIR / script), "--coordinator", coordinator or cluster.address,
                           *args],
                          cwd=ROOT, env=cluster.env, capture_output=True, text=True, timeout=timeout)
    try:
        lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    except json.JSONDecodeError:
        raise AssertionError(
            f"{script} printed something that is not JSON:\n{done.stdout}\n{done.stderr}") from None
    return done.returncode, lines


def test_node_client_runs_a_python_workflow_calling_a_js_step(
        cluster: Any, node: str, node_worker: Any) -> None:
    py = cluster.start_worker("tests.flows_polyglot")
    js = node_worker(cluster)
    # The client sends "confirm" only after it has seen the "priced" event, which
    # the workflow sets before it waits for that message: events arrive live.
    code, lines = run_node(node, cluster, "client.js", "polyglot_order", '["widget", 3]',
                           "--workflow-id", "wf-node-order", "--send-topic", "confirm",
                           "--send", '{"by": "node client"}', "--send-after", "priced")
    assert code == 0, lines
    assert lines[0] == {"started": "wf-node-order", "created": True}
    assert lines[1:] == [
        {"event": "priced", "value": {"total": 750, "tax": 60}, "seq": 1},
        {"sent": "confirm"},
        {"event": "confirmed", "value": {"by": "node client"}, "seq": 2},
        {"result": {
            "item": "widget", "tax": 60, "confirm": {"by": "node client"}, "grand_total": 810,
            "price": {"item": "widget", "qty": 3, "total": 750, "by": "node", "pid": js.pid},
        }},
    ]
    steps = cluster.client().retrieve_workflow("wf-node-order").steps()
    assert [(s.name, s.kind) for s in steps] == [
        ("py_tax", "STEP"), ("js_price", "STEP"), ("priced", "SET_EVENT"), ("confirm", "RECV"),
        ("confirmed", "SET_EVENT")]
    js_step = steps[1]
    assert (js_step.status, js_step.attempt, js_step.output["by"]) == ("SUCCESS", 1, "node")
    assert cluster.runs("py_tax-widget") == [py.pid]

    # Same ID again: nothing new runs, the recorded result comes back.
    code, lines = run_node(node, cluster, "client.js", "polyglot_order", '["widget", 3]',
                           "--workflow-id", "wf-node-order")
    assert code == 0 and lines[0] == {"started": "wf-node-order", "created": False}
    assert lines[-1]["result"]["grand_total"] == 810
    assert cluster.runs("py_tax-widget") == [py.pid]


def test_js_step_errors_cross_languages(cluster: Any, node: str, node_worker: Any) -> None:
    cluster.start_worker("tests.flows_polyglot")
    node_worker(cluster)
    # Caught in Python: a JS TypeError is a StepError that is also a TypeError.
    code, lines = run_node(node, cluster, "client.js", "polyglot_fail", '["bad qty"]')
    assert code == 0, lines
    assert lines[-1] == {"result": {"type": "TypeError", "message": "bad qty", "has_stack": True}}
    # Uncaught: the workflow ends ERROR; the client prints it and exits 1.
    code, lines = run_node(node, cluster, "client.js", "polyglot_fail",
                           '{"args": ["bad qty"], "kwargs": {"catch": false}}')
    assert code == 1, lines
    assert lines[-1] == {"error": {"type": "TypeError", "message": "bad qty"},
                         "status": "WORKFLOW_STATUS_ERROR"}


def test_node_worker_killed_mid_step_hands_it_to_another(cluster: Any, node_worker: Any) -> None:
    py = cluster.start_worker("tests.flows_polyglot")
    first = node_worker(cluster)
    handle = cluster.client().start_workflow("polyglot_slow", "k1", workflow_id="wf-node-kill")
    assert cluster.wait_runs("k1") == [first.pid]
    second = node_worker(cluster)
    first.kill()
    # The coordinator sees the stream drop and re-dispatches the step (attempt 2).
    cluster.wait_runs("k1", 2)
    cluster.open_gate("k1")
    result = handle.result(timeout=30)
    assert result["slow"] == {"label": "k1", "pid": second.pid}
    assert cluster.runs("k1") == [first.pid, second.pid]
    # Finished before the kill: exactly once. After: once.
    assert cluster.runs("k1-before") == [py.pid]
    assert cluster.runs("k1-after") == [py.pid]
    slow = [s for s in handle.steps() if s.name == "js_slow"]
    assert len(slow) == 1 and slow[0].attempt == 2 and slow[0].output["pid"] == second.pid


def test_node_worker_survives_a_coordinator_restart(cluster: Any, node: str, node_worker: Any) -> None:
    py = cluster.start_worker("tests.flows_polyglot")
    js = node_worker(cluster)
    handle = cluster.client().start_workflow("polyglot_slow", "r1", workflow_id="wf-node-restart")
    assert cluster.wait_runs("r1") == [js.pid]
    assert cluster.coordinator is not None
    cluster.coordinator.kill()
    cluster.start_coordinator()
    # Both workers reconnect by themselves; the workflow is re-executed (new
    # epoch) and its step dispatched again, to the same Node worker.
    cluster.wait_connected(js, times=2, timeout=30)
    cluster.wait_connected(py, times=2, timeout=30)
    assert js.log().count("lost the coordinator") == 1
    cluster.wait_runs("r1", 2, timeout=30)
    cluster.open_gate("r1")
    assert handle.result(timeout=30)["slow"]["pid"] == js.pid
    # The run from before the restart finishes too, but its epoch is fenced off.
    wait_for(lambda: "outcome dropped" in js.log(), "the stale js_slow outcome to be dropped")
    assert cluster.runs("r1") == [js.pid, js.pid]
    assert cluster.runs("r1-before") == [py.pid]
    # And it serves new workflows.
    code, lines = run_node(node, cluster, "client.js", "polyglot_order", '["bolt", 2]',
                           "--send-topic", "confirm", "--send", "true")
    assert code == 0, lines
    assert lines[-1]["result"]["price"] == {"item": "bolt", "qty": 2, "total": 500, "by": "node",
                                            "pid": js.pid}
    # SIGTERM: drain, finish, exit 0.
    assert js.terminate(timeout=20) == 0
    assert "draining" in js.log()


def test_node_client_gets_documented_status_codes(cluster: Any, node: str) -> None:
    code, lines = run_node(node, cluster, "badinput.js")
    got = [(line["call"], line["code"]) for line in lines]
    assert got == [
        ("GetWorkflow", "NOT_FOUND"), ("AwaitWorkflow", "NOT_FOUND"), ("ListSteps", "NOT_FOUND"),
        ("Send", "NOT_FOUND"), ("StartWorkflow", "INVALID_ARGUMENT"),
        ("StartWorkflow", "INVALID_ARGUMENT"), ("StartWorkflow", "INVALID_ARGUMENT"),
        ("StartWorkflow", "INVALID_ARGUMENT"),
    ], lines
    assert code == 0
    assert "not valid JSON" in lines[4]["details"]
    # The client CLI maps an RPC error to its status name and exits 2.
    code, lines = run_node(node, cluster, "client.js", "not a name!", "[]")
    assert code == 2
    assert lines == [{"rpc_error": "INVALID_ARGUMENT", "details": lines[0]["details"],
                      "call": "StartWorkflow"}]
    assert "not a name!" in lines[0]["details"]


def test_package_lock_pins_only_grpc(node: str) -> None:
    """The example depends on @grpc/grpc-js and @grpc/proto-loader only, at exact versions."""
    package = json.loads((NODE_DIR / "package.json").read_text())
    deps = package["dependencies"]
    assert sorted(deps) == ["@grpc/grpc-js", "@grpc/proto-loader"]
    assert all(v[0].isdigit() for v in deps.values()), deps
    lock = json.loads((NODE_DIR / "package-lock.json").read_text())
    assert lock["packages"][""]["dependencies"] == deps
    assert Path(NODE_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir()


def test_node_client_and_worker_over_tls_with_tokens(node: str, tmp_path: Path) -> None:
    """--tls-ca and --token on the Node client and worker (docs/protocol.md)."""
    import tests.flows  # noqa: F401 - the Python worker serves its workflows
    from tests.certs import Authority
    from tests.inproc import running
    from tests.integration.test_auth_roles import make_token
    from worker import Worker

    ca = Authority(tmp_path, "ca")
    server = ca.issue("server", server=True)
    db = "sqlite:///" + str(tmp_path / "keel.db")
    worker_secret, client_secret = make_token(db, "worker", "py"), make_token(db, "client", "app")
    js_secret = make_token(db, "worker", "js")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    with running(db, tls_cert=server.cert, tls_key=server.key, require_auth=True) as s, \
            Worker(s.listen, token=worker_secret, tls_ca=ca.ca) as py:
        wait_for(py.connected.is_set, "the Python worker to connect")
        flags = ["--coordinator", s.listen, "--tls-ca", ca.ca]

        def client(secret: str) -> tuple[int, list[Any]]:
            done = subprocess.run([node, str(NODE_DIR / "client.js"), *flags, "--token", secret,
                                   "noops", "[2]"], cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=60)
            return done.returncode, [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

        code, lines = client(client_secret)
        assert code == 0 and lines[-1] == {"result": 2}, lines
        code, lines = client(worker_secret)
        assert code == 2 and lines[0]["rpc_error"] == "PERMISSION_DENIED"
        js = Proc([node, str(NODE_DIR / "worker.js"), *flags, "--token", js_secret, "--worker-id", "js-tls"],
                  tmp_path / "node-worker.log", env)
        try:
            wait_for(lambda: " connected to " in js.log(), "the Node worker to connect over TLS", 30)
        finally:
            js.close()


def test_node_client_and_worker_skip_a_dead_coordinator(cluster: Any, node: str, node_worker: Any) -> None:
    """--coordinator takes a list, as in the Python SDK: a dead first address is skipped."""
    listed = f"127.0.0.1:{free_port()},{cluster.address}"
    cluster.start_worker("tests.flows_polyglot")
    js = node_worker(cluster, coordinator=listed)
    code, lines = run_node(node, cluster, "client.js", "polyglot_order", '["nut", 1]',
                           "--send-topic", "confirm", "--send", "true", coordinator=listed)
    assert code == 0, lines
    assert lines[-1]["result"]["price"]["pid"] == js.pid
def test_a_node_client_sends_the_message_that_wins_a_python_select(cluster: Any, node: str) -> None:
    """Select over anything is in the protocol (issue 11): the Node example
    client's message wins a Python workflow's select against a one-hour timer."""
    cluster.start_worker("tests.flows_select")
    code, lines = run_node(node, cluster, "client.js", "approval_announced", "[3600]",
                           "--workflow-id", "wf-node-approval", "--send-topic", "approval",
                           "--send", '{"approved_by": "node"}', "--send-after", "waiting")
    assert code == 0, lines
    assert lines[-1] == {"result": [0, {"approved_by": "node"}]}
    decision = cluster.client().retrieve_workflow("wf-node-approval").steps()[-1]
    assert (decision.kind, decision.select_index) == ("SELECT", 0)
