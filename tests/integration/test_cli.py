"""The admin verbs of the coordinator CLI, against a running coordinator."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.harness import ROOT


def admin(cluster: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "coordinator", *args, "--address", cluster.address],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_admin_verbs(cluster_factory: Any, sqlite_url: str) -> None:
    cluster = cluster_factory(sqlite_url)
    cluster.start_coordinator()
    cluster.start_worker()
    client = cluster.client()
    client.start_workflow("three_steps", "cli", workflow_id="wf-cli").result(timeout=30)
    held = client.start_workflow("publisher", "cli-pub", workflow_id="wf-cli-pub")
    cluster.wait_runs("cli-pub")

    listed = admin(cluster, "list")
    assert listed.returncode == 0 and "wf-cli\tthree_steps\tSUCCESS" in listed.stdout
    shown = json.loads(admin(cluster, "show", "wf-cli").stdout)
    assert shown["workflow"]["status"] == "WORKFLOW_STATUS_SUCCESS"
    steps = json.loads(admin(cluster, "steps", "wf-cli").stdout)["steps"]
    assert [s["name"] for s in steps] == ["record"] * 3
    events = [json.loads(line) for line in admin(cluster, "events", "wf-cli-pub").stdout.splitlines()]
    assert [(e["key"], e["seq"]) for e in events] == [("status", "1"), ("progress", "2")]
    cancelled = json.loads(admin(cluster, "cancel", "wf-cli-pub").stdout)
    assert cancelled["workflow"]["status"] == "WORKFLOW_STATUS_CANCELLED"
    assert held.status() == "CANCELLED"
    missing = admin(cluster, "show", "no-such-workflow")
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr
