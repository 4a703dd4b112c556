"""The embedded store: stdlib sqlite3 in WAL mode, the Store port on SQLite.

SQLite has one writer at a time, so every statement runs on one dedicated
thread (group_commit.py); the event loop never blocks on the database.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from ...core.ports import SchemaState
from ...core.records import (
    Effect,
    EnqueueResult,
    EventRecord,
    NewMessage,
    NewQueued,
    NewStep,
    NewTask,
    NewWorkflow,
    NodeRecord,
    Outcome,
    QueueRecord,
    QueueState,
    RecordResult,
    Recv,
    Send,
    SetEvent,
    StepRecord,
    TaskRecord,
    TokenRecord,
    Wait,
    WorkflowRecord,
    WorkflowStatus,
    event_wait_key,
    message_wait_key,
)
from ..schema import sqlite as schema
from ..sql import migrate as migrations
from ..sql import queues
from ..sql.claims import claim_params, claimable_params
from ..sql.queries import SQLITE, Queries, page_params, park_params, workflow_params
from ..sql.rows import (
    event_from_row,
    histories,
    message_from_row,
    node_from_row,
    outcome_params,
    step_from_row,
    step_params,
    task_from_row,
    token_from_row,
    token_params,
    workflow_from_row,
)
from . import tasks
from .group_commit import BUSY_TIMEOUT_MS, GroupCommitter, Rollback
from .ops import SqliteOperations

T = TypeVar("T")
Q = Queries(SQLITE)
QQ = queues.QueueQueries(SQLITE)
# A step's insert on the hot path: the row count says whether it went in
# (a RETURNING clause costs SQLite a result to build, 2 us a step).
INSERT_STEP = Q.insert_step.removesuffix(" RETURNING 1")
SCHEMA = migrations.Schema(
    SQLITE, schema.MIGRATIONS, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'keel_schema'")


class SqliteStore(SqliteOperations):
    def __init__(self, path: str, synchronous: str = "FULL") -> None:
        self._path = path
        self._synchronous = synchronous.upper()
        self._writer = GroupCommitter(self._connect)
        self._migrate_on_open = True

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self._synchronous}")
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA foreign_keys=ON")
        if self._migrate_on_open:
            db.execute("BEGIN IMMEDIATE")
            try:
                migrations.run_sync(migrations.migrate(SCHEMA), _rows(db))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return db

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run on the writer thread, inside a group commit (see group_commit.py)."""
        return await self._writer.run(fn)

    async def _run_small(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """As _run, for a unit of a few rows read or written by key: on the
        loop's thread if the store is idle (group_commit.py)."""
        return await self._writer.run(fn, small=True)

    async def open(self, migrate: bool = True) -> None:
        self._migrate_on_open = migrate
        await self._writer.start()

    async def schema_state(self) -> SchemaState:
        return await self._run(lambda db: migrations.run_sync(migrations.read_state(SCHEMA), _rows(db)))

    async def close(self) -> None:
        await self._writer.stop()

    # -- workflows -----------------------------------------------------------

    async def create_workflow(self, wf: NewWorkflow) -> tuple[WorkflowRecord, bool]:
        params = workflow_params(wf)

        def tx(db: sqlite3.Connection) -> tuple[WorkflowRecord, bool]:
            row = db.execute(Q.create_workflow, params).fetchone()
            if row is not None:
                return workflow_from_row(row), True
            existing = _get_workflow(db, wf.workflow_id)
            assert existing is not None
            return existing, False

        return await self._run_small(tx)

    async def get_workflow(self, workflow_id: str) -> WorkflowRecord | None:
        return await self._run_small(lambda db: _get_workflow(db, workflow_id))

    async def list_workflows(
        self, status: WorkflowStatus | None, name: str | None, limit: int, *,
        created_after: int | None = None, created_before: int | None = None,
        after: tuple[int, str] | None = None,
    ) -> list[WorkflowRecord]:
        sql, params = Q.list_workflows_params(status.value if status is not None else None, name, limit,
                                              created_after, created_before, after)
        return await self._run(lambda db: [workflow_from_row(r) for r in db.execute(sql, params)])

    async def claim_workflows(
        self, owner: str, names: list[str], limit: int, now: int, lease_until: int, leases: bool = True
    ) -> list[WorkflowRecord]:
        if not names or limit <= 0:
            return []
        params = claim_params(SQLITE.list_param(names), now, limit, owner, lease_until, leases=leases)
        rows = await self._run(lambda db: db.execute(Q.claim_workflows, params).fetchall())
        return sorted((workflow_from_row(r) for r in rows), key=lambda w: (w.created_at, w.workflow_id))

    async def has_claimable(self, names: list[str], now: int) -> bool:
        if not names:
            return False
        params = claimable_params(SQLITE.list_param(names), now)
        return await self._run(lambda db: db.execute(Q.has_claimable, params).fetchone() is not None)

    async def release_workflows(self, owner: str, workflow_ids: list[str] | None) -> None:
        params: tuple[Any, ...]
        if workflow_ids is None:
            sql, params = Q.release_all, (owner,)
        elif workflow_ids:
            sql, params = Q.release_some, (owner, SQLITE.list_param(workflow_ids))
        else:
            return
        await self._run(lambda db: db.execute(sql, params))

    async def renew_leases(self, owner: str, workflow_ids: list[str], lease_until: int) -> int:
        params = (lease_until, owner, SQLITE.list_param(workflow_ids))
        return await self._run(lambda db: db.execute(Q.renew_leases, params).rowcount)

    async def finish_workflow(
        self, workflow_id: str, epoch: int | None, status: WorkflowStatus, outcome: Outcome, now: int
    ) -> WorkflowRecord | None:
        sql = Q.finish_workflow[epoch is not None]
        params = (status.value, *outcome_params(outcome), now, workflow_id,
                  *([epoch] if epoch is not None else []))

        def tx(db: sqlite3.Connection) -> WorkflowRecord | None:
            row = db.execute(sql, params).fetchone()
            return workflow_from_row(row) if row else None

        return await self._run_small(tx)

    async def expire_deadlines(self, now: int) -> list[WorkflowRecord]:
        rows = await self._run(lambda db: db.execute(Q.expire_deadlines, (now, now)).fetchall())
        return [workflow_from_row(r) for r in rows]

    # -- steps ---------------------------------------------------------------

    async def record_step(
        self, step: NewStep, effect: Effect | None = None
    ) -> tuple[RecordResult, StepRecord | None]:
        def tx(db: sqlite3.Connection) -> tuple[RecordResult, StepRecord | None]:
            result, record = _record_step(db, step, effect)
            if result is not RecordResult.RECORDED:
                # Undo what this unit wrote, then report the record that won.
                def then(db: sqlite3.Connection) -> tuple[RecordResult, StepRecord | None]:
                    if result in (RecordResult.STALE, RecordResult.DUPLICATE):
                        return result, _get_step(db, step.workflow_id, step.step_number)
                    return result, None

                raise Rollback(then)
            return result, record

        return await self._run_small(tx)

    # -- events, messages, waits ---------------------------------------------

    async def set_event(
        self, step: NewStep, key: str
    ) -> tuple[RecordResult, StepRecord | None, EventRecord | None, bool]:
        def tx(db: sqlite3.Connection) -> tuple[RecordResult, StepRecord | None, EventRecord | None, bool]:
            result, record = _record_step(db, step, SetEvent(key))
            if result is not RecordResult.RECORDED:
                raise Rollback(lambda db: (result, _get_step(db, step.workflow_id, step.step_number),
                                           None, True))
            wait_key = event_wait_key(step.workflow_id, key)
            [woken] = db.execute(Q.event_woke, (wait_key, wait_key, step.completed_at)).fetchone()
            row = db.execute(Q.get_event, (step.workflow_id, key)).fetchone()
            return result, record, event_from_row(row), bool(woken)

        return await self._run_small(tx)

    async def send_message(self, message: NewMessage) -> RecordResult:
        def tx(db: sqlite3.Connection) -> RecordResult:
            result, _ = _send(db, message)
            if result is not RecordResult.RECORDED:
                raise Rollback(lambda db: result)
            return result

        return await self._run_small(tx)

    async def send_and_claim(self, message: NewMessage, owner: str, lease_until: int,
                             names: Collection[str]) -> tuple[RecordResult, WorkflowRecord | None]:
        def tx(db: sqlite3.Connection) -> tuple[RecordResult, WorkflowRecord | None]:
            m = message
            result, name = _send(db, m, claim=names)
            if result is not RecordResult.RECORDED:
                raise Rollback(lambda db: (result, None))
            if name not in names:
                return result, None
            row = db.execute(Q.claim_message_waiter, (owner, lease_until, m.created_at, m.workflow_id,
                                                      message_wait_key(m.topic), m.created_at)).fetchone()
            return result, workflow_from_row(row) if row else None

        return await self._run(tx)

    async def get_event(self, workflow_id: str, key: str) -> EventRecord | None:
        def read(db: sqlite3.Connection) -> EventRecord | None:
            row = db.execute(Q.get_event, (workflow_id, key)).fetchone()
            return event_from_row(row) if row else None

        return await self._run_small(read)

    async def list_events(self, workflow_id: str, after_seq: int, limit: int) -> list[EventRecord]:
        params = (workflow_id, after_seq, limit)
        return await self._run(lambda db: [event_from_row(r) for r in db.execute(Q.list_events, params)])

    async def wait_deadline(self, workflow_id: str, step_number: int, deadline_at: int) -> int:
        def tx(db: sqlite3.Connection) -> int:
            row = db.execute(Q.insert_wait, (workflow_id, step_number, deadline_at)).fetchone()
            if row is None:
                row = db.execute(Q.get_wait, (workflow_id, step_number)).fetchone()
            return int(row[0])

        return await self._run_small(tx)

    async def park(self, workflow_id: str, epoch: int, resume_at: int, wait: Wait, now: int) -> bool:
        sql, params = Q.park[wait.kind], park_params(workflow_id, epoch, resume_at, wait, now)
        return await self._run_small(lambda db: db.execute(sql, params).fetchone() is not None)

    async def get_step(self, workflow_id: str, step_number: int) -> StepRecord | None:
        return await self._run_small(lambda db: _get_step(db, workflow_id, step_number))

    async def get_steps(self, workflow_id: str, step_numbers: list[int]) -> list[StepRecord]:
        params = (workflow_id, SQLITE.list_param(step_numbers))
        return await self._run(lambda db: [step_from_row(r) for r in db.execute(Q.get_steps, params)])

    async def list_steps(
        self, workflow_id: str, after_step_number: int = -1, limit: int | None = None
    ) -> list[StepRecord]:
        params = (workflow_id, after_step_number, SQLITE.no_limit if limit is None else limit)
        return await self._run(lambda db: [step_from_row(r) for r in db.execute(Q.list_steps, params)])

    async def list_histories(self, workflow_ids: list[str]) -> dict[str, list[StepRecord]]:
        params = (SQLITE.list_param(workflow_ids),)
        rows = await self._run(lambda db: db.execute(Q.list_histories, params).fetchall())
        return histories(workflow_ids, rows)

    # -- step tasks --------------------------------------------------------------

    async def create_task(self, task: NewTask) -> tuple[TaskRecord | None, StepRecord | None]:
        return await self._run(lambda db: tasks.create_task(db, task))

    async def claim_tasks(
        self, owner: str, names: list[str], limit: int, now: int, lease_until: int
    ) -> list[TaskRecord]:
        if not names or limit <= 0:
            return []
        params = (SQLITE.list_param(names), now, limit, owner, lease_until, now)
        rows = await self._run(lambda db: db.execute(Q.claim_tasks, params).fetchall())
        return sorted((task_from_row(r) for r in rows), key=lambda t: (t.created_at, t.key))

    async def release_tasks(self, owner: str, keys: list[tuple[str, int]] | None) -> None:
        if keys is None:
            await self._run(lambda db: db.execute(Q.release_all_tasks, (owner,)))
        elif keys:
            await self._run(lambda db: db.executemany(Q.release_task, [(owner, *k) for k in keys]))

    async def renew_task_leases(self, owner: str, keys: list[tuple[str, int]], lease_until: int) -> int:
        params = [(lease_until, owner, *k) for k in keys]
        return await self._run(lambda db: db.executemany(Q.renew_task, params).rowcount) if keys else 0

    async def complete_task(self, step: NewStep) -> tuple[RecordResult, StepRecord | None]:
        return await self._run_small(lambda db: tasks.complete_task(db, step))

    async def get_task(self, workflow_id: str, step_number: int) -> TaskRecord | None:
        row = await self._run(lambda db: db.execute(Q.get_task, (workflow_id, step_number)).fetchone())
        return task_from_row(row) if row else None

    # -- nodes ---------------------------------------------------------------------

    async def register_node(self, node_id: str, incarnation: str, now: int) -> None:
        await self._run(lambda db: db.execute(Q.register_node, (node_id, incarnation, now, now)))

    async def heartbeat_node(self, node_id: str, incarnation: str, now: int) -> bool:
        params = (now, node_id, incarnation)
        return await self._run(lambda db: db.execute(Q.heartbeat_node, params).fetchone() is not None)

    async def reap_nodes(self, silent_since: int) -> list[str]:
        return await self._run(lambda db: tasks.reap_nodes(db, silent_since))

    async def remove_node(self, node_id: str, incarnation: str) -> None:
        await self._run(lambda db: db.execute(Q.remove_node, (node_id, incarnation)))

    async def list_nodes(self) -> list[NodeRecord]:
        return await self._run(lambda db: [node_from_row(r) for r in db.execute(Q.list_nodes)])

    async def clock_ms(self) -> int:
        return int(time.time() * 1000)
    # -- tokens --------------------------------------------------------------

    async def create_token(self, token: TokenRecord) -> bool:
        params = token_params(token)
        return await self._run(lambda db: db.execute(Q.create_token, params).fetchone() is not None)

    async def find_token(self, secret_hash: str) -> TokenRecord | None:
        def read(db: sqlite3.Connection) -> TokenRecord | None:
            row = db.execute(Q.find_token, (secret_hash,)).fetchone()
            return token_from_row(row) if row else None

        return await self._run(read)

    async def list_tokens(self) -> list[TokenRecord]:
        return await self._run(lambda db: [token_from_row(r) for r in db.execute(Q.list_tokens)])

    async def revoke_token(self, name: str, now: int) -> bool:
        return await self._run(lambda db: db.execute(Q.revoke_token, (now, name)).fetchone() is not None)

    async def touch_token(self, name: str, now: int) -> None:
        await self._run(lambda db: db.execute(Q.touch_token, (now, name, now)))

    # -- queues (sql/queues.py) ------------------------------------------------

    async def set_queue(self, queue: QueueRecord) -> QueueRecord:
        params = queues.queue_params(queue)
        return queues.queue_from_row(
            await self._run(lambda db: db.execute(QQ.set_queue, params).fetchone()))

    async def get_queue(self, name: str) -> QueueState | None:
        row = await self._run(lambda db: db.execute(QQ.get_queue, (name,)).fetchone())
        return queues.state_from_row(row) if row else None

    async def list_queues(self) -> list[QueueState]:
        return await self._run(lambda db: [queues.state_from_row(r) for r in db.execute(QQ.list_queues)])

    async def enqueue_workflow(self, new: NewQueued) -> tuple[EnqueueResult, WorkflowRecord | None]:
        return await self._run(lambda db: migrations.run_sync(queues.enqueue(QQ, new), _rows(db)))

    async def dequeue_workflows(
        self, owner: str, names: list[str], limit: int, now: int, lease_until: int,
        on_worker: dict[str, int],
    ) -> tuple[list[WorkflowRecord], int | None]:
        plan = queues.dequeue(QQ, names, limit, now, owner, lease_until, on_worker)
        return await self._run(lambda db: migrations.run_sync(plan, _rows(db)))
    # -- step timeouts (issue 15) ---------------------------------------------------

    async def expire_task_attempts(
        self, now: int, failure: Callable[[TaskRecord], NewStep]
    ) -> list[tuple[TaskRecord, StepRecord | None]]:
        return await self._run(lambda db: tasks.expire_attempts(db, now, failure))
    # -- the console's reads (issue 16) --------------------------------------

    async def list_workflows_page(
        self, status: WorkflowStatus | None, name: str | None, before: tuple[int, str] | None,
        limit: int,
    ) -> list[WorkflowRecord]:
        sql = Q.list_workflows_page[status is not None, bool(name), before is not None]
        params = page_params(status, name, before, limit)
        return await self._run(lambda db: [workflow_from_row(r) for r in db.execute(sql, params)])

    async def count_pending(self) -> tuple[int, int]:
        row = await self._run(lambda db: db.execute(Q.count_pending).fetchone())
        return int(row[0]), int(row[1])
    # -- select over anything (issue 11) ---------------------------------------

    async def list_children(self, parent_workflow_id: str, limit: int) -> list[WorkflowRecord]:
        params = (parent_workflow_id, limit)
        return await self._run(lambda db: [workflow_from_row(r) for r in db.execute(Q.list_children, params)])

    async def oldest_message_at(self, workflow_id: str, topic: str) -> int | None:
        row = await self._run(lambda db: db.execute(Q.oldest_message_at, (workflow_id, topic)).fetchone())
        return int(row[0]) if row else None

    async def park_select(
        self, workflow_id: str, epoch: int, resume_at: int, wait_keys: list[str], now: int
    ) -> bool:
        def tx(db: sqlite3.Connection) -> bool:
            if db.execute(Q.park_select, (resume_at, workflow_id, epoch)).fetchone() is None:
                return False
            db.execute(Q.clear_select_waits, (workflow_id,))
            db.executemany(Q.insert_select_wait, [(workflow_id, key) for key in set(wait_keys)])
            return True

        return await self._run(tx)

    async def resume_parked(self, workflow_id: str, at: int) -> bool:
        return await self._run(
            lambda db: db.execute(Q.resume_parked, (at, workflow_id, at)).fetchone() is not None)


def _rows(db: sqlite3.Connection) -> Callable[[str, tuple[Any, ...]], list[Any]]:
    """A statement runner for the migration runner."""
    return lambda sql, params: db.execute(sql, params).fetchall()


def _record_step(
    db: sqlite3.Connection, step: NewStep, effect: Effect | None
) -> tuple[RecordResult, StepRecord | None]:
    """The body of record_step, inside the caller's transaction (rolled back
    unless RECORDED)."""
    row = db.execute(Q.next_step_seq, (step.workflow_id, step.epoch)).fetchone()
    if row is None:
        return RecordResult.STALE, None
    seq = row[0]
    if isinstance(effect, Recv):
        if db.execute(Q.step_exists, (step.workflow_id, step.step_number)).fetchone() is not None:
            return RecordResult.DUPLICATE, None  # a retried recv: consume nothing more
        msg = db.execute(Q.oldest_message, (step.workflow_id, effect.topic)).fetchone()
        if msg is None:
            return RecordResult.EMPTY, None
        message_id, value = message_from_row(msg)
        db.execute(Q.consume_message, (step.completed_at, step.step_number, message_id))
        step = dataclasses.replace(step, outcome=Outcome(output=value))
    if db.execute(INSERT_STEP, (*step_params(step), seq)).rowcount != 1:
        return RecordResult.DUPLICATE, None
    if isinstance(effect, SetEvent):
        output = step.outcome.output
        assert output is not None, "set_event records a value"
        db.execute(Q.insert_event, (step.workflow_id, effect.key, output.encoding, output.data,
                                    step.step_number, step.completed_at, step.workflow_id))
        wait_key = event_wait_key(step.workflow_id, effect.key)
        db.execute(Q.wake_event_waiters, (step.completed_at, wait_key, step.completed_at))
    elif isinstance(effect, Send):
        result, _ = _send(db, effect.message, to_final=True)
        if result is not RecordResult.RECORDED:
            return result, None
    return RecordResult.RECORDED, step.recorded(seq)


def _send(db: sqlite3.Connection, m: NewMessage, claim: Collection[str] = (),
          to_final: bool = False) -> tuple[RecordResult, str]:
    """Deliver a message inside the caller's transaction (rolled back unless
    RECORDED), and the workflow's name; its waiter is woken, unless the
    caller may claim it (`claim`: the names it takes). To a final workflow
    only `to_final` (a workflow's send, recorded as a step either way)."""
    row = db.execute(Q.workflow_status, (m.workflow_id,)).fetchone()
    if row is None:
        return RecordResult.NOT_FOUND, ""
    status, name = row
    if WorkflowStatus(status).final and not to_final:
        return RecordResult.STALE, name
    params = (m.workflow_id, m.topic, m.value.encoding, m.value.data, m.idempotency_key, m.created_at)
    if db.execute(Q.insert_message, params).fetchone() is None:
        return RecordResult.DUPLICATE, name
    if name not in claim:
        db.execute(Q.wake_message_waiter,
                   (m.created_at, m.workflow_id, message_wait_key(m.topic), m.created_at))
    return RecordResult.RECORDED, name


def _get_workflow(db: sqlite3.Connection, workflow_id: str) -> WorkflowRecord | None:
    row = db.execute(Q.get_workflow, (workflow_id,)).fetchone()
    return workflow_from_row(row) if row else None


def _get_step(db: sqlite3.Connection, workflow_id: str, step_number: int) -> StepRecord | None:
    row = db.execute(Q.get_step, (workflow_id, step_number)).fetchone()
    return step_from_row(row) if row else None
