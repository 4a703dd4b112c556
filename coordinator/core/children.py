"""Child workflows: started from a running workflow as a durable step, listed
by parent, cancelled with their parent.

A child is an ordinary workflow whose row names its parent. Its ID, unless
the code gives one, is derived from the parent's ID and the step number, so a
replayed or re-started parent finds it instead of starting a second one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from .context import Context
from .errors import FailedPrecondition
from .executions import Executions
from .records import NewStep, Outcome, StepKind, StepRecord, Value, WorkflowRecord, WorkflowStatus

log = logging.getLogger(__name__)

# Children cancelled with their parent: at most this many per parent.
MAX_CHILDREN = 10_000

StartWorkflow = Callable[[str, Value, str, int | None, str], Awaitable[tuple[WorkflowRecord, bool]]]
Cancel = Callable[[str], Awaitable[WorkflowRecord]]


def child_id(parent_id: str, step_number: int) -> str:
    """The ID of a child started at `step_number` without an ID of its own."""
    return f"{parent_id}/{step_number}"


class Children:
    def __init__(self, ctx: Context, executions: Executions, start: StartWorkflow) -> None:
        self.ctx = ctx
        self.executions = executions
        self.start = start

    async def start_child(self, workflow_id: str, epoch: int, step_number: int, name: str,
                          input: Value, child: str | None, timeout_ms: int | None,
                          cancel: Cancel) -> StepRecord:
        """Start the child (unless it exists) and record the START_WORKFLOW step."""
        ctx = self.ctx
        # Only for an execution running on our workers: a stale or made-up
        # call must not create workflows.
        ctx.check_running_here(workflow_id, epoch)
        recorded = await ctx.store.get_step(workflow_id, step_number)
        if recorded is not None:
            return recorded
        child = child or child_id(workflow_id, step_number)
        _, created = await self.start(name, input, child, timeout_ms, workflow_id)
        now = ctx.clock.now_ms()
        try:
            return await self.executions.record_step(NewStep(
                workflow_id, epoch, step_number, name, StepKind.START_WORKFLOW,
                Outcome(output=Value("json", json.dumps({"workflow_id": child}).encode())),
                0, now, now))
        except FailedPrecondition:
            parent = await ctx.store.get_workflow(workflow_id)
            if created and parent is not None and parent.status.final:
                await cancel(child)  # its parent ended meanwhile: it must not run alone
            raise

    async def list_children(self, parent_id: str, status: WorkflowStatus | None, name: str | None,
                            limit: int) -> list[WorkflowRecord]:
        children = await self.ctx.store.list_children(parent_id, MAX_CHILDREN if status or name else limit)
        return [w for w in children
                if (status is None or w.status is status) and (not name or w.name == name)][:limit]

    async def cancel_children(self, parent_id: str, cancel: Cancel) -> None:
        """Cancel the unfinished children of a cancelled workflow (and theirs, through `cancel`)."""
        for child in await self.ctx.store.list_children(parent_id, MAX_CHILDREN):
            if child.status is WorkflowStatus.PENDING:
                log.info("cancelling %s with its parent %s", child.workflow_id, parent_id)
                await cancel(child.workflow_id)
