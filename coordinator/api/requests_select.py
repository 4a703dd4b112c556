"""Checks of the requests of select over anything (StartChildWorkflow,
StartWait, Select with a hold, Park of a select), beside requests.py."""

from __future__ import annotations

from typing import Any

from keel.v1 import worker_service_pb2 as wpb

from ..core.errors import InvalidArgument
from ..core.records import Value
from . import requests


def select_any(r: wpb.SelectRequest) -> tuple[str, int, int, list[int], list[int], int | None]:
    """(workflow_id, epoch, step_number, candidates, taken, hold_ms or None)."""
    workflow_id, epoch, step_number, candidates = requests.select(r)
    return (workflow_id, epoch, step_number, candidates, _taken(r.taken, candidates),
            requests.duration_ms(r, "hold", 0, requests.MAX_HOLD_MS) if r.HasField("hold") else None)


def park_select(r: wpb.ParkRequest) -> tuple[str, int, int, list[int], list[int]]:
    """(workflow_id, epoch, the select's step_number, candidates, taken)."""
    requests.check_id(r.workflow_id)
    w = r.select
    workflow_id, epoch, step_number, candidates = requests.select(wpb.SelectRequest(
        workflow_id=r.workflow_id, epoch=r.epoch, step_number=w.step_number, candidates=w.candidates))
    return workflow_id, epoch, step_number, candidates, _taken(w.taken, candidates)


def _taken(taken: Any, candidates: list[int]) -> list[int]:
    if not set(taken) <= set(candidates):
        raise InvalidArgument(f"taken must be candidates, got {list(taken)[:20]}")
    return list(taken)


def start_child(r: wpb.StartChildWorkflowRequest, max_bytes: int
                ) -> tuple[str, int, int, str, Value, str | None, int | None]:
    """(workflow_id, epoch, step_number, name, input, child ID or None, timeout_ms or None)."""
    at = requests.step_call(r)
    name = requests.check_name(r.name, "workflow name")
    child = requests.check_id(r.child_workflow_id, "child_workflow_id") if r.child_workflow_id else None
    timeout = requests.duration_ms(r, "timeout", 0, requests.MAX_WAIT_MS) if r.HasField("timeout") else None
    return (*at, name, requests.check_arguments(r.input, "input", max_bytes), child, timeout or None)


def start_wait(r: wpb.StartWaitRequest) -> tuple[str, int, int, str | None, tuple[str, str] | None]:
    """(workflow_id, epoch, step_number, topic or None, (workflow, key) or None)."""
    at = requests.step_call(r)
    which = r.WhichOneof("wait")
    if which == "topic":
        return (*at, requests.check_topic(r.topic), None)
    if which == "event":
        return (*at, None, (requests.check_id(r.event.workflow_id, "event.workflow_id"),
                            requests.check_id(r.event.key, "event.key")))
    raise InvalidArgument("StartWait needs a topic or an event")
