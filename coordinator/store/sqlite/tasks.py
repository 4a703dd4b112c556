"""Step tasks and coordinator nodes on SQLite: the transaction bodies, run on
the writer thread by SqliteStore (one coordinator per file, the same code path
as PostgreSQL's several)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

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
    seq = db.execute(Q.next_step_seq_any_epoch, (step.workflow_id,)).fetchone()
    taken = seq is not None and db.execute(
        Q.take_task, (*key, step.attempt, step.completed_at)).fetchone() is not None
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


def expire_attempts(db: sqlite3.Connection, now: int, failure: Callable[[TaskRecord], NewStep]
                    ) -> list[tuple[TaskRecord, StepRecord | None]]:
    """Release or fail the claimed attempts past their deadline (Store.expire_task_attempts)."""
    done: list[tuple[TaskRecord, StepRecord | None]] = []
    for task in [task_from_row(r) for r in db.execute(Q.expired_tasks, (now,)).fetchall()]:
        key = (task.workflow_id, task.step_number)
        if task.attempt < task.max_attempts:
            db.execute(Q.release_expired, (*key, task.attempt))
            done.append((task, None))
            continue
        step = failure(task)
        seq = db.execute(Q.next_step_seq_any_epoch, (task.workflow_id,)).fetchone()
        if seq is None or db.execute(Q.drop_task, (*key, task.attempt)).fetchone() is None:
            continue
        if db.execute(Q.insert_step, (*step_params(step), seq[0])).fetchone() is not None:
            done.append((task, step.recorded(seq[0])))
    return done
