"""The queues of the in-memory store (a part of MemoryStore, kept apart for
size): every method runs to completion without awaiting, so each is atomic
on the event loop, as a transaction is in the SQL stores."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ..core.records import (
    EnqueueResult,
    NewQueued,
    QueueRecord,
    QueueState,
    WorkflowRecord,
    WorkflowStatus,
)

if TYPE_CHECKING:
    from .memory import _Database, _Workflow


class MemoryQueues:
    _db: _Database

    async def set_queue(self, queue: QueueRecord) -> QueueRecord:
        old = self._db.workflow_queues.get(queue.name)
        if old is not None:
            queue = dataclasses.replace(queue, created_at=old.created_at)
        self._db.workflow_queues[queue.name] = queue
        return queue

    def _state(self, queue: QueueRecord) -> QueueState:
        rows = [row for row in self._db.workflows.values() if row.record.queue == queue.name]
        return QueueState(
            queue, sum(1 for row in rows if row.record.status is WorkflowStatus.ENQUEUED),
            sum(1 for row in rows if row.record.status is WorkflowStatus.PENDING))

    async def get_queue(self, name: str) -> QueueState | None:
        queue = self._db.workflow_queues.get(name)
        return self._state(queue) if queue is not None else None

    async def list_queues(self) -> list[QueueState]:
        return [self._state(q) for _, q in sorted(self._db.workflow_queues.items())]

    async def enqueue_workflow(self, new: NewQueued) -> tuple[EnqueueResult, WorkflowRecord | None]:
        db, wf = self._db, new.workflow
        if new.queue not in db.workflow_queues:
            return EnqueueResult.NO_QUEUE, None
        existing = db.workflows.get(wf.workflow_id)
        if existing is not None:
            return EnqueueResult.EXISTS, existing.record
        if new.deduplication_id is not None:
            for row in db.workflows.values():
                if (row.record.queue == new.queue and row.deduplication_id == new.deduplication_id
                        and not row.record.status.final):
                    return EnqueueResult.DUPLICATE, row.record
        from .memory import _Workflow  # the row type, defined beside the store

        db.queue_seq += 1
        record = WorkflowRecord(
            workflow_id=wf.workflow_id, name=wf.name, status=WorkflowStatus.ENQUEUED, input=wf.input,
            outcome=None, created_at=wf.created_at, updated_at=wf.created_at, epoch=0, step_seq=0,
            deadline_at=None, owner=None, queue=new.queue,
        )
        db.workflows[wf.workflow_id] = _Workflow(
            record, priority=new.priority, queue_seq=db.queue_seq, deduplication_id=new.deduplication_id,
            partition_key=new.partition_key, timeout_ms=new.timeout_ms)
        queue = db.workflow_queues[new.queue]
        running = sum(1 for row in db.workflows.values()
                      if row.record.queue == new.queue and row.record.status is WorkflowStatus.PENDING)
        full = queue.concurrency is not None and running >= queue.concurrency
        return (EnqueueResult.CREATED_WAITING if full else EnqueueResult.CREATED), record

    async def dequeue_workflows(
        self, owner: str, names: list[str], limit: int, now: int, lease_until: int,
        on_worker: dict[str, int],
    ) -> tuple[list[WorkflowRecord], int | None]:
        db, wanted = self._db, set(names)
        started: list[WorkflowRecord] = []
        retry_at: int | None = None
        waiting: dict[str, list[_Workflow]] = {}
        for row in db.workflows.values():
            if row.record.status is WorkflowStatus.ENQUEUED and row.record.name in wanted:
                assert row.record.queue is not None
                waiting.setdefault(row.record.queue, []).append(row)
        for name in sorted(waiting):
            queue = db.workflow_queues.get(name)
            if limit <= 0 or queue is None:
                continue
            mine = [row for row in db.workflows.values() if row.record.queue == name]
            running = [row for row in mine if row.record.status is WorkflowStatus.PENDING]
            free = limit
            if queue.worker_concurrency is not None:
                free = min(free, queue.worker_concurrency - on_worker.get(name, 0))
            if queue.concurrency is not None:
                free = min(free, queue.concurrency - len(running))
            if free > 0 and queue.rate_limit is not None and queue.rate_period_ms is not None:
                period = queue.rate_period_ms
                starts = sorted((row.record.started_at for row in mine if row.record.started_at is not None
                                 and row.record.started_at > now - period), reverse=True)
                free = min(free, queue.rate_limit - len(starts))
                window = [now] * max(free, 0) + starts
                if len(window) >= queue.rate_limit:
                    at = window[queue.rate_limit - 1] + period
                    retry_at = at if retry_at is None else min(retry_at, at)
            if free <= 0:
                continue
            per_key: dict[str | None, int] = {}
            for row in running:
                per_key[row.partition_key] = per_key.get(row.partition_key, 0) + 1
            for row in sorted(waiting[name], key=lambda row: (row.priority, row.queue_seq)):
                if free <= 0:
                    break
                if queue.partition_concurrency is not None:
                    if per_key.get(row.partition_key, 0) >= queue.partition_concurrency:
                        continue
                    per_key[row.partition_key] = per_key.get(row.partition_key, 0) + 1
                row.record = dataclasses.replace(
                    row.record, status=WorkflowStatus.PENDING, owner=owner, epoch=row.record.epoch + 1,
                    updated_at=now, started_at=now,
                    deadline_at=None if row.timeout_ms is None else now + row.timeout_ms)
                row.lease_until = lease_until
                started.append(row.record)
                free -= 1
                limit -= 1
        return started, retry_at
