"""The coordinator's Prometheus metrics: the engine's Observer hooks as
counters and histograms, and gauges read when /metrics is scraped.

Each coordinator has a registry of its own (several may share a process in
tests). Labels are bounded: workflow and step names come from code; the name
of other kinds of step (an event key, a topic) is not used as a label.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ..core.engine import Engine
from ..core.observe import Observer
from ..core.records import StepKind, WorkflowStatus

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds: from a millisecond to a few minutes.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
# A store read for a gauge waits at most this long; the scrape answers anyway.
STORE_READ_TIMEOUT = 2.0


class Metrics(Observer):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.registry = r = CollectorRegistry()
        self.started = Counter("keel_workflows_started", "Workflows created through this coordinator",
                               ["name"], registry=r)
        self.finished = Counter("keel_workflows_finished",
                                "Workflows that became final through this coordinator",
                                ["name", "status"], registry=r)
        self.steps = Histogram("keel_step_duration_seconds",
                               "From a step's start to its end, as recorded (kind STEP: by name)",
                               ["kind", "name"], buckets=_BUCKETS, registry=r)
        self.dispatch = Histogram("keel_dispatch_latency_seconds",
                                  "From ready (created) to handed to a worker, for workflows and "
                                  "step tasks", ["what"], buckets=_BUCKETS, registry=r)
        self.commits = Histogram("keel_store_commit_seconds", "Store writes the engine waited for",
                                 ["operation"], buckets=_BUCKETS, registry=r)
        self.workers = Gauge("keel_workers_connected", "Workers connected to this coordinator",
                             registry=r)
        self.slots = Gauge("keel_worker_slots", "Slots of the connected workers",
                           ["kind", "state"], registry=r)
        self.pending = Gauge("keel_workflows_pending", "PENDING workflows in the store", registry=r)
        self.parked = Gauge("keel_workflows_parked",
                            "PENDING workflows parked (waiting for a time, an event or a message)",
                            registry=r)
        # One series per queue, set in refresh().
        self.queue_depth = Gauge("keel_queue_depth", "Workflows enqueued and not yet running, by queue",
                                 ["queue"], registry=r)
        self.store_up = Gauge("keel_store_up", "1 if the store answered the last scrape's reads",
                              registry=r)
        for status in WorkflowStatus:
            if status.final:
                self.finished.labels("", status.value)  # the series exist from the start

    # -- the engine's hooks --------------------------------------------------

    def workflow_started(self, name: str) -> None:
        self.started.labels(name).inc()

    def workflow_finished(self, name: str, status: WorkflowStatus) -> None:
        self.finished.labels(name, status.value).inc()

    def step_recorded(self, name: str, kind: StepKind, seconds: float) -> None:
        self.steps.labels(kind.value, name if kind is StepKind.STEP else "").observe(seconds)

    def dispatched(self, what: str, seconds: float) -> None:
        self.dispatch.labels(what).observe(seconds)

    def store_commit(self, operation: str, seconds: float) -> None:
        self.commits.labels(operation).observe(seconds)

    # -- a scrape --------------------------------------------------------------

    async def refresh(self) -> None:
        """Set the gauges from the dispatch index and the store."""
        workers = self.engine.workers()
        self.workers.set(len(workers))
        for kind, total, used in (
            ("workflow", sum(w.workflow_slots for w in workers), sum(w.workflows_running for w in workers)),
            ("step", sum(w.step_slots for w in workers), sum(w.steps_running for w in workers)),
        ):
            self.slots.labels(kind, "used").set(used)
            self.slots.labels(kind, "free").set(max(0, total - used))
        try:
            pending, parked = await asyncio.wait_for(self.engine.count_pending(), STORE_READ_TIMEOUT)
        except Exception as e:  # the scrape still answers: keel_store_up says why it is stale
            log.warning("metrics: the store did not answer: %s", e)
            self.store_up.set(0)
            return
        self.store_up.set(1)
        self.pending.set(pending)
        self.parked.set(parked)
        try:
            queues = await asyncio.wait_for(self.engine.list_queues(), STORE_READ_TIMEOUT)
        except Exception as e:
            log.warning("metrics: the store did not list the queues: %s", e)
            return
        for q in queues:
            self.queue_depth.labels(q.queue.name).set(q.enqueued)

    async def render(self) -> bytes:
        await self.refresh()
        return generate_latest(self.registry)
