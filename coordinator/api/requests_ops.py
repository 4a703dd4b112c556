"""Request parsing of the operating RPCs (resume, fork, paged listing,
schedules): the checks and limits of what operators send, as in requests.py,
whose field checks they use. Functions named after an engine call return
exactly that call's arguments."""

from __future__ import annotations

import base64
import json
from typing import Any

from keel.v1 import client_service_pb2 as cpb

from ..core.errors import InvalidArgument
from ..core.records import Value, WorkflowStatus
from .convert import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from .requests import (
    EMPTY_ARGUMENTS,
    MAX_ID_LENGTH,
    check_arguments,
    check_id,
    check_name,
    list_workflows,
    timestamp_ms,
)

MAX_SCHEDULE_NAME = 100  # leaves room in the workflow IDs its ticks make (200 at most)
MAX_CRON_LENGTH = 200
MAX_TIMEZONE_LENGTH = 100
MAX_PAGE_TOKEN = 400  # ours are under 300 characters


def list_workflows_page(r: cpb.ListWorkflowsRequest) -> tuple[
        WorkflowStatus | None, str | None, int, dict[str, Any]]:
    """(status, name, limit, keywords: created_after, created_before, after)."""
    status, name, limit = list_workflows(r)
    created_after = timestamp_ms(r.created_after, "created_after") if r.HasField("created_after") else None
    created_before = (timestamp_ms(r.created_before, "created_before")
                      if r.HasField("created_before") else None)
    after = read_page_token(r.page_token) if r.page_token else None
    return status, name, limit, {"created_after": created_after, "created_before": created_before,
                                 "after": after}


def page_token(created_at: int, workflow_id: str) -> str:
    """The token of the page that follows the workflow listed last."""
    return base64.urlsafe_b64encode(json.dumps([created_at, workflow_id]).encode()).decode()


def read_page_token(token: str) -> tuple[int, str]:
    try:
        if len(token) <= MAX_PAGE_TOKEN:
            created_at, workflow_id = json.loads(base64.urlsafe_b64decode(token.encode()))
            if (isinstance(created_at, int) and MIN_TIMESTAMP_MS <= created_at <= MAX_TIMESTAMP_MS
                    and isinstance(workflow_id, str) and len(workflow_id) <= MAX_ID_LENGTH):
                return created_at, workflow_id
    except (ValueError, TypeError):
        pass
    raise InvalidArgument(f"invalid page_token {token[:80]!r}: pass a next_page_token as it came")


def fork_workflow(r: cpb.ForkWorkflowRequest) -> tuple[str, int, str | None]:
    """(source workflow_id, start step, new workflow_id or None to make one up)."""
    check_id(r.workflow_id)
    if r.start_step < 0:
        raise InvalidArgument(f"start_step must not be negative, got {r.start_step}")
    if r.new_workflow_id:
        check_id(r.new_workflow_id, "new_workflow_id")
    return r.workflow_id, r.start_step, r.new_workflow_id or None


def schedule_name(name: str) -> str:
    check_name(name, "schedule name")
    if len(name) > MAX_SCHEDULE_NAME:
        raise InvalidArgument(f"schedule name is too long: at most {MAX_SCHEDULE_NAME} characters")
    return name


def set_schedule(r: cpb.SetScheduleRequest, max_bytes: int) -> tuple[str, str, str, str, Value]:
    """(name, workflow name, cron expression, time zone, input); the expression
    and zone are read by the core, which names a bad one."""
    schedule_name(r.name)
    check_name(r.workflow_name, "workflow name")
    if not r.cron.strip():
        raise InvalidArgument("cron is required, e.g. '0 3 * * *' (every day at 03:00)")
    if len(r.cron) > MAX_CRON_LENGTH or not r.cron.isprintable():
        raise InvalidArgument(f"invalid cron expression {r.cron[:80]!r}: at most {MAX_CRON_LENGTH} "
                              "printable characters")
    timezone = r.timezone or "UTC"
    if len(timezone) > MAX_TIMEZONE_LENGTH or not timezone.isprintable():
        raise InvalidArgument(f"unknown time zone {timezone[:80]!r}")
    value = check_arguments(r.input, "input", max_bytes) if r.HasField("input") else EMPTY_ARGUMENTS
    return r.name, r.workflow_name, r.cron.strip(), timezone, value
