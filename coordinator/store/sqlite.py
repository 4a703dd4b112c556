"""The embedded store: stdlib sqlite3 in WAL mode.

SQLite has one writer at a time, so every statement runs on one dedicated
thread; the event loop never blocks on the database.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ..core.ports import SchemaState, Store
from ..core.records import (
    Effect,
    EventRecord,
    NewMessage,
    NewStep,
    NewWorkflow,
    Outcome,
    RecordResult,
    Recv,
    Send,
    SetEvent,
    StepRecord,
    Value,
    Wait,
    WorkflowRecord,
    WorkflowStatus,
    event_wait_key,
)
from . import migrations
from .group_commit import GroupCommitter, Rollback
from .rows import (
    EVENT_COLS,
    STEP_COLS,
    WF_COLS,
    event_from_row,
    outcome_params,
    park_sql,
    record_from_new,
    step_from_row,
    step_params,
    workflow_from_row,
)

T = TypeVar("T")
_STEP_PLACEHOLDERS = ", ".join("?" * len(STEP_COLS.split(",")))


class SqliteStore(Store):
    def __init__(self, path: str, synchronous: str = "FULL") -> None:
        self._path = path
        self._synchronous = synchronous.upper()
        self._writer = GroupCommitter(self._connect)
        self._migrate_on_open = True

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self._synchronous}")
        db.execute("PRAGMA busy_timeout=5000")
        db.execute("PRAGMA foreign_keys=ON")
        if self._migrate_on_open:
            self._migrate(db)
        return db

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run on the writer thread, inside a group commit (see group_commit.py)."""
        return await self._writer.run(fn)

    async def open(self, migrate: bool = True) -> None:
        self._migrate_on_open = migrate
        await self._writer.start()

    async def schema_state(self) -> SchemaState:
        def read(db: sqlite3.Connection) -> int:
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'keel_schema'").fetchone() is None:
                return 0
            return int(db.execute("SELECT COALESCE(MAX(version), 0) FROM keel_schema").fetchone()[0])

        return SchemaState(await self._run(read), max(v for v, _ in migrations.SQLITE))

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(migrations.VERSION_TABLE)
            done = {v for (v,) in db.execute("SELECT version FROM keel_schema")}
            for version, statements in migrations.SQLITE:
                if version in done:
                    continue
                for sql in statements:
                    db.execute(sql)
                db.execute(
                    "INSERT INTO keel_schema (version, applied_at) VALUES (?, ?)",
                    (version, int(time.time() * 1000)),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        await self._writer.stop()

    # -- workflows -----------------------------------------------------------

    async def create_workflow(self, wf: NewWorkflow) -> tuple[WorkflowRecord, bool]:
        def tx(db: sqlite3.Connection) -> tuple[WorkflowRecord, bool]:
            cur = db.execute(
                "INSERT INTO workflows (workflow_id, name, status, input_encoding, input, "
                "created_at, updated_at, deadline_at, owner, lease_until, epoch) "
                "VALUES (?, ?, 'PENDING', ?, ?, ?, ?, ?, ?, ?, ?) "
                f"ON CONFLICT (workflow_id) DO NOTHING RETURNING {WF_COLS}",
                (wf.workflow_id, wf.name, wf.input.encoding, wf.input.data, wf.created_at,
                 wf.created_at, wf.deadline_at, wf.owner, wf.lease_until, 1 if wf.owner else 0),
            )
            row = cur.fetchone()
            if row is not None:
                return workflow_from_row(row), True
            existing = _get_workflow(db, wf.workflow_id)
            assert existing is not None
            return existing, False

        return await self._run(tx)

    async def get_workflow(self, workflow_id: str) -> WorkflowRecord | None:
        return await self._run(lambda db: _get_workflow(db, workflow_id))

    async def list_workflows(
        self, status: WorkflowStatus | None, name: str | None, limit: int
    ) -> list[WorkflowRecord]:
        sql = f"SELECT {WF_COLS} FROM workflows WHERE 1=1"
        params: list[Any] = []
        if status is not None:
            sql += " AND status = ?"
            params.append(status.value)
        if name:
            sql += " AND name = ?"
            params.append(name)
        sql += " ORDER BY created_at DESC, workflow_id LIMIT ?"
        params.append(limit)
        return await self._run(
            lambda db: [workflow_from_row(r) for r in db.execute(sql, params)]
        )

    async def claim_workflows(
        self, owner: str, names: list[str], limit: int, now: int, lease_until: int
    ) -> list[WorkflowRecord]:
        if not names or limit <= 0:
            return []
        marks = ", ".join("?" * len(names))
        sql = (
            "UPDATE workflows SET owner = ?, lease_until = ?, epoch = epoch + 1, updated_at = ?, "
            "resume_at = NULL, wait_key = NULL "
            "WHERE workflow_id IN (SELECT workflow_id FROM workflows WHERE status = 'PENDING' "
            f"AND name IN ({marks}) AND (owner IS NULL OR lease_until < ?) "
            "AND (resume_at IS NULL OR resume_at <= ?) "
            f"ORDER BY created_at, workflow_id LIMIT ?) RETURNING {WF_COLS}"
        )
        params = (owner, lease_until, now, *names, now, now, limit)
        rows = await self._run(lambda db: db.execute(sql, params).fetchall())
        return sorted((workflow_from_row(r) for r in rows), key=lambda w: (w.created_at, w.workflow_id))

    async def release_workflows(self, owner: str, workflow_ids: list[str] | None) -> None:
        def tx(db: sqlite3.Connection) -> None:
            if workflow_ids is None:
                db.execute(
                    "UPDATE workflows SET owner = NULL, lease_until = NULL WHERE owner = ? "
                    "AND status = 'PENDING'",
                    (owner,),
                )
            else:
                db.executemany(
                    "UPDATE workflows SET owner = NULL, lease_until = NULL "
                    "WHERE workflow_id = ? AND owner = ?",
                    [(w, owner) for w in workflow_ids],
                )

        await self._run(tx)

    async def renew_leases(self, owner: str, workflow_ids: list[str], lease_until: int) -> int:
        sql = (
            "UPDATE workflows SET lease_until = ? WHERE owner = ? AND status = 'PENDING' "
            "AND workflow_id IN (SELECT value FROM json_each(?))"
        )
        params = (lease_until, owner, json.dumps(workflow_ids))
        return await self._run(lambda db: db.execute(sql, params).rowcount)

    async def finish_workflow(
        self, workflow_id: str, epoch: int | None, status: WorkflowStatus, outcome: Outcome, now: int
    ) -> WorkflowRecord | None:
        sql = (
            "UPDATE workflows SET status = ?, output_encoding = ?, output = ?, error_type = ?, "
            "error_message = ?, error_details = ?, updated_at = ?, owner = NULL, lease_until = NULL "
            "WHERE workflow_id = ? AND status = 'PENDING'"
        )
        params: list[Any] = [status.value, *outcome_params(outcome), now, workflow_id]
        if epoch is not None:
            sql += " AND epoch = ?"
            params.append(epoch)
        sql += f" RETURNING {WF_COLS}"

        def tx(db: sqlite3.Connection) -> WorkflowRecord | None:
            row = db.execute(sql, params).fetchone()
            return workflow_from_row(row) if row else None

        return await self._run(tx)

    async def expire_deadlines(self, now: int) -> list[WorkflowRecord]:
        sql = (
            "UPDATE workflows SET status = 'CANCELLED', error_type = 'WorkflowTimeout', "
            "error_message = 'workflow ' || workflow_id || ' passed its deadline', "
            "error_details = '', updated_at = ?, owner = NULL, lease_until = NULL "
            "WHERE status = 'PENDING' AND deadline_at IS NOT NULL AND deadline_at <= ? "
            f"RETURNING {WF_COLS}"
        )
        rows = await self._run(lambda db: db.execute(sql, (now, now)).fetchall())
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

        return await self._run(tx)

    # -- events, messages, waits ---------------------------------------------

    async def send_message(self, message: NewMessage) -> RecordResult:
        def tx(db: sqlite3.Connection) -> RecordResult:
            result = _send(db, message, None)
            if result is not RecordResult.RECORDED:
                raise Rollback(lambda db: result)
            return result

        return await self._run(tx)

    async def get_event(self, workflow_id: str, key: str) -> EventRecord | None:
        sql = (
            f"SELECT {EVENT_COLS} FROM events WHERE workflow_id = ? AND key = ? "
            "ORDER BY seq DESC LIMIT 1"
        )

        def read(db: sqlite3.Connection) -> EventRecord | None:
            row = db.execute(sql, (workflow_id, key)).fetchone()
            return event_from_row(row) if row else None

        return await self._run(read)

    async def list_events(self, workflow_id: str, after_seq: int, limit: int) -> list[EventRecord]:
        sql = f"SELECT {EVENT_COLS} FROM events WHERE workflow_id = ? AND seq > ? ORDER BY seq LIMIT ?"
        return await self._run(
            lambda db: [event_from_row(r) for r in db.execute(sql, (workflow_id, after_seq, limit))]
        )

    async def wait_deadline(self, workflow_id: str, step_number: int, deadline_at: int) -> int:
        def tx(db: sqlite3.Connection) -> int:
            db.execute(
                "INSERT INTO waits (workflow_id, step_number, deadline_at) VALUES (?, ?, ?) "
                "ON CONFLICT (workflow_id, step_number) DO NOTHING",
                (workflow_id, step_number, deadline_at),
            )
            return int(db.execute(
                "SELECT deadline_at FROM waits WHERE workflow_id = ? AND step_number = ?",
                (workflow_id, step_number),
            ).fetchone()[0])

        return await self._run(tx)

    async def park(self, workflow_id: str, epoch: int, resume_at: int, wait: Wait, now: int) -> bool:
        sql, params = park_sql(workflow_id, epoch, resume_at, wait, now, "?")
        return await self._run(lambda db: db.execute(sql, params).rowcount == 1)

    async def get_step(self, workflow_id: str, step_number: int) -> StepRecord | None:
        return await self._run(lambda db: _get_step(db, workflow_id, step_number))

    async def get_steps(self, workflow_id: str, step_numbers: list[int]) -> list[StepRecord]:
        marks = ", ".join("?" * len(step_numbers))
        sql = (
            f"SELECT {STEP_COLS} FROM steps WHERE workflow_id = ? AND step_number IN ({marks}) "
            "ORDER BY step_number"
        )
        params = (workflow_id, *step_numbers)
        return await self._run(lambda db: [step_from_row(r) for r in db.execute(sql, params)])

    async def list_steps(
        self, workflow_id: str, after_step_number: int = -1, limit: int | None = None
    ) -> list[StepRecord]:
        sql = (
            f"SELECT {STEP_COLS} FROM steps WHERE workflow_id = ? AND step_number > ? "
            "ORDER BY step_number LIMIT ?"
        )
        params = (workflow_id, after_step_number, -1 if limit is None else limit)
        return await self._run(lambda db: [step_from_row(r) for r in db.execute(sql, params)])


def _record_step(
    db: sqlite3.Connection, step: NewStep, effect: Effect | None
) -> tuple[RecordResult, StepRecord | None]:
    """The body of record_step, inside the caller's transaction."""
    row = db.execute(
        "UPDATE workflows SET step_seq = step_seq + 1, updated_at = ? "
        "WHERE workflow_id = ? AND epoch = ? AND status = 'PENDING' RETURNING step_seq",
        (step.completed_at, step.workflow_id, step.epoch),
    ).fetchone()
    if row is None:
        return RecordResult.STALE, None
    seq = row[0]
    if isinstance(effect, Recv) and _get_step(db, step.workflow_id, step.step_number) is not None:
        return RecordResult.DUPLICATE, None  # a retried recv: consume nothing more
    if isinstance(effect, Recv):
        msg = db.execute(
            "SELECT message_id, encoding, data FROM messages WHERE workflow_id = ? AND topic = ? "
            "AND consumed_at IS NULL ORDER BY message_id LIMIT 1",
            (step.workflow_id, effect.topic),
        ).fetchone()
        if msg is None:
            return RecordResult.EMPTY, None
        db.execute(
            "UPDATE messages SET consumed_at = ?, consumed_step = ? WHERE message_id = ?",
            (step.completed_at, step.step_number, msg[0]),
        )
        step = dataclasses.replace(step, outcome=Outcome(output=Value(msg[1], bytes(msg[2]))))
    inserted = db.execute(
        f"INSERT INTO steps ({STEP_COLS}) VALUES ({_STEP_PLACEHOLDERS}) "
        "ON CONFLICT (workflow_id, step_number) DO NOTHING",
        step_params(step, seq),
    ).rowcount
    if inserted == 0:
        return RecordResult.DUPLICATE, None
    if isinstance(effect, SetEvent):
        assert step.outcome.output is not None
        db.execute(
            "INSERT INTO events (workflow_id, seq, key, value_encoding, value, step_number, created_at) "
            "SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ? FROM events WHERE workflow_id = ?",
            (step.workflow_id, effect.key, step.outcome.output.encoding, step.outcome.output.data,
             step.step_number, step.completed_at, step.workflow_id),
        )
        db.execute(
            "UPDATE workflows SET resume_at = ? WHERE wait_key = ? AND status = 'PENDING' "
            "AND resume_at > ?",
            (step.completed_at, event_wait_key(step.workflow_id, effect.key), step.completed_at),
        )
    elif isinstance(effect, Send):
        result = _send(db, effect.message, step.step_number)
        if result is not RecordResult.RECORDED:
            return result, None
    return RecordResult.RECORDED, record_from_new(step, seq)


def _send(db: sqlite3.Connection, m: NewMessage, step_number: int | None) -> RecordResult:
    if db.execute("SELECT 1 FROM workflows WHERE workflow_id = ?", (m.workflow_id,)).fetchone() is None:
        return RecordResult.NOT_FOUND
    inserted = db.execute(
        "INSERT INTO messages (workflow_id, topic, encoding, data, idempotency_key, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (m.workflow_id, m.topic, m.value.encoding, m.value.data, m.idempotency_key, m.created_at),
    ).rowcount
    if inserted == 0:
        return RecordResult.DUPLICATE
    db.execute(
        "UPDATE workflows SET resume_at = ? WHERE workflow_id = ? AND wait_key = ? "
        "AND status = 'PENDING' AND resume_at > ?",
        (m.created_at, m.workflow_id, f"msg:{m.topic}", m.created_at),
    )
    return RecordResult.RECORDED


def _get_workflow(db: sqlite3.Connection, workflow_id: str) -> WorkflowRecord | None:
    row = db.execute(f"SELECT {WF_COLS} FROM workflows WHERE workflow_id = ?", (workflow_id,)).fetchone()
    return workflow_from_row(row) if row else None


def _get_step(db: sqlite3.Connection, workflow_id: str, step_number: int) -> StepRecord | None:
    row = db.execute(
        f"SELECT {STEP_COLS} FROM steps WHERE workflow_id = ? AND step_number = ?",
        (workflow_id, step_number),
    ).fetchone()
    return step_from_row(row) if row else None
