"""The shared store: PostgreSQL through psycopg 3 and an async connection pool.

Connections run in autocommit mode, so each single statement is its own
transaction and is durable when the call returns. Several coordinators may
share one database: claims skip rows locked by others, and a workflow's row
lock serialises its step commits.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from . import migrations
from .base import (
    NewStep,
    NewWorkflow,
    Outcome,
    RecordResult,
    StepRecord,
    Store,
    StoreUnavailable,
    WorkflowRecord,
    WorkflowStatus,
)
from .rows import (
    STEP_COLS,
    WF_COLS,
    outcome_params,
    record_from_new,
    step_from_row,
    step_params,
    workflow_from_row,
)

# Any constant works, as long as every keel coordinator uses the same one.
_MIGRATION_LOCK = 0x6B65656C  # "keel"
_CONNECT_TIMEOUT = 5.0

# One statement, one round trip. Lock the workflow row (epoch and status
# checked on its newest version), insert the step with the next sequence
# number, and bump step_seq only if the insert happened. The row lock is held
# until commit, so completion_seq order is commit order for a workflow.
_RECORD_STEP = f"""
WITH wf AS (
    SELECT step_seq FROM workflows
    WHERE workflow_id = %s AND epoch = %s AND status = 'PENDING'
    FOR UPDATE
), ins AS (
    INSERT INTO steps ({STEP_COLS})
    SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, wf.step_seq + 1, %s, %s FROM wf
    ON CONFLICT (workflow_id, step_number) DO NOTHING
    RETURNING completion_seq
), bump AS (
    UPDATE workflows w SET step_seq = ins.completion_seq, updated_at = %s
    FROM ins WHERE w.workflow_id = %s
    RETURNING w.step_seq
)
SELECT (SELECT count(*) FROM wf), (SELECT step_seq FROM bump)
"""


def _libpq_url(url: str) -> str:
    """libpq does not know SQLAlchemy driver suffixes such as postgresql+psycopg."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=parts.scheme.split("+")[0]))


class PostgresStore(Store):
    def __init__(self, url: str, min_size: int = 2, max_size: int = 10) -> None:
        self._url = _libpq_url(url)
        self._min_size = min_size
        self._max_size = max_size
        self._pool: AsyncConnectionPool[Any] | None = None

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection; connection trouble becomes StoreUnavailable."""
        if self._pool is None:
            raise StoreUnavailable("postgres: store is not open")
        try:
            async with self._pool.connection() as conn:
                yield conn
        except PoolTimeout as e:
            raise StoreUnavailable(f"postgres: no connection within {_CONNECT_TIMEOUT}s: {e}") from e
        except psycopg.OperationalError as e:
            # Covers lost connections, admin shutdown, too many clients, and
            # serialisation/deadlock rollbacks: all mean "retry later".
            raise StoreUnavailable(f"postgres: {type(e).__name__}: {e}") from e

    async def _fetchall(self, sql: str, params: Any) -> list[Any]:
        async with self._conn() as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchall()

    async def _fetchone(self, sql: str, params: Any) -> Any:
        async with self._conn() as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchone()

    async def open(self) -> None:
        try:
            # Migrate over one direct connection first: fails fast with libpq's
            # own reason (refused, no such database) rather than a pool timeout.
            async with await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=int(_CONNECT_TIMEOUT)
            ) as conn:
                await _migrate(conn)
        except psycopg.OperationalError as e:
            raise StoreUnavailable(f"postgres: cannot connect: {e}") from e
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            self._url,
            min_size=self._min_size,
            max_size=self._max_size,
            open=False,
            timeout=_CONNECT_TIMEOUT,  # how long getconn waits before PoolTimeout
            # Checking on checkout drops connections broken while PostgreSQL
            # was away; the pool reconnects in the background by itself.
            check=AsyncConnectionPool.check_connection,
            kwargs={"autocommit": True, "connect_timeout": int(_CONNECT_TIMEOUT)},
            name="keel-store",
        )
        try:
            await pool.open(wait=True, timeout=2 * _CONNECT_TIMEOUT)
        except psycopg.OperationalError as e:  # PoolTimeout is one
            await pool.close()
            raise StoreUnavailable(f"postgres: cannot fill the connection pool: {e}") from e
        self._pool = pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    # -- workflows -----------------------------------------------------------

    async def create_workflow(self, wf: NewWorkflow) -> tuple[WorkflowRecord, bool]:
        row = await self._fetchone(
            "INSERT INTO workflows (workflow_id, name, status, input_encoding, input, "
            "created_at, updated_at, deadline_at) VALUES (%s, %s, 'PENDING', %s, %s, %s, %s, %s) "
            f"ON CONFLICT (workflow_id) DO NOTHING RETURNING {WF_COLS}",
            (wf.workflow_id, wf.name, wf.input.encoding, wf.input.data, wf.created_at,
             wf.created_at, wf.deadline_at),
        )
        if row is not None:
            return workflow_from_row(row), True
        # The conflicting row is committed (INSERT waited for it), so a new
        # statement sees it.
        existing = await self.get_workflow(wf.workflow_id)
        assert existing is not None
        return existing, False

    async def get_workflow(self, workflow_id: str) -> WorkflowRecord | None:
        row = await self._fetchone(
            f"SELECT {WF_COLS} FROM workflows WHERE workflow_id = %s", (workflow_id,)
        )
        return workflow_from_row(row) if row else None

    async def list_workflows(
        self, status: WorkflowStatus | None, name: str | None, limit: int
    ) -> list[WorkflowRecord]:
        sql = f"SELECT {WF_COLS} FROM workflows WHERE true"
        params: list[Any] = []
        if status is not None:
            sql += " AND status = %s"
            params.append(status.value)
        if name:
            sql += " AND name = %s"
            params.append(name)
        sql += " ORDER BY created_at DESC, workflow_id LIMIT %s"
        params.append(limit)
        return [workflow_from_row(r) for r in await self._fetchall(sql, params)]

    async def claim_workflows(
        self, owner: str, names: list[str], limit: int, now: int, lease_until: int
    ) -> list[WorkflowRecord]:
        if not names or limit <= 0:
            return []
        # SKIP LOCKED: concurrent claimers take disjoint rows instead of
        # waiting; a row claimed meanwhile fails the re-checked WHERE.
        sql = (
            "WITH picked AS (SELECT workflow_id FROM workflows WHERE status = 'PENDING' "
            "AND name = ANY(%s) AND (owner IS NULL OR lease_until < %s) "
            "ORDER BY created_at, workflow_id LIMIT %s FOR UPDATE SKIP LOCKED) "
            "UPDATE workflows w SET owner = %s, lease_until = %s, epoch = w.epoch + 1, "
            f"updated_at = %s FROM picked WHERE w.workflow_id = picked.workflow_id "
            f"RETURNING {', '.join('w.' + c.strip() for c in WF_COLS.split(','))}"
        )
        rows = await self._fetchall(sql, (list(names), now, limit, owner, lease_until, now))
        return sorted((workflow_from_row(r) for r in rows), key=lambda w: (w.created_at, w.workflow_id))

    async def release_workflows(self, owner: str, workflow_ids: list[str] | None) -> None:
        async with self._conn() as conn:
            if workflow_ids is None:
                await conn.execute(
                    "UPDATE workflows SET owner = NULL, lease_until = NULL "
                    "WHERE owner = %s AND status = 'PENDING'",
                    (owner,),
                )
            elif workflow_ids:
                await conn.execute(
                    "UPDATE workflows SET owner = NULL, lease_until = NULL "
                    "WHERE owner = %s AND workflow_id = ANY(%s)",
                    (owner, list(workflow_ids)),
                )

    async def renew_leases(self, owner: str, lease_until: int) -> int:
        async with self._conn() as conn:
            cur = await conn.execute(
                "UPDATE workflows SET lease_until = %s WHERE owner = %s AND status = 'PENDING'",
                (lease_until, owner),
            )
            return cur.rowcount

    async def finish_workflow(
        self, workflow_id: str, epoch: int | None, status: WorkflowStatus, outcome: Outcome, now: int
    ) -> WorkflowRecord | None:
        sql = (
            "UPDATE workflows SET status = %s, output_encoding = %s, output = %s, "
            "error_type = %s, error_message = %s, error_details = %s, updated_at = %s, "
            "owner = NULL, lease_until = NULL WHERE workflow_id = %s AND status = 'PENDING'"
        )
        params: list[Any] = [status.value, *outcome_params(outcome), now, workflow_id]
        if epoch is not None:
            sql += " AND epoch = %s"
            params.append(epoch)
        row = await self._fetchone(sql + f" RETURNING {WF_COLS}", params)
        return workflow_from_row(row) if row else None

    async def expire_deadlines(self, now: int) -> list[WorkflowRecord]:
        sql = (
            "UPDATE workflows SET status = 'CANCELLED', error_type = 'WorkflowTimeout', "
            "error_message = 'workflow ' || workflow_id || ' passed its deadline', "
            "error_details = '', updated_at = %s, owner = NULL, lease_until = NULL "
            "WHERE status = 'PENDING' AND deadline_at IS NOT NULL AND deadline_at <= %s "
            f"RETURNING {WF_COLS}"
        )
        return [workflow_from_row(r) for r in await self._fetchall(sql, (now, now))]

    # -- steps ---------------------------------------------------------------

    async def record_step(self, step: NewStep) -> tuple[RecordResult, StepRecord | None]:
        cols = step_params(step, 0)
        params = (
            step.workflow_id, step.epoch,
            *cols[:13], *cols[14:],  # every step column but completion_seq
            step.completed_at, step.workflow_id,
        )
        matched, seq = await self._fetchone(_RECORD_STEP, params)
        if seq is not None:
            return RecordResult.RECORDED, record_from_new(step, seq)
        # Nothing was written. A fresh statement sees the winner even if it
        # committed while we waited for the row lock.
        existing = await self.get_step(step.workflow_id, step.step_number)
        return (RecordResult.DUPLICATE if matched else RecordResult.STALE), existing

    async def get_step(self, workflow_id: str, step_number: int) -> StepRecord | None:
        row = await self._fetchone(
            f"SELECT {STEP_COLS} FROM steps WHERE workflow_id = %s AND step_number = %s",
            (workflow_id, step_number),
        )
        return step_from_row(row) if row else None

    async def get_steps(self, workflow_id: str, step_numbers: list[int]) -> list[StepRecord]:
        rows = await self._fetchall(
            f"SELECT {STEP_COLS} FROM steps WHERE workflow_id = %s AND step_number = ANY(%s) "
            "ORDER BY step_number",
            (workflow_id, step_numbers),
        )
        return [step_from_row(r) for r in rows]

    async def list_steps(
        self, workflow_id: str, after_step_number: int = -1, limit: int | None = None
    ) -> list[StepRecord]:
        # LIMIT NULL means no limit in PostgreSQL.
        rows = await self._fetchall(
            f"SELECT {STEP_COLS} FROM steps WHERE workflow_id = %s AND step_number > %s "
            "ORDER BY step_number LIMIT %s",
            (workflow_id, after_step_number, limit),
        )
        return [step_from_row(r) for r in rows]


async def _migrate(conn: psycopg.AsyncConnection[Any]) -> None:
    async with conn.transaction():
        # Serialises coordinators starting at once; released at commit.
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        await conn.execute(migrations.VERSION_TABLE)
        cur = await conn.execute("SELECT version FROM keel_schema")
        done = {v for (v,) in await cur.fetchall()}
        for version, statements in migrations.POSTGRES:
            if version in done:
                continue
            for sql in statements:
                await conn.execute(sql)
            await conn.execute(
                "INSERT INTO keel_schema (version, applied_at) VALUES (%s, %s)",
                (version, int(time.time() * 1000)),
            )
