"""The shared store: PostgreSQL through psycopg 3 and an async connection pool.

Connections run in autocommit mode, so each single statement is its own
transaction and is durable when the call returns; writes of several
statements run in an explicit transaction. Several coordinators may share one
database: claims skip rows locked by others, a workflow's row lock serialises
its step commits, and LISTEN/NOTIFY on the channel "keel" tells the others
what changed (see `listen`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ..core.errors import StoreUnavailable
from ..core.ports import SchemaState, Store
from ..core.records import (
    Effect,
    EventRecord,
    NewMessage,
    NewStep,
    NewWorkflow,
    Note,
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

log = logging.getLogger(__name__)

# Any constant works, as long as every keel coordinator uses the same one.
_MIGRATION_LOCK = 0x6B65656C  # "keel"
_CONNECT_TIMEOUT = 5.0
_SUSPECT_SECONDS = 30.0
_MAX_BATCH = 200

# LISTEN/NOTIFY channel shared by every coordinator on the database.
_CHANNEL = "keel"
# The listener checks its connection when nothing arrived for this long
# (TCP keepalives catch a silent peer too), and reconnects with backoff.
_LISTEN_CHECK = 30.0
_RETRY_MIN = 0.05
_RETRY_MAX = 5.0
_LISTEN_APP_NAME = "keel-listen"

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


# Serialising wake-ups with parking. A waiter parks (`park`) and a writer
# delivers what it waits for (a message, an event) concurrently, each in its
# own READ COMMITTED transaction. MVCC alone cannot make them meet: each
# statement reads a snapshot taken when it starts, so the park's EXISTS may
# miss the uncommitted message while the writer's wake-up UPDATE still sees
# the workflow unparked, and both commit: the wake-up is lost (until
# resume_at). A single UPDATE cannot avoid this even by locking the row: if
# it waits for a row lock, it keeps its old snapshot for the EXISTS.
#
# So both sides take a transaction-level advisory lock named after what is
# waited for (_wait_lock), and read only in statements started after taking
# it: the writer inserts and then runs its wake-up UPDATE, the parker runs
# its UPDATE (with the EXISTS). Whoever takes the lock second starts its
# statement after the other committed, and so sees the other's write: either
# the park sees the message/event and resumes at once, or the wake-up UPDATE
# sees the parked row and sets resume_at to now.
#
# Lock order, against deadlocks: a transaction locks its own workflow row
# first (the step's, or the parking one's), then the advisory lock, then the
# rows of parked workflows it wakes. A sender never locks its destination's
# row otherwise, so two workflows sending to each other cannot deadlock.
# (PostgreSQL detects any deadlock that is left, e.g. with an execution still
# recording steps after it parked; the victim gets StoreUnavailable.)


def _wait_lock(wait_key: str, workflow_id: str) -> int:
    """A 64-bit advisory lock ID for what a waiter on `wait_key` waits for.

    Event keys name their workflow already; message keys ("msg:<topic>") are
    per destination, so it is added."""
    name = wait_key if wait_key.startswith("event:") else f"{len(workflow_id)}:{workflow_id}:{wait_key}"
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def _record_params(step: NewStep) -> tuple[Any, ...]:
    cols = step_params(step, 0)
    return (
        step.workflow_id, step.epoch,
        *cols[:13], *cols[14:],  # every step column but completion_seq
        step.completed_at, step.workflow_id,
    )


def _libpq_url(url: str) -> str:
    """libpq does not know SQLAlchemy driver suffixes such as postgresql+psycopg."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=parts.scheme.split("+")[0]))


def _wf_cols(table: str) -> str:
    return ", ".join(f"{table}.{c.strip()}" for c in WF_COLS.split(","))


class PostgresStore(Store):
    def __init__(self, url: str, min_size: int = 2, max_size: int = 10) -> None:
        self._url = _libpq_url(url)
        self._min_size = min_size
        self._max_size = max_size
        self._pool: AsyncConnectionPool[Any] | None = None
        self._listeners: list[asyncio.Task[None]] = []
        # Until then, check pooled connections before use (see _conn).
        self._suspect_until = 0.0
        # Plain step records waiting for the group commit (_record_batched).
        self._step_queue: list[tuple[NewStep, asyncio.Future[tuple[int, int | None]]]] = []
        self._flushing = False
        self._flush_task: asyncio.Task[None] | None = None  # keeps the task referenced

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection; connection trouble becomes StoreUnavailable.

        Checking every connection on checkout would cost a round trip per
        query, so connections are checked only for a while after a failure
        (PostgreSQL restarted or the link broke): a broken one is dropped
        before anything is sent on it, and another is taken."""
        if self._pool is None:
            raise StoreUnavailable("postgres: store is not open")
        try:
            for _ in range(self._max_size + 1):
                async with self._pool.connection() as conn:
                    if time.monotonic() < self._suspect_until:
                        try:
                            await AsyncConnectionPool.check_connection(conn)
                        except psycopg.OperationalError:
                            continue  # the pool discards it on return; take another
                    yield conn
                    return
            raise psycopg.OperationalError("every pooled connection is broken")
        except PoolTimeout as e:
            self._suspect_until = time.monotonic() + _SUSPECT_SECONDS
            raise StoreUnavailable(f"postgres: no connection within {_CONNECT_TIMEOUT}s: {e}") from e
        except psycopg.OperationalError as e:
            # Covers lost connections, admin shutdown, too many clients, and
            # serialisation/deadlock rollbacks: all mean "retry later".
            self._suspect_until = time.monotonic() + _SUSPECT_SECONDS
            raise StoreUnavailable(f"postgres: {type(e).__name__}: {e}") from e

    async def _fetchall(self, sql: str, params: Any) -> list[Any]:
        async with self._conn() as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchall()

    async def _fetchone(self, sql: str, params: Any) -> Any:
        async with self._conn() as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchone()

    async def schema_state(self) -> SchemaState:
        latest = max(v for v, _ in migrations.POSTGRES)
        exists = await self._fetchone("SELECT to_regclass('keel_schema') IS NOT NULL", ())
        if not exists[0]:
            return SchemaState(0, latest)
        row = await self._fetchone("SELECT COALESCE(MAX(version), 0) FROM keel_schema", ())
        return SchemaState(int(row[0]), latest)

    async def open(self, migrate: bool = True) -> None:
        try:
            # Migrate over one direct connection first: fails fast with libpq's
            # own reason (refused, no such database) rather than a pool timeout.
            async with await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=int(_CONNECT_TIMEOUT)
            ) as conn:
                if migrate:
                    await _migrate(conn)
        except psycopg.OperationalError as e:
            raise StoreUnavailable(f"postgres: cannot connect: {e}") from e
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            self._url,
            min_size=self._min_size,
            max_size=self._max_size,
            open=False,
            timeout=_CONNECT_TIMEOUT,  # how long getconn waits before PoolTimeout
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
        listeners, self._listeners = self._listeners, []
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    # -- workflows -----------------------------------------------------------

    async def create_workflow(self, wf: NewWorkflow) -> tuple[WorkflowRecord, bool]:
        # Other coordinators hear of an unclaimed workflow; one created claimed
        # is nobody else's business.
        notify = f", pg_notify('{_CHANNEL}', 'work')" if wf.owner is None else ""
        row = await self._fetchone(
            "WITH ins AS (INSERT INTO workflows (workflow_id, name, status, input_encoding, input, "
            "created_at, updated_at, deadline_at, owner, lease_until, epoch) "
            "VALUES (%s, %s, 'PENDING', %s, %s, %s, %s, %s, %s, %s, %s) "
            f"ON CONFLICT (workflow_id) DO NOTHING RETURNING {WF_COLS}) "
            f"SELECT {_wf_cols('ins')}{notify} FROM ins",
            (wf.workflow_id, wf.name, wf.input.encoding, wf.input.data, wf.created_at,
             wf.created_at, wf.deadline_at, wf.owner, wf.lease_until, 1 if wf.owner else 0),
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
        # waiting; a row claimed meanwhile fails the re-checked WHERE. Parked
        # workflows wait for their resume_at; claiming ends the park.
        sql = (
            "WITH picked AS (SELECT workflow_id FROM workflows WHERE status = 'PENDING' "
            "AND name = ANY(%s) AND (owner IS NULL OR lease_until < %s) "
            "AND (resume_at IS NULL OR resume_at <= %s) "
            "ORDER BY created_at, workflow_id LIMIT %s FOR UPDATE SKIP LOCKED) "
            "UPDATE workflows w SET owner = %s, lease_until = %s, epoch = w.epoch + 1, "
            "updated_at = %s, resume_at = NULL, wait_key = NULL "
            f"FROM picked WHERE w.workflow_id = picked.workflow_id RETURNING {_wf_cols('w')}"
        )
        rows = await self._fetchall(sql, (list(names), now, now, limit, owner, lease_until, now))
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

    async def renew_leases(self, owner: str, workflow_ids: list[str], lease_until: int) -> int:
        async with self._conn() as conn:
            cur = await conn.execute(
                "UPDATE workflows SET lease_until = %s WHERE owner = %s AND status = 'PENDING' "
                "AND workflow_id = ANY(%s)",
                (lease_until, owner, workflow_ids),
            )
            return cur.rowcount

    async def finish_workflow(
        self, workflow_id: str, epoch: int | None, status: WorkflowStatus, outcome: Outcome, now: int
    ) -> WorkflowRecord | None:
        sql = (
            "WITH u AS (UPDATE workflows SET status = %s, output_encoding = %s, output = %s, "
            "error_type = %s, error_message = %s, error_details = %s, updated_at = %s, "
            "owner = NULL, lease_until = NULL WHERE workflow_id = %s AND status = 'PENDING'"
        )
        params: list[Any] = [status.value, *outcome_params(outcome), now, workflow_id]
        if epoch is not None:
            sql += " AND epoch = %s"
            params.append(epoch)
        sql += (f" RETURNING {WF_COLS}) "
                f"SELECT {_wf_cols('u')}, pg_notify('{_CHANNEL}', 'done:' || u.workflow_id) FROM u")
        row = await self._fetchone(sql, params)
        return workflow_from_row(row) if row else None

    async def expire_deadlines(self, now: int) -> list[WorkflowRecord]:
        sql = (
            "WITH u AS (UPDATE workflows SET status = 'CANCELLED', error_type = 'WorkflowTimeout', "
            "error_message = 'workflow ' || workflow_id || ' passed its deadline', "
            "error_details = '', updated_at = %s, owner = NULL, lease_until = NULL "
            "WHERE status = 'PENDING' AND deadline_at IS NOT NULL AND deadline_at <= %s "
            f"RETURNING {WF_COLS}) "
            f"SELECT {_wf_cols('u')}, pg_notify('{_CHANNEL}', 'done:' || u.workflow_id) FROM u"
        )
        return [workflow_from_row(r) for r in await self._fetchall(sql, (now, now))]

    # -- steps ---------------------------------------------------------------

    async def record_step(
        self, step: NewStep, effect: Effect | None = None
    ) -> tuple[RecordResult, StepRecord | None]:
        if effect is None:
            # The hot path: one statement, no NOTIFY (it costs a global lock
            # at commit), and group-committed with the other steps in flight.
            matched, seq = await self._record_batched(step)
            if seq is not None:
                return RecordResult.RECORDED, record_from_new(step, seq)
            result = RecordResult.DUPLICATE if matched else RecordResult.STALE
        elif isinstance(effect, SetEvent):
            # Pipelined: three round trips instead of eight (event delivery
            # latency is mostly this commit).
            async with self._conn() as conn:
                async with conn.pipeline(), conn.transaction() as tx:
                    result, record = await _record_set_event(conn, step, effect)
                    if result is not RecordResult.RECORDED:
                        raise psycopg.Rollback(tx)  # nothing is written
        else:
            async with self._conn() as conn:
                async with conn.transaction() as tx:
                    result, record = await _record_with_effect(conn, step, effect)
                    if result is not RecordResult.RECORDED:
                        raise psycopg.Rollback(tx)  # nothing is written
            if result not in (RecordResult.DUPLICATE, RecordResult.STALE):
                return result, record
        # Nothing was written. A fresh statement sees the winner even if it
        # committed while we waited for the row lock.
        return result, await self.get_step(step.workflow_id, step.step_number)

    async def _record_batched(self, step: NewStep) -> tuple[int, int | None]:
        """Queue a plain step record; whoever flushes commits everything queued
        in one pipelined transaction (one round trip and one commit for many
        steps under load). With nothing in flight the caller flushes its own
        record at once, so a lone step pays no extra hop."""
        future: asyncio.Future[tuple[int, int | None]] = asyncio.get_running_loop().create_future()
        self._step_queue.append((step, future))
        if not self._flushing:
            self._flushing = True
            try:
                while not future.done():
                    await self._flush_batch()
            finally:
                self._flushing = False
            if self._step_queue:  # arrived meanwhile: hand them to a task
                self._flush_task = asyncio.create_task(self._flush_rest())
        return await future

    async def _flush_rest(self) -> None:
        if self._flushing:
            return
        self._flushing = True
        try:
            while self._step_queue:
                await self._flush_batch()
        finally:
            self._flushing = False

    async def _flush_batch(self) -> None:
        batch, self._step_queue = self._step_queue[:_MAX_BATCH], self._step_queue[_MAX_BATCH:]
        # One lock order for every batch (and every coordinator): no deadlocks between them.
        batch.sort(key=lambda item: (item[0].workflow_id, item[0].step_number))
        try:
            async with self._conn() as conn:
                if len(batch) == 1:  # alone: one autocommitted statement is quickest
                    cur = await conn.execute(_RECORD_STEP, _record_params(batch[0][0]))
                    rows = [await cur.fetchone()]
                else:
                    async with conn.pipeline(), conn.transaction():
                        cursors = [await conn.execute(_RECORD_STEP, _record_params(step))
                                   for step, _ in batch]
                        rows = [await cur.fetchone() for cur in cursors]
        except Exception as e:  # StoreUnavailable, or a bug: every caller hears of it
            for _, future in batch:
                if not future.done():
                    future.set_exception(e)
            return
        for (_, future), row in zip(batch, rows, strict=True):
            assert row is not None, "the statement always returns one row"
            if not future.done():
                future.set_result((row[0], row[1]))

    # -- events, messages, waits ---------------------------------------------

    async def send_message(self, message: NewMessage) -> RecordResult:
        async with self._conn() as conn:
            async with conn.transaction() as tx:
                result = await _send(conn, message)
                if result is not RecordResult.RECORDED:
                    raise psycopg.Rollback(tx)
        return result

    async def get_event(self, workflow_id: str, key: str) -> EventRecord | None:
        row = await self._fetchone(
            f"SELECT {EVENT_COLS} FROM events WHERE workflow_id = %s AND key = %s "
            "ORDER BY seq DESC LIMIT 1",
            (workflow_id, key),
        )
        return event_from_row(row) if row else None

    async def list_events(self, workflow_id: str, after_seq: int, limit: int) -> list[EventRecord]:
        rows = await self._fetchall(
            f"SELECT {EVENT_COLS} FROM events WHERE workflow_id = %s AND seq > %s "
            "ORDER BY seq LIMIT %s",
            (workflow_id, after_seq, limit),
        )
        return [event_from_row(r) for r in rows]

    async def wait_deadline(self, workflow_id: str, step_number: int, deadline_at: int) -> int:
        async with self._conn() as conn:
            cur = await conn.execute(
                "INSERT INTO waits (workflow_id, step_number, deadline_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (workflow_id, step_number) DO NOTHING RETURNING deadline_at",
                (workflow_id, step_number, deadline_at),
            )
            row = await cur.fetchone()
            if row is None:
                # A new statement sees the row the INSERT conflicted with.
                cur = await conn.execute(
                    "SELECT deadline_at FROM waits WHERE workflow_id = %s AND step_number = %s",
                    (workflow_id, step_number),
                )
                row = await cur.fetchone()
            assert row is not None
            return int(row[0])

    async def park(self, workflow_id: str, epoch: int, resume_at: int, wait: Wait, now: int) -> bool:
        sql, params = park_sql(workflow_id, epoch, resume_at, wait, now, "%s")
        sql += " RETURNING resume_at"
        async with self._conn() as conn:
            async with conn.transaction():
                wait_key = wait.wait_key
                if wait_key is not None:
                    # Own row first, then the wait's lock, then the UPDATE with
                    # its EXISTS in a snapshot taken after both: see _wait_lock.
                    cur = await conn.execute(
                        "SELECT 1 FROM workflows WHERE workflow_id = %s AND epoch = %s "
                        "AND status = 'PENDING' FOR UPDATE",
                        (workflow_id, epoch),
                    )
                    if await cur.fetchone() is None:
                        return False
                    await conn.execute(
                        "SELECT pg_advisory_xact_lock(%s)", (_wait_lock(wait_key, workflow_id),))
                cur = await conn.execute(sql, params)
                row = await cur.fetchone()
                if row is None:
                    return False
                if row[0] <= now:
                    await _notify(conn, "work")
        return True

    async def listen(self, callback: Callable[[Note], None]) -> None:
        """Deliver NOTIFYs on "keel" to `callback` from a background task with
        its own connection, reconnecting whenever it is lost, until close().
        Returns once listening (or after the first attempt failed); never raises.
        Notes sent while the listener is reconnecting are lost."""
        started = asyncio.Event()
        task = asyncio.create_task(self._listen_loop(callback, started), name="keel-listen")
        self._listeners.append(task)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(started.wait(), 2 * _CONNECT_TIMEOUT)

    async def _listen_loop(self, callback: Callable[[Note], None], started: asyncio.Event) -> None:
        delay = _RETRY_MIN
        outage = False
        while True:
            conn: psycopg.AsyncConnection[Any] | None = None
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=int(_CONNECT_TIMEOUT),
                    application_name=_LISTEN_APP_NAME,
                    keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3,
                )
                await conn.execute(f"LISTEN {_CHANNEL}")
                if outage:
                    log.info("listening for changes on PostgreSQL again")
                outage, delay = False, _RETRY_MIN
                started.set()
                while True:
                    async for note in conn.notifies(timeout=_LISTEN_CHECK):
                        parsed = Note.decode(note.payload)
                        if parsed is None:
                            continue  # from a newer coordinator: nothing we act on
                        try:
                            callback(parsed)
                        except Exception:
                            log.exception("listen callback failed on %r", note.payload)
                    # Quiet for a while: make sure the connection still works.
                    # (Notes arriving meanwhile wait for the next notifies().)
                    await asyncio.wait_for(conn.execute("SELECT 1"), _CONNECT_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # psycopg.Error, OSError, TimeoutError, ...
                if not outage:
                    log.warning("lost the PostgreSQL listener connection, reconnecting: %s", e)
                    outage = True
                else:
                    log.debug("listener reconnect failed: %s", e)
                started.set()
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
            await asyncio.sleep(delay)
            delay = min(2 * delay, _RETRY_MAX)

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


_STEP_PLACEHOLDERS = ", ".join(["%s"] * len(STEP_COLS.split(",")))


async def _record_with_effect(
    conn: psycopg.AsyncConnection[Any], step: NewStep, effect: Effect
) -> tuple[RecordResult, StepRecord | None]:
    """record_step with an effect, inside the caller's transaction; the caller
    rolls back unless RECORDED."""
    # The row lock, held until commit, serialises the workflow's step commits
    # (completion_seq is commit order), its recvs and its set_events; each
    # statement after it reads a fresh snapshot, so sees the previous holder's.
    cur = await conn.execute(
        "UPDATE workflows SET step_seq = step_seq + 1, updated_at = %s "
        "WHERE workflow_id = %s AND epoch = %s AND status = 'PENDING' RETURNING step_seq",
        (step.completed_at, step.workflow_id, step.epoch),
    )
    row = await cur.fetchone()
    if row is None:
        return RecordResult.STALE, None
    seq = row[0]
    message_id = None
    if isinstance(effect, Recv):
        # The oldest message. The row lock already keeps recvs of this
        # workflow apart; SKIP LOCKED would still never hand out a message
        # another transaction is consuming.
        cur = await conn.execute(
            "SELECT message_id, encoding, data FROM messages WHERE workflow_id = %s AND topic = %s "
            "AND consumed_at IS NULL ORDER BY message_id LIMIT 1 FOR UPDATE SKIP LOCKED",
            (step.workflow_id, effect.topic),
        )
        msg = await cur.fetchone()
        if msg is None:
            # A step recorded before still wins over "no message".
            cur = await conn.execute(
                "SELECT 1 FROM steps WHERE workflow_id = %s AND step_number = %s",
                (step.workflow_id, step.step_number),
            )
            return (RecordResult.DUPLICATE if await cur.fetchone() else RecordResult.EMPTY), None
        message_id = msg[0]
        step = dataclasses.replace(step, outcome=Outcome(output=Value(msg[1], bytes(msg[2]))))
    cur = await conn.execute(
        f"INSERT INTO steps ({STEP_COLS}) VALUES ({_STEP_PLACEHOLDERS}) "
        "ON CONFLICT (workflow_id, step_number) DO NOTHING",
        step_params(step, seq),
    )
    if cur.rowcount == 0:
        return RecordResult.DUPLICATE, None
    if message_id is not None:
        await conn.execute(
            "UPDATE messages SET consumed_at = %s, consumed_step = %s WHERE message_id = %s",
            (step.completed_at, step.step_number, message_id),
        )
    elif isinstance(effect, SetEvent):
        assert step.outcome.output is not None, "set_event records a value"
        wait_key = event_wait_key(step.workflow_id, effect.key)
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_wait_lock(wait_key, step.workflow_id),))
        # seq: the row lock keeps set_events of this workflow apart.
        await conn.execute(
            "INSERT INTO events (workflow_id, seq, key, value_encoding, value, step_number, created_at) "
            "SELECT %s, COALESCE(MAX(seq), 0) + 1, %s, %s, %s, %s, %s FROM events WHERE workflow_id = %s",
            (step.workflow_id, effect.key, step.outcome.output.encoding, step.outcome.output.data,
             step.step_number, step.completed_at, step.workflow_id),
        )
        cur = await conn.execute(
            "UPDATE workflows SET resume_at = %s WHERE wait_key = %s AND status = 'PENDING' "
            "AND resume_at > %s",
            (step.completed_at, wait_key, step.completed_at),
        )
        await _notify(conn, f"event:{step.workflow_id}", *(["work"] if cur.rowcount else []))
    elif isinstance(effect, Send):
        result = await _send(conn, effect.message)
        if result is not RecordResult.RECORDED:
            return result, None
    return RecordResult.RECORDED, record_from_new(step, seq)


async def _record_set_event(
    conn: psycopg.AsyncConnection[Any], step: NewStep, effect: SetEvent
) -> tuple[RecordResult, StepRecord | None]:
    """record_step with SetEvent, in a pipelined transaction: the statements
    after the workflow row lock go out together; if the step insert turns out
    to be a duplicate, the caller rolls everything back."""
    assert step.outcome.output is not None, "set_event records a value"
    cur = await conn.execute(
        "UPDATE workflows SET step_seq = step_seq + 1, updated_at = %s "
        "WHERE workflow_id = %s AND epoch = %s AND status = 'PENDING' RETURNING step_seq",
        (step.completed_at, step.workflow_id, step.epoch),
    )
    row = await cur.fetchone()
    if row is None:
        return RecordResult.STALE, None
    seq = row[0]
    inserted = await conn.execute(
        f"INSERT INTO steps ({STEP_COLS}) VALUES ({_STEP_PLACEHOLDERS}) "
        "ON CONFLICT (workflow_id, step_number) DO NOTHING RETURNING 1",
        step_params(step, seq),
    )
    wait_key = event_wait_key(step.workflow_id, effect.key)
    # Same order as _record_with_effect: own row, then the wait lock, then
    # the event, then the wake-up of parked readers (see _wait_lock).
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_wait_lock(wait_key, step.workflow_id),))
    await conn.execute(
        "INSERT INTO events (workflow_id, seq, key, value_encoding, value, step_number, created_at) "
        "SELECT %s, COALESCE(MAX(seq), 0) + 1, %s, %s, %s, %s, %s FROM events WHERE workflow_id = %s",
        (step.workflow_id, effect.key, step.outcome.output.encoding, step.outcome.output.data,
         step.step_number, step.completed_at, step.workflow_id),
    )
    await conn.execute(
        "WITH woken AS (UPDATE workflows SET resume_at = %s WHERE wait_key = %s "
        "AND status = 'PENDING' AND resume_at > %s RETURNING 1) "
        f"SELECT pg_notify('{_CHANNEL}', %s), "
        f"(SELECT pg_notify('{_CHANNEL}', 'work') WHERE EXISTS (SELECT 1 FROM woken))",
        (step.completed_at, wait_key, step.completed_at, f"event:{step.workflow_id}"),
    )
    if await inserted.fetchone() is None:
        return RecordResult.DUPLICATE, None
    return RecordResult.RECORDED, record_from_new(step, seq)


async def _send(conn: psycopg.AsyncConnection[Any], m: NewMessage) -> RecordResult:
    """Deliver a message inside the caller's transaction; rolled back unless RECORDED."""
    wait_key = f"msg:{m.topic}"
    # The lock first, so the wake-up UPDATE below reads after it (_wait_lock).
    cur = await conn.execute(
        "SELECT pg_advisory_xact_lock(%s), EXISTS (SELECT 1 FROM workflows WHERE workflow_id = %s)",
        (_wait_lock(wait_key, m.workflow_id), m.workflow_id),
    )
    row = await cur.fetchone()
    assert row is not None
    if not row[1]:
        return RecordResult.NOT_FOUND
    cur = await conn.execute(
        "INSERT INTO messages (workflow_id, topic, encoding, data, idempotency_key, created_at) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (m.workflow_id, m.topic, m.value.encoding, m.value.data, m.idempotency_key, m.created_at),
    )
    if cur.rowcount == 0:
        return RecordResult.DUPLICATE
    cur = await conn.execute(
        "UPDATE workflows SET resume_at = %s WHERE workflow_id = %s AND wait_key = %s "
        "AND status = 'PENDING' AND resume_at > %s",
        (m.created_at, m.workflow_id, wait_key, m.created_at),
    )
    await _notify(conn, f"msg:{m.workflow_id}", *(["work"] if cur.rowcount else []))
    return RecordResult.RECORDED


async def _notify(conn: psycopg.AsyncConnection[Any], *notes: str) -> None:
    """NOTIFY listeners (delivered at commit, dropped on rollback)."""
    await conn.execute(f"SELECT pg_notify('{_CHANNEL}', n) FROM unnest(%s::text[]) AS n", (list(notes),))


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
