"""`coordinator serve --http` in a real process, on both stores: the probes,
the metrics of a real run, the console's API over a workflow with a select
and events (the worker of each step), and the flag's refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from typing import Any

from tests.harness import ROOT, free_port, wait_for


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_serve_with_http_on_each_store(cluster_factory: Any, store_url: str) -> None:
    http = f"127.0.0.1:{free_port()}"
    cluster = cluster_factory(store_url, http=http)
    cluster.start_coordinator()
    base = f"http://{http}"
    assert fetch(base + "/healthz") == (200, '{"status": "ok"}')
    assert fetch(base + "/readyz") == (200, '{"ready": true}')
    cluster.start_worker("tests.flows_console")
    handle = cluster.client().start_workflow("console_race", "o-1", "g-1",
                                             workflow_id=f"o-{uuid.uuid4().hex[:6]}")
    cluster.wait_runs("g-1")  # the select decided; the approval waits for its gate
    cluster.open_gate("g-1")
    assert handle.result(timeout=30)["carrier"] == "fast"

    status, body = fetch(f"{base}/api/workflows/{handle.workflow_id}")
    view = json.loads(body)
    assert status == 200 and view["status"] == "SUCCESS"
    steps = {s["name"]: s for s in view["steps"]}
    select = next(s for s in view["steps"] if s["kind"] == "SELECT")
    assert select["select"]["winner"] == steps["quote_fast"]["step_number"]
    # The loser may still run when the workflow ends (then it is never recorded).
    fast = steps["quote_fast"]["step_number"]
    assert select["select"]["candidates"] in ([fast - 1, fast], [fast, fast + 1])
    workers = json.loads(fetch(base + "/api/workers")[1])["workers"]
    assert len(workers) == 1 and "quote_fast" in workers[0]["steps"]
    assert {s["worker_id"] for s in view["steps"]} == {workers[0]["worker_id"]}  # every step knows its worker
    assert [(e["key"], e["value"]["json"]) for e in view["events"]] == [
        ("stage", "started"), ("carrier", "fast"), ("stage", "approved")]
    listed = json.loads(fetch(f"{base}/api/workflows?status=SUCCESS")[1])["workflows"]
    assert [w["workflow_id"] for w in listed] == [handle.workflow_id]

    status, metrics = fetch(base + "/metrics")
    assert status == 200
    for line in ('keel_workflows_started_total{name="console_race"} 1.0',
                 'keel_workflows_finished_total{name="console_race",status="SUCCESS"} 1.0',
                 'keel_step_duration_seconds_count{kind="SELECT",name=""} 1.0',
                 'keel_dispatch_latency_seconds_count{what="step"}',
                 "keel_workers_connected 1.0"):
        assert line in metrics, line
    page = fetch(base + "/")
    assert page[0] == 200 and "<title>keel console</title>" in page[1]
    assert "console on http://" in cluster.coordinator.log()


def test_the_http_flag_and_its_env(sqlite_url: str, tmp_path: Any) -> None:
    env = {**os.environ, "KEEL_HTTP": "nonsense"}
    proc = subprocess.run(
        [sys.executable, "-m", "coordinator", "serve", "--listen", f"127.0.0.1:{free_port()}",
         "--db", sqlite_url], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--http must be HOST:PORT" in proc.stderr
    taken = f"127.0.0.1:{free_port()}"
    log = tmp_path / "c.log"
    with open(log, "wb") as out:
        first = subprocess.Popen(
            [sys.executable, "-m", "coordinator", "serve", "--listen", f"127.0.0.1:{free_port()}",
             "--db", sqlite_url, "--http", taken], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: fetch(f"http://{taken}/healthz")[0] == 200 if _listening(taken) else False,
                 "the console to answer")
        second = subprocess.run(
            [sys.executable, "-m", "coordinator", "serve", "--listen", f"127.0.0.1:{free_port()}",
             "--db", "sqlite:///" + str(tmp_path / "other.db"), "--http", taken],
            cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2 and "address" in second.stderr.lower()
    finally:
        first.terminate()
        first.wait(20)


def _listening(address: str) -> bool:
    import socket

    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=0.2).close()
        return True
    except OSError:
        return False
