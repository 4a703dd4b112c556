"""Operating keel with real processes on both stores: resume, fork, the
retention sweep (`coordinator gc`), paging, schedules and their CLI verbs."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.harness import Cluster, wait_for
from worker import CoordinatorError, WorkflowCancelled, WorkflowFailed, WorkflowNotFound

FLOWS = "tests.flows_ops"


def cli(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "coordinator", *args], env=cluster.env,
                          capture_output=True, text=True, timeout=60)


def test_resume_a_workflow_cancelled_during_its_third_step(cluster: Cluster) -> None:
    cluster.start_worker(FLOWS)
    client = cluster.client()
    handle = client.start_workflow("third_gated", "rc", workflow_id="rc")
    cluster.wait_runs("rc")  # in its third step, held at the gate
    handle.cancel()
    with pytest.raises(WorkflowCancelled):
        handle.result(timeout=30)
    cluster.open_gate("rc")

    resumed = client.resume_workflow("rc")
    result = resumed.result(timeout=30)
    assert result[:2] == ["rc-0-done", "rc-1-done"] and result[3] == "rc-3-done"
    assert len(cluster.runs("rc-0")) == len(cluster.runs("rc-1")) == 1  # not run again
    assert len(cluster.runs("rc")) == 2  # the cancelled step ran again
    assert client.get_workflow("rc").status == "SUCCESS"
    with pytest.raises(CoordinatorError) as e:
        client.resume_workflow("rc")
    assert e.value.code == "FAILED_PRECONDITION" and "SUCCESS" in str(e.value)
    with pytest.raises(WorkflowNotFound):
        client.resume_workflow("no-such-workflow")


def test_resume_a_workflow_that_failed_on_a_step_that_now_succeeds(cluster: Cluster) -> None:
    cluster.start_worker(FLOWS)
    client = cluster.client()
    handle = client.start_workflow("needs_flag", "nf", workflow_id="nf")
    with pytest.raises(WorkflowFailed, match="flag nf"):
        handle.result(timeout=30)
    (cluster.tmp / "flags").mkdir()
    (cluster.tmp / "flags" / "nf").write_text("ok")

    assert client.resume_workflow("nf").result(timeout=30) == "nf-before-done ok"
    assert len(cluster.runs("nf-before")) == 1 and len(cluster.runs("nf")) == 2
    assert [s.status for s in handle.steps()] == ["SUCCESS", "SUCCESS"]


def test_fork_from_step_two_of_a_finished_workflow(cluster: Cluster) -> None:
    cluster.start_worker(FLOWS)
    client = cluster.client()
    original = client.start_workflow("four_steps", "fk", workflow_id="fk")
    assert original.result(timeout=30) == [f"fk-{i}-done" for i in range(4)]
    before = original.steps()

    fork = client.fork_workflow("fk", 2, workflow_id="fk-fork")
    assert fork.result(timeout=30) == [f"fk-{i}-done" for i in range(4)]
    assert [len(cluster.runs(f"fk-{i}")) for i in range(4)] == [1, 1, 2, 2]
    info = fork.info()
    assert info.forked_from == "fk" and info.name == "four_steps" and info.input == {"args": ["fk"],
                                                                                      "kwargs": {}}
    copied = fork.steps()
    assert [s.completed_at for s in copied[:2]] == [s.completed_at for s in before[:2]]
    assert all(a.completed_at < b.completed_at for a, b in zip(before[2:], copied[2:], strict=True))
    assert original.steps() == before and client.get_workflow("fk").forked_from is None

    restart = client.fork_workflow("fk", 0)
    assert restart.result(timeout=30) == [f"fk-{i}-done" for i in range(4)]
    assert [len(cluster.runs(f"fk-{i}")) for i in range(4)] == [2, 2, 3, 3]
    with pytest.raises(CoordinatorError) as e:
        client.fork_workflow("fk", 1, workflow_id="fk")
    assert e.value.code == "ALREADY_EXISTS"
    with pytest.raises(WorkflowNotFound):
        client.fork_workflow("nope", 0)


def test_gc_deletes_only_finished_workflows_older_than_the_cut(cluster: Cluster) -> None:
    cluster.start_worker(FLOWS)
    client = cluster.client()
    for wid in ("old-1", "old-2"):
        client.start_workflow("four_steps", wid, workflow_id=wid).result(timeout=30)
    running = client.start_workflow("third_gated", "gc-run", workflow_id="gc-run")
    cluster.wait_runs("gc-run")
    db = ["--db", cluster.store_url]

    def counted() -> bool:
        out = cli(cluster, "gc", *db, "--older-than", "3s", "--dry-run")
        assert out.returncode == 0, out.stderr
        return "would delete 2 finished" in out.stdout
    wait_for(counted, "the two finished workflows to be 3 s old", timeout=30, every=0.5)
    client.start_workflow("four_steps", "young", workflow_id="young").result(timeout=30)

    out = cli(cluster, "gc", *db, "--older-than", "3s")
    assert out.returncode == 0 and "deleted 2 finished" in out.stdout, out.stdout + out.stderr
    for wid in ("old-1", "old-2"):
        with pytest.raises(WorkflowNotFound):
            client.get_workflow(wid)
    assert len(client.retrieve_workflow("young").steps()) == 4
    assert len(running.steps()) == 2  # a running workflow's history is never touched
    cluster.open_gate("gc-run")
    assert running.result(timeout=30)[3] == "gc-run-3-done"
    bad = cli(cluster, "gc", *db, "--older-than", "soon")
    assert bad.returncode == 2 and "invalid duration 'soon'" in bad.stderr


def test_paging_through_ten_thousand_workflows_returns_each_once(cluster: Cluster) -> None:
    total = 10_000

    rows = [(f"page-{i:05d}", "nobody_serves_this", "PENDING", "json", b'{"args": []}',
             1_700_000_000_000 + i // 7, 1_700_000_000_000) for i in range(total)]  # ties page by ID
    insert = ("INSERT INTO workflows (workflow_id, name, status, input_encoding, input, created_at, "
              "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
    if cluster.store_url.startswith("postgresql"):
        with psycopg.connect(cluster.store_url) as conn, conn.cursor() as cur:
            cur.executemany(insert.replace("?", "%s"), rows)
    else:
        with sqlite3.connect(cluster.store_url.removeprefix("sqlite:///")) as db:
            db.executemany(insert, rows)
    client = cluster.client()
    seen: list[str] = []
    token = None
    while True:
        page = client.list_workflows(name="nobody_serves_this", limit=1000, page_token=token)
        seen += [w.workflow_id for w in page]
        if token is None:  # a workflow started meanwhile is newer: it is not in later pages
            client.start_workflow("nobody_serves_this", workflow_id="page-late")
        token = page.next_page_token
        if token is None:
            break
    assert len(seen) == len(set(seen)) == total + ("page-late" in seen)
    assert set(seen) >= {f"page-{i:05d}" for i in range(total)}
    some = client.list_workflows(created_after=1_700_000_000.100, created_before=1_700_000_000.102)
    assert sorted(w.workflow_id for w in some) == [f"page-{i:05d}" for i in range(700, 714)]
    with pytest.raises(CoordinatorError) as e:
        client.list_workflows(page_token="not a token")
    assert e.value.code == "INVALID_ARGUMENT"


def _ticks(client: Any, name: str) -> list[str]:
    ids: list[str] = []
    token = None
    while True:
        page = client.list_workflows(name="ticked", limit=1000, page_token=token)
        ids += [w.workflow_id for w in page if w.workflow_id.startswith(f"sched-{name}-")]
        token = page.next_page_token
        if token is None:
            return sorted(ids)


def test_schedules_tick_and_pause(cluster: Cluster, tmp_path: Path) -> None:
    cluster.start_worker(FLOWS)
    client = cluster.client()
    with pytest.raises(CoordinatorError, match="invalid cron expression '61 \\* \\* \\* \\*'"):
        client.set_schedule("bad", "ticked", "61 * * * *", "x")
    with pytest.raises(CoordinatorError, match="unknown time zone 'Nowhere/Town'") as e:
        client.set_schedule("bad", "ticked", "* * * * *", "x", timezone="Nowhere/Town")
    assert e.value.code == "INVALID_ARGUMENT"

    info = client.set_schedule("every", "ticked", "* * * * * *", "every")
    assert (info.name, info.workflow_name, info.input, info.paused) == (
        "every", "ticked", {"args": ["every"], "kwargs": {}}, False)
    first = wait_for(lambda: _ticks(client, "every"), "a tick")
    assert first[0].startswith("sched-every-20") and first[0].endswith("Z")
    client.retrieve_workflow(first[0]).result(timeout=30)
    assert cluster.runs(f"every-{first[0]}")

    paused = client.pause_schedule("every")
    assert paused.paused and paused.next_tick is None
    # Each tick is a second of its own: the IDs say which.
    fired = _ticks(client, "every")
    assert len(fired) == len(set(fired))
    resumed = client.resume_schedule("every")
    assert not resumed.paused and resumed.next_tick is not None
    wait_for(lambda: len(_ticks(client, "every")) > len(fired), "a tick after the resume")

    out = cli(cluster, "schedule", "--address", cluster.address, "list")
    assert out.returncode == 0 and out.stdout.startswith("every\tticked\t* * * * * *\tUTC"), out.stderr
    out = cli(cluster, "schedule", "--address", cluster.address, "set", "nightly", "--workflow", "ticked",
              "--cron", "0 3 * * *", "--args", '["n"]', "--timezone", "Europe/Paris")
    assert out.returncode == 0 and '"timezone": "Europe/Paris"' in out.stdout, out.stderr
    out = cli(cluster, "schedule", "--address", cluster.address, "pause", "nightly")
    assert out.returncode == 0 and '"paused": true' in out.stdout
    assert [s.name for s in client.list_schedules()] == ["every", "nightly"]
    assert cli(cluster, "schedule", "--address", cluster.address, "delete", "every").returncode == 0
    out = cli(cluster, "schedule", "--address", cluster.address, "delete", "every")
    assert out.returncode == 1 and "NOT_FOUND" in out.stderr
    assert [s.name for s in client.list_schedules()] == ["nightly"]
    client.delete_schedule("nightly")


def test_resume_and_fork_from_the_cli(cluster: Cluster) -> None:
    cluster.start_worker(FLOWS)
    client = cluster.client()
    client.start_workflow("four_steps", "cl", workflow_id="cl").result(timeout=30)
    out = cli(cluster, "fork", "--address", cluster.address, "cl", "--from-step", "3", "--new-id", "cl-2")
    assert out.returncode == 0 and '"forkedFrom": "cl"' in out.stdout, out.stderr
    assert client.retrieve_workflow("cl-2").result(timeout=30)[3] == "cl-3-done"
    out = cli(cluster, "resume", "--address", cluster.address, "cl")
    assert out.returncode == 1 and "FAILED_PRECONDITION" in out.stderr
    out = cli(cluster, "list", "--address", cluster.address, "--since", "1h", "--limit", "1")
    assert out.returncode == 0 and out.stdout.startswith("cl-2\tfour_steps\tSUCCESS")
    assert "more: --page-token" in out.stderr
