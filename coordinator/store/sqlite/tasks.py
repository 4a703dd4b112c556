"""Step tasks and coordinator nodes on SQLite: the transaction bodies, run on
the writer thread by SqliteStore (one coordinator per file, the same code path
as PostgreSQL's several)."""

from __future__ import annotations

import sqlite3

from ...core.records import NewStep, NewTask, RecordResult, StepRecord, TaskRecord
from ..sql.queries import SQLITE, Queries, task_params
from ..sql.rows import step_from_row, step_params, task_from_row
from .group_commit import Rollback

Q = Queries(SQLITE)


def create_task(db: sqlite3.Connection, task: NewTask) -> tuple[TaskRecord | None, StepRecord | None]:
    recorded = db.execute(Q.get_step, (task.workflow_id, task.step_number)).fetchone()
    if recorded is not None:
        return None, step_from_row(recorded)
    row = db.execute(Q.create_task, task_params(task)).fetchone()
    if row is None:
        row = db.execute(Q.get_task, (task.workflow_id, task.step_number)).fetchone()
    return task_from_row(row), None


def complete_task(db: sqlite3.Connection, step: NewStep) -> tuple[RecordResult, StepRecord | None]:
    """Rolled back unless RECORDED; then the step as recorded, if it is."""
    key = (step.workflow_id, step.step_number)
    seq = db.execute(Q.next_step_seq_any_epoch, (step.completed_at, step.workflow_id)).fetchone()
    taken = seq is not None and db.execute(Q.take_task, (*key, step.attempt)).fetchone() is not None
    if taken and db.execute(Q.insert_step, (*step_params(step), seq[0])).fetchone() is not None:
        return RecordResult.RECORDED, step.recorded(seq[0])

    def then(db: sqlite3.Connection) -> tuple[RecordResult, StepRecord | None]:
        row = db.execute(Q.get_step, key).fetchone()
        recorded = step_from_row(row) if row else None
        # A retry of the attempt that won gets its record; another is fenced off.
        if recorded is not None and recorded.attempt == step.attempt:
            return RecordResult.DUPLICATE, recorded
        return RecordResult.STALE, None

    raise Rollback(then)


def reap_nodes(db: sqlite3.Connection, silent_since: int) -> list[str]:
    dead = [node_id for (node_id,) in db.execute(Q.dead_nodes, (silent_since,)).fetchall()]
    for node_id in dead:
        db.execute(Q.release_all, (node_id,))
        db.execute(Q.release_all_tasks, (node_id,))
    if dead:
        db.execute(Q.delete_dead_tasks)
    return dead
