"""`coordinator queue set|list|show` against a running coordinator."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from tests.harness import ROOT


def queue(cluster: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "coordinator", "queue", *args, "--address", cluster.address],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_queue_verbs(cluster_factory: Any, sqlite_url: str) -> None:
    cluster = cluster_factory(sqlite_url)
    cluster.start_coordinator()
    made = queue(cluster, "set", "emails", "--concurrency", "5", "--worker-concurrency", "2",
                 "--rate", "100/60", "--partition-concurrency", "1")
    assert made.returncode == 0, made.stderr
    assert made.stdout.split("\t")[:5] == ["emails", "concurrency=5", "worker=2", "rate=100/60s",
                                           "partition=1"]
    queue(cluster, "set", "bulk")
    cluster.client().enqueue("bulk", "queued_work", 0.0)  # nobody serves it: it waits
    listed = queue(cluster, "list").stdout.splitlines()
    assert [line.split("\t")[0] for line in listed] == ["bulk", "emails"]
    assert "enqueued=1\trunning=0" in listed[0] and "concurrency=-" in listed[0]
    info = cluster.client().get_queue("emails")
    assert (info.concurrency, info.worker_concurrency, info.rate_limit, info.partition_concurrency) == (
        5, 2, (100, 60.0), 1)
    assert queue(cluster, "show", "emails").stdout.startswith("emails\tconcurrency=5")
    missing = queue(cluster, "show", "nope")
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr
    bad = queue(cluster, "set", "x", "--rate", "lots")
    assert bad.returncode == 2 and "LIMIT/SECONDS" in bad.stderr
    negative = queue(cluster, "set", "x", "--concurrency", "-1")
    assert negative.returncode == 1 and "INVALID_ARGUMENT" in negative.stderr
    enqueued = subprocess.run([sys.executable, "-m", "coordinator", "list", "--status", "ENQUEUED",
                               "--address", cluster.address], cwd=ROOT, capture_output=True, text=True,
                              timeout=60)
    assert "queued_work\tENQUEUED" in enqueued.stdout
