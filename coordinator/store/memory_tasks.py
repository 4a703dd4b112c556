"""The in-memory store's step tasks (steps any coordinator may run, with their
attempt timeouts) and coordinator nodes: a part of MemoryStore (memory.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..core.records import (
    NewStep,
    NewTask,
    NodeRecord,
    RecordResult,
    StepRecord,
    TaskRecord,
    WorkflowStatus,
)

if TYPE_CHECKING:
    from .memory import _Database


class MemoryTasks:
    _db: _Database
    _clock: Callable[[], int]

    if TYPE_CHECKING:  # MemoryStore's own
        async def release_workflows(self, owner: str, workflow_ids: list[str] | None) -> None: ...

    def _step(self, workflow_id: str, step_number: int) -> StepRecord | None:
        return self._db.steps.get(workflow_id, {}).get(step_number)

    # -- step tasks ------------------------------------------------------------

    async def create_task(self, task: NewTask) -> tuple[TaskRecord | None, StepRecord | None]:
        recorded = self._step(task.workflow_id, task.step_number)
        if recorded is not None:
            return None, recorded
        key = (task.workflow_id, task.step_number)
        existing = self._db.tasks.get(key)
        if existing is not None:
            return existing, None
        record = TaskRecord(task.workflow_id, task.step_number, task.name, task.input, task.epoch,
                            1 if task.owner else 0, task.owner, task.lease_until, task.created_at,
                            task.timeout_ms, task.max_attempts,
                            task.attempt_deadline if task.owner else None)
        self._db.tasks[key] = record
        return record, None

    async def claim_tasks(
        self, owner: str, names: list[str], limit: int, now: int, lease_until: int
    ) -> list[TaskRecord]:
        if not names or limit <= 0:
            return []
        wanted, db = set(names), self._db
        free = sorted(
            (t for t in db.tasks.values()
             if t.name in wanted and (t.owner is None or (t.lease_until or 0) < now)
             and (row := db.workflows.get(t.workflow_id)) is not None
             and row.record.status is WorkflowStatus.PENDING
             and t.step_number not in db.steps.get(t.workflow_id, {})),
            key=lambda t: (t.created_at, t.workflow_id, t.step_number),
        )[:limit]
        claimed = []
        for t in free:
            deadline = None if t.timeout_ms is None else now + t.timeout_ms
            db.tasks[t.key] = dataclasses.replace(t, owner=owner, lease_until=lease_until,
                                                  attempt=t.attempt + 1, attempt_deadline=deadline)
            claimed.append(db.tasks[t.key])
        return claimed

    async def release_tasks(self, owner: str, keys: list[tuple[str, int]] | None) -> None:
        for key in list(self._db.tasks) if keys is None else keys:
            t = self._db.tasks.get(key)
            if t is not None and t.owner == owner:
                self._db.tasks[key] = dataclasses.replace(t, owner=None, lease_until=None)

    async def renew_task_leases(self, owner: str, keys: list[tuple[str, int]], lease_until: int) -> int:
        renewed = 0
        for key in set(keys):
            t = self._db.tasks.get(key)
            if t is not None and t.owner == owner:
                self._db.tasks[key] = dataclasses.replace(t, lease_until=lease_until)
                renewed += 1
        return renewed

    async def complete_task(self, step: NewStep) -> tuple[RecordResult, StepRecord | None]:
        db, key = self._db, (step.workflow_id, step.step_number)
        recorded = self._step(*key)
        if recorded is not None:
            db.tasks.pop(key, None)
            # A retry of the attempt that won gets its record; another is fenced off.
            if recorded.attempt == step.attempt:
                return RecordResult.DUPLICATE, recorded
            return RecordResult.STALE, None
        row, task = db.workflows.get(step.workflow_id), db.tasks.get(key)
        if (row is None or row.record.status is not WorkflowStatus.PENDING or task is None
                or task.attempt != step.attempt
                or (task.attempt_deadline is not None and task.attempt_deadline <= step.completed_at)):
            return RecordResult.STALE, None
        del db.tasks[key]
        seq = row.record.step_seq + 1
        row.record = dataclasses.replace(row.record, step_seq=seq)
        record = step.recorded(seq)
        db.steps.setdefault(step.workflow_id, {})[step.step_number] = record
        return RecordResult.RECORDED, record

    async def get_task(self, workflow_id: str, step_number: int) -> TaskRecord | None:
        return self._db.tasks.get((workflow_id, step_number))

    # -- nodes -----------------------------------------------------------------

    async def register_node(self, node_id: str, incarnation: str, now: int) -> None:
        self._db.nodes[node_id] = NodeRecord(node_id, incarnation, now, now)

    async def heartbeat_node(self, node_id: str, incarnation: str, now: int) -> bool:
        node = self._db.nodes.get(node_id)
        if node is None or node.incarnation != incarnation:
            return False
        self._db.nodes[node_id] = dataclasses.replace(node, heartbeat_at=now)
        return True

    async def reap_nodes(self, silent_since: int) -> list[str]:
        dead = [n.node_id for n in self._db.nodes.values() if n.heartbeat_at < silent_since]
        for node_id in dead:
            del self._db.nodes[node_id]
            await self.release_workflows(node_id, None)
            await self.release_tasks(node_id, None)
        return dead

    async def remove_node(self, node_id: str, incarnation: str) -> None:
        node = self._db.nodes.get(node_id)
        if node is not None and node.incarnation == incarnation:
            del self._db.nodes[node_id]

    async def list_nodes(self) -> list[NodeRecord]:
        return sorted(self._db.nodes.values(), key=lambda n: n.node_id)

    async def clock_ms(self) -> int:
        return self._clock()
    # -- step timeouts (issue 15) ----------------------------------------------

    async def expire_task_attempts(
        self, now: int, failure: Callable[[TaskRecord], NewStep]
    ) -> list[tuple[TaskRecord, StepRecord | None]]:
        db = self._db
        done: list[tuple[TaskRecord, StepRecord | None]] = []
        expired = sorted(
            (t for t in db.tasks.values()
             if t.owner is not None and t.attempt_deadline is not None and t.attempt_deadline <= now
             and (row := db.workflows.get(t.workflow_id)) is not None
             and row.record.status is WorkflowStatus.PENDING),
            key=lambda t: t.attempt_deadline or 0)[:100]
        for task in expired:
            if task.attempt < task.max_attempts:
                db.tasks[task.key] = dataclasses.replace(task, owner=None, lease_until=None)
                done.append((task, None))
                continue
            step = failure(task)
            row = db.workflows[task.workflow_id]
            del db.tasks[task.key]
            seq = row.record.step_seq + 1
            row.record = dataclasses.replace(row.record, step_seq=seq)
            record = step.recorded(seq)
            db.steps.setdefault(task.workflow_id, {})[task.step_number] = record
            done.append((task, record))
        return done
