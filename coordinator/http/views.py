"""Every record -> JSON conversion of the console's API (as api/convert.py is
for protobuf). Payloads are decoded for people: JSON as JSON, anything else
as base64 with its encoding; long ones are cut, saying so."""

from __future__ import annotations

import base64
import json
from typing import Any

from ..core.inspect import RunningStep, WorkerView, WorkflowView
from ..core.records import (
    EventRecord,
    Failure,
    Outcome,
    QueueState,
    StepKind,
    StepRecord,
    Value,
    WorkflowRecord,
)

# Bytes of one payload shown: the workflow's own input and output, and each
# step's (a timeline of 300 steps stays a few hundred kB at most).
WORKFLOW_PAYLOAD_BYTES = 64 * 1024
STEP_PAYLOAD_BYTES = 2 * 1024


def value(v: Value | None, limit: int) -> dict[str, Any] | None:
    if v is None:
        return None
    data, cut = v.data[:limit], len(v.data) > limit
    if v.encoding == "json" and not cut:
        try:
            return {"encoding": v.encoding, "json": json.loads(data)}
        except ValueError:
            pass
    if v.encoding == "json":  # cut short: show the start as text
        return {"encoding": v.encoding, "text": data.decode("utf-8", "replace"), "cut": cut,
                "bytes": len(v.data)}
    return {"encoding": v.encoding, "base64": base64.b64encode(data).decode(), "cut": cut,
            "bytes": len(v.data)}


def failure(f: Failure | None, limit: int) -> dict[str, Any] | None:
    if f is None:
        return None
    return {"type": f.type, "message": f.message[:limit], "details": f.details[:limit]}


def outcome(o: Outcome | None, limit: int) -> dict[str, Any]:
    if o is None:
        return {"output": None, "error": None}
    return {"output": value(o.output, limit), "error": failure(o.error, limit)}


def workflow_summary(wf: WorkflowRecord) -> dict[str, Any]:
    """A listed workflow (the store lists no payloads; an error's type and message)."""
    error = wf.outcome.error if wf.outcome is not None else None
    return {
        "workflow_id": wf.workflow_id, "name": wf.name, "status": wf.status.value,
        "created_at": wf.created_at, "updated_at": wf.updated_at,
        # Final workflows: the time they took; running ones: how long so far (client side).
        "ended_at": wf.updated_at if wf.status.final else None,
        "error": {"type": error.type, "message": error.message} if error is not None else None,
    }


def step(s: StepRecord) -> dict[str, Any]:
    d: dict[str, Any] = {
        "step_number": s.step_number, "name": s.name, "kind": s.kind.value,
        "started_at": s.started_at, "completed_at": s.completed_at, "completion_seq": s.completion_seq,
        "attempt": s.attempt, "epoch": s.epoch, "worker_id": s.worker_id, "worker_token": s.worker_token,
        **outcome(s.outcome, STEP_PAYLOAD_BYTES),
    }
    if s.kind is StepKind.SELECT:
        d["select"] = {"index": s.select_index, "winner": s.select_step_number,
                       "candidates": _candidates(s)}
    elif s.kind is StepKind.SLEEP and s.outcome.output is not None:
        try:
            d["wake_at"] = int(json.loads(s.outcome.output.data))
        except (ValueError, TypeError):
            pass
    return d


def _candidates(s: StepRecord) -> list[int] | None:
    """The step numbers a select chose between, where it recorded them."""
    if s.outcome.output is None:
        return None
    try:
        recorded = json.loads(s.outcome.output.data).get("candidates")
    except (ValueError, AttributeError):
        return None
    if isinstance(recorded, list) and all(isinstance(n, int) for n in recorded):
        return recorded
    return None


def event(e: EventRecord) -> dict[str, Any]:
    return {"seq": e.seq, "key": e.key, "step_number": e.step_number, "created_at": e.created_at,
            "value": value(e.value, STEP_PAYLOAD_BYTES)}


def running(r: RunningStep) -> dict[str, Any]:
    return {"step_number": r.step_number, "name": r.name, "attempt": r.attempt, "worker_id": r.worker_id,
            "started_at": r.assigned_at}


def workflow_view(v: WorkflowView, now: int) -> dict[str, Any]:
    wf = v.workflow
    return {
        **workflow_summary(wf),
        "input": value(wf.input, WORKFLOW_PAYLOAD_BYTES),
        **outcome(wf.outcome, WORKFLOW_PAYLOAD_BYTES),
        "epoch": wf.epoch, "deadline_at": wf.deadline_at, "owner": wf.owner, "step_seq": wf.step_seq,
        "worker_id": v.worker_id,
        "steps": [step(s) for s in v.steps], "steps_cut": v.steps_cut,
        "events": [event(e) for e in v.events],
        "running": [running(r) for r in v.running],
        # In a live stream after its first message: steps and events are the new ones.
        "partial": v.partial,
        "now": now,
    }


def worker(w: WorkerView) -> dict[str, Any]:
    return {
        "worker_id": w.worker_id, "workflows": list(w.workflows), "steps": list(w.steps),
        "workflow_slots": w.workflow_slots, "workflows_running": w.workflows_running,
        "step_slots": w.step_slots, "steps_running": w.steps_running,
        "draining": w.draining, "congested": w.congested, "silent_for": round(w.silent_for, 3),
    }


def queue(q: QueueState) -> dict[str, Any]:
    """A queue's limits (None: no limit) and how many of its workflows wait and run."""
    limits = q.queue
    rate = ({"limit": limits.rate_limit, "seconds": (limits.rate_period_ms or 0) / 1000}
            if limits.rate_limit else None)
    return {"name": limits.name, "concurrency": limits.concurrency,
            "worker_concurrency": limits.worker_concurrency, "rate_limit": rate,
            "partition_concurrency": limits.partition_concurrency,
            "enqueued": q.enqueued, "running": q.running}
