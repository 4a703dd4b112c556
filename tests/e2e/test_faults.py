"""Faults an operator meets: PostgreSQL away for ten seconds, SIGTERM drains."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.harness import wait_for
from tests.proxy import Proxy


@pytest.fixture
def pg_proxy(pg_url: str) -> Iterator[tuple[Proxy, str]]:
    parts = urlsplit(pg_url)
    proxy = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    try:
        yield proxy, parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}").geturl()
    finally:
        proxy.close()


def test_postgres_away_for_ten_seconds_loses_nothing(cluster_factory: Any, pg_proxy: Any) -> None:
    proxy, url = pg_proxy
    cluster = cluster_factory(url)
    cluster.start_coordinator()
    worker = cluster.start_worker()
    client = cluster.client()
    handle = client.start_workflow("hold", "pg", workflow_id="wf-pg-outage")
    cluster.wait_runs("pg")
    proxy.cut()
    outage_started = time.monotonic()
    # The step finishes during the outage: recording it must wait, not fail.
    cluster.open_gate("pg")
    with pytest.raises(Exception) as err:
        client.get_event("wf-pg-outage", "x", timeout=0.2)
    # The coordinator answers, but cannot read: unavailable (or out of time first).
    assert err.value.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"), err.value
    wait_for(lambda: time.monotonic() - outage_started >= 10, "ten seconds of outage", timeout=15,
             every=0.2)
    proxy.restore()
    assert handle.result(timeout=60)["after"] == "pg-after-done"
    assert cluster.runs("pg-before") == [worker.pid] and cluster.runs("pg-after") == [worker.pid]
    assert [s.name for s in handle.steps()] == ["record", "gated", "record"]
    # The coordinator kept serving and its pool reconnected by itself.
    again = client.start_workflow("three_steps", "after-outage")
    assert again.result(timeout=30) == ["after-outage-0-done", "after-outage-1-done", "after-outage-2-done"]
    assert cluster.coordinator.alive()


def test_worker_sigterm_finishes_its_step_then_exits(cluster: Any) -> None:
    worker = cluster.start_worker(extra=["--grace", "20"])
    handle = cluster.client().start_workflow("hold", "term", workflow_id="wf-term")
    cluster.wait_runs("term")
    worker.signal(signal.SIGTERM)
    wait_for(lambda: "draining" in worker.log(), "the worker to start draining")
    cluster.open_gate("term")
    assert handle.result(timeout=30)["pid"] == worker.pid
    assert worker.popen.wait(20) == 0
    assert cluster.runs("term-after") == [worker.pid]


def test_coordinator_sigterm_drains_and_exits(cluster: Any) -> None:
    worker = cluster.start_worker()
    assert cluster.client().start_workflow("three_steps", "x").result(timeout=30)
    assert cluster.coordinator.terminate(timeout=20) == 0
    assert "coordinator stopped" in cluster.coordinator.log()
    # The worker notices, keeps retrying, and serves a new coordinator on the same store.
    cluster.start_coordinator()
    cluster.wait_connected(worker, times=2)
    assert cluster.client().start_workflow("three_steps", "y").result(timeout=30)
