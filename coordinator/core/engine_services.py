"""The engine's facade for the services added beside its core operations:
operating (resume, fork, retention, schedules), queues, step timeouts, the
operators' reads and select over anything. Each method hands over to the
service that owns it; `Engine` (engine.py) builds them and inherits these."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from .children import Children
from .context import Context, EngineConfig
from .executions import Executions
from .inspect import Inspector, WorkerView, WorkflowView
from .observe import Observer
from .operate import Operations
from .ports import Store
from .queues import Queues
from .records import (
    QueueRecord,
    QueueState,
    ScheduleRecord,
    StepRecord,
    Value,
    WorkflowRecord,
    WorkflowStatus,
)
from .selects import Selects, start_wait
from .timeouts import expire_step_attempts


class EngineServices:
    ctx: Context
    store: Store
    config: EngineConfig
    _executions: Executions
    _operations: Operations
    _queues: Queues
    _inspector: Inspector
    _selects: Selects
    _children: Children

    if TYPE_CHECKING:  # the Engine's own
        async def cancel_workflow(self, workflow_id: str) -> WorkflowRecord: ...

        async def start_workflow(
            self, name: str, input: Value, workflow_id: str | None, timeout_ms: int | None,
            parent_workflow_id: str | None = None,
        ) -> tuple[WorkflowRecord, bool]: ...

    # -- operating: resume, fork, retention, schedules (operate.py) ------------

    async def resume_workflow(self, workflow_id: str) -> WorkflowRecord:
        return await self._operations.resume(workflow_id)

    async def fork_workflow(self, source_id: str, start_step: int,
                            workflow_id: str | None = None) -> WorkflowRecord:
        return await self._operations.fork(source_id, start_step, workflow_id)

    async def collect_garbage(self, retention_ms: int | None = None, dry_run: bool = False) -> int:
        """Delete finished workflows older than `retention_ms` (default: the
        configured retention; nothing without one); returns how many."""
        if retention_ms is None:
            if self.config.retention is None:
                return 0
            retention_ms = int(self.config.retention * 1000)
        return await self._operations.collect(retention_ms, dry_run)

    async def set_schedule(self, name: str, workflow_name: str, cron: str, timezone: str,
                           input: Value) -> ScheduleRecord:
        return await self._operations.set_schedule(name, workflow_name, cron, timezone, input)

    async def delete_schedule(self, name: str) -> None:
        await self._operations.delete_schedule(name)

    async def list_schedules(self) -> list[ScheduleRecord]:
        return await self.store.list_schedules()

    async def pause_schedule(self, name: str, paused: bool) -> ScheduleRecord:
        return await self._operations.pause_schedule(name, paused)

    async def fire_schedules(self) -> list[WorkflowRecord]:
        """Start the workflows of the schedules whose tick has passed (a loop's tick)."""
        return await self._operations.fire_schedules()
    # -- queues (queues.py) ----------------------------------------------------

    async def dispatch_queues(self) -> None:
        """Start enqueued workflows for every worker with free slots (a tick)."""
        await self._queues.dispatch()

    async def set_queue(self, queue: QueueRecord) -> QueueState:
        return await self._queues.set_queue(queue)

    async def get_queue(self, name: str) -> QueueState:
        return await self._queues.get_queue(name)

    async def list_queues(self) -> list[QueueState]:
        return await self._queues.list_queues()

    async def enqueue(
        self, queue: str, name: str, input: Value, workflow_id: str | None, timeout_ms: int | None,
        priority: int, deduplication_id: str | None, partition_key: str | None,
    ) -> tuple[WorkflowRecord, bool]:
        return await self._queues.enqueue(queue, name, input, workflow_id, timeout_ms, priority,
                                          deduplication_id, partition_key)

    async def enqueue_from_workflow(
        self, workflow_id: str, epoch: int, step_number: int, queue: str, name: str, input: Value,
        child_id: str | None, timeout_ms: int | None, priority: int, deduplication_id: str | None,
        partition_key: str | None,
    ) -> StepRecord:
        return await self._queues.enqueue_from_workflow(
            workflow_id, epoch, step_number, queue, name, input, child_id, timeout_ms, priority,
            deduplication_id, partition_key)
    # -- step timeouts (timeouts.py) -------------------------------------------

    async def expire_step_attempts(self) -> None:
        """Fence off dispatched attempts past their timeout; retry or fail them."""
        await expire_step_attempts(self.ctx)
    # -- operators' reads (the console, coordinator/http) ------------------------

    def observe(self, observer: Observer) -> None:
        """Report workflows, steps, dispatch and commits to `observer` (metrics)."""
        self.ctx.observe(observer)

    def workers(self) -> list[WorkerView]:
        """The workers connected to this coordinator: what they serve, slots in use."""
        return self._inspector.workers()

    async def list_workflows_page(self, status: WorkflowStatus | None, name: str | None,
                                  before: tuple[int, str] | None, limit: int) -> list[WorkflowRecord]:
        """A page of workflows, newest first, after the (created_at, workflow_id) cursor."""
        return await self.store.list_workflows_page(status, name, before, limit)

    async def inspect_workflow(self, workflow_id: str) -> WorkflowView:
        """One workflow with its steps, events and the work in flight for it here."""
        return await self._inspector.workflow(workflow_id)

    def watch_workflow(self, workflow_id: str, coalesce: float = 0.2) -> AsyncIterator[WorkflowView]:
        """inspect_workflow now and after each change, until the workflow is final."""
        return self._inspector.watch(workflow_id, self.config.poll_interval, coalesce)

    async def count_pending(self) -> tuple[int, int]:
        """(PENDING workflows, parked ones) in the whole store."""
        return await self.store.count_pending()

    async def check_store(self) -> None:
        """Return if the store answers (StoreUnavailable or another error if not)."""
        await self.store.clock_ms()
    # -- select over anything, child workflows (selects.py, children.py) -------

    async def select_any(self, workflow_id: str, epoch: int, step_number: int, candidates: list[int],
                         taken: list[int], hold_ms: int | None) -> StepRecord | int:
        """The recorded decision, or (if `hold_ms` passed first) when the wait ends at the latest."""
        return await self._selects.select(workflow_id, epoch, step_number, candidates, taken, hold_ms)

    async def park_select(self, workflow_id: str, epoch: int, step_number: int, candidates: list[int],
                          taken: list[int]) -> None:
        await self._selects.park(workflow_id, epoch, step_number, candidates, taken)

    async def start_wait(self, workflow_id: str, epoch: int, step_number: int, topic: str | None,
                         event: tuple[str, str] | None) -> StepRecord:
        return await start_wait(self._executions, workflow_id, epoch, step_number, topic, event)

    async def start_child(self, workflow_id: str, epoch: int, step_number: int, name: str,
                          input: Value, child_workflow_id: str | None,
                          timeout_ms: int | None) -> StepRecord:
        return await self._children.start_child(workflow_id, epoch, step_number, name, input,
                                                child_workflow_id, timeout_ms, self.cancel_workflow)

    async def _start_child_workflow(self, name: str, input: Value, workflow_id: str,
                                    timeout_ms: int | None, parent: str) -> tuple[WorkflowRecord, bool]:
        return await self.start_workflow(name, input, workflow_id, timeout_ms, parent)
