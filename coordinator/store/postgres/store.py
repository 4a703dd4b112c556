"""The shared store: the Store port on PostgreSQL through psycopg 3.

Connections come from a pool in autocommit mode (pool.py), so each single
statement is its own transaction and is durable when the call returns; writes
of several statements run in an explicit transaction (effects.py). Several
coordinators may share one database: claims skip rows locked by others, a
workflow's row lock serialises its step commits, and LISTEN/NOTIFY on the
channel "keel" tells the others what changed (wakeups.py, listener.py).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import psycopg

from ...core.errors import StoreUnavailable
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
    Note,
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
)
from ..schema import postgres as schema
from ..sql import migrate as migrations
from ..sql import queues
from ..sql.claims import claim_params, claimable_params
from ..sql.queries import POSTGRES, Queries, page_params, park_params, workflow_params
from ..sql.rows import (
    WORKFLOW,
    event_from_row,
    histories,
    node_from_row,
    outcome_params,
    step_from_row,
    token_from_row,
    token_params,
    workflow_from_row,
)
from .batcher import StepBatcher
from .claim_floor import ClaimFloor
from .effects import record_set_event, record_with_effect, send_outcome, send_statements
from .listener import Listeners
from .ops import PostgresOperations
from .peers import Peers
from .pool import Pool, connect, libpq_url
from .presence import Presence
from .script import Statement, run_script
from .selects import park_select
from .statistics import Statistics
from .tasks import Tasks
from .wakeups import CHANNEL, LOCK, LOCK_PARKING, notifying, wait_lock

log = logging.getLogger(__name__)

Q = Queries(POSTGRES)
QQ = queues.QueueQueries(POSTGRES)
# Any constant works, as long as every keel coordinator uses the same one.
_MIGRATION_LOCK = 0x6B65656C  # "keel"
SCHEMA = migrations.Schema(
    POSTGRES, schema.MIGRATIONS, "SELECT to_regclass('keel_schema') IS NOT NULL",
    lock=(LOCK, (_MIGRATION_LOCK,)))

# Other coordinators hear of an unclaimed workflow; one created claimed is
# nobody else's business.
_CREATE_NOTIFYING = notifying(Q.create_workflow, WORKFLOW, "'work'")


def _ending(sql: str) -> str:
    """`sql`, which makes workflows final, made to NOTIFY "done:<id>" for each,
    and "queue" for each that held a slot of a queue (the next may start)."""
    return (f"WITH u AS ({sql}) SELECT {WORKFLOW.of('u')}, "
            f"pg_notify('{CHANNEL}', 'done:' || u.workflow_id), "
            f"(SELECT pg_notify('{CHANNEL}', 'queue') WHERE u.queue_name IS NOT NULL) FROM u")


_FINISH = {with_epoch: _ending(sql) for with_epoch, sql in Q.finish_workflow.items()}
# No note while no other coordinator listens (peers.py): our own ends wake
# our own waiters.
_FINISH_QUIETLY = Q.finish_workflow
_EXPIRE = _ending(Q.expire_deadlines)
# Batch keys of a workflow's own statements: before and after its steps'.
_CREATE, _FINISHED = -1, 1 << 62
_RESUME_PARKED = f"WITH u AS ({Q.resume_parked}) SELECT 1, pg_notify('keel', 'work') FROM u"
# The park's UPDATE, and "work" for the claimers when what it waits for came
# first (it is due at once). The last of park's script (script.py).
_PARK = {kind: f"WITH p AS ({sql}) SELECT p.resume_at, "
               f"(SELECT pg_notify('{CHANNEL}', 'work') WHERE p.resume_at <= %s) FROM p"
         for kind, sql in Q.park.items()}


def _rows(conn: psycopg.AsyncConnection[Any]) -> Callable[[str, tuple[Any, ...]], Awaitable[list[Any]]]:
    """A statement runner for the migration runner."""

    async def execute(sql: str, params: tuple[Any, ...]) -> list[Any]:
        cur = await conn.execute(sql, params or None)
        return await cur.fetchall() if cur.description else []

    return execute


class PostgresStore(PostgresOperations):
    def __init__(self, url: str, min_size: int = 2, max_size: int = 10) -> None:
        self._url = libpq_url(url)
        self._pool = Pool(self._url, min_size, max_size)
        self._peers = Peers()
        self._listeners = Listeners(self._url, self._peers)
        self._batcher = StepBatcher(self._pool)
        self._tasks = Tasks(self._pool, self._batcher)
        self._presence = Presence(self._url)
        self._statistics = Statistics(self._pool)
        self._floor = ClaimFloor()

    async def open(self, migrate: bool = True) -> None:
        try:
            # Migrate over one direct connection first: fails fast with libpq's
            # own reason (refused, no such database) rather than a pool timeout.
            async with await connect(self._url) as conn:
                if migrate:
                    async with conn.transaction():
                        await migrations.run_async(migrations.migrate(SCHEMA), _rows(conn))
                cur = await conn.execute("SHOW autovacuum")
                # Then nothing refreshes the planner's statistics (statistics.py).
                analyze = (await cur.fetchone()) == ("off",)
        except psycopg.OperationalError as e:
            raise StoreUnavailable(f"postgres: cannot connect: {e}") from e
        await self._pool.open()
        if analyze:
            log.warning("autovacuum is off on this PostgreSQL server: keel runs VACUUM and ANALYZE "
                        "on its tables every %.0f s; turn it on", self._statistics.every)
            self._statistics.start()

    async def schema_state(self) -> SchemaState:
        async with self._pool.connection() as conn:
            return await migrations.run_async(migrations.read_state(SCHEMA), _rows(conn))

    async def close(self) -> None:
        await self._statistics.close()
        await self._presence.close()
        await self._listeners.close()
        await self._pool.close()

    # -- workflows -----------------------------------------------------------

    async def create_workflow(self, wf: NewWorkflow) -> tuple[WorkflowRecord, bool]:
        # Group-committed with the other starts and steps in flight.
        row = await self._batcher.run(
            _CREATE_NOTIFYING if wf.owner is None else Q.create_workflow,
            workflow_params(wf), (wf.workflow_id, _CREATE))
        if row is not None:
            return workflow_from_row(row), True
        # The conflicting row is committed (INSERT waited for it), so a new
        # statement sees it.
        existing = await self.get_workflow(wf.workflow_id)
        assert existing is not None
        return existing, False

    async def get_workflow(self, workflow_id: str) -> WorkflowRecord | None:
        row = await self._pool.fetchone(Q.get_workflow, (workflow_id,))
        return workflow_from_row(row) if row else None

    async def list_workflows(
        self, status: WorkflowStatus | None, name: str | None, limit: int, *,
        created_after: int | None = None, created_before: int | None = None,
        after: tuple[int, str] | None = None,
    ) -> list[WorkflowRecord]:
        sql, params = Q.list_workflows_params(status.value if status is not None else None, name, limit,
                                              created_after, created_before, after)
        return [workflow_from_row(r) for r in await self._pool.fetchall(sql, params)]

    async def claim_workflows(
        self, owner: str, names: list[str], limit: int, now: int, lease_until: int, leases: bool = True
    ) -> list[WorkflowRecord]:
        if not names or limit <= 0:
            return []
        floor, token = self._floor.get()
        rows = await self._pool.fetchall(
            Q.claim_workflows,
            claim_params(list(names), now, limit, owner, lease_until, floor, leases))
        claimed = sorted((workflow_from_row(r) for r in rows), key=lambda w: (w.created_at, w.workflow_id))
        if claimed:
            self._floor.claimed(token, claimed[0].created_at)
        return claimed

    async def has_claimable(self, names: list[str], now: int) -> bool:
        if not names:
            return False
        floor, _ = self._floor.get()
        return bool(await self._pool.fetchall(Q.has_claimable, claimable_params(list(names), now, floor)))

    async def release_workflows(self, owner: str, workflow_ids: list[str] | None) -> None:
        if workflow_ids is None:
            await self._pool.execute(Q.release_all, (owner,))
        elif workflow_ids:
            await self._pool.execute(Q.release_some, (owner, list(workflow_ids)))
        # Committed: claimable again, however old (a claim begun before now
        # cannot set the floor above them).
        self._floor.reset()

    async def renew_leases(self, owner: str, workflow_ids: list[str], lease_until: int) -> int:
        return await self._pool.execute(Q.renew_leases, (lease_until, owner, list(workflow_ids)))

    async def finish_workflow(
        self, workflow_id: str, epoch: int | None, status: WorkflowStatus, outcome: Outcome, now: int
    ) -> WorkflowRecord | None:
        params = (status.value, *outcome_params(outcome), now, workflow_id,
                  *([epoch] if epoch is not None else []))
        # Group-committed too: one commit (and one NOTIFY lock) for many ends.
        finish = _FINISH if self._peers.present else _FINISH_QUIETLY
        row = await self._batcher.run(finish[epoch is not None], params, (workflow_id, _FINISHED))
        return workflow_from_row(row) if row else None

    async def expire_deadlines(self, now: int) -> list[WorkflowRecord]:
        return [workflow_from_row(r) for r in await self._pool.fetchall(_EXPIRE, (now, now))]

    # -- steps ---------------------------------------------------------------

    async def record_step(
        self, step: NewStep, effect: Effect | None = None
    ) -> tuple[RecordResult, StepRecord | None]:
        if effect is None:
            # The hot path: one statement, no NOTIFY (it costs a global lock
            # at commit), and group-committed with the other steps in flight.
            matched, seq = await self._batcher.record(step)
            if seq is not None:
                return RecordResult.RECORDED, step.recorded(seq)
            result = RecordResult.DUPLICATE if matched else RecordResult.STALE
        elif isinstance(effect, SetEvent):
            result, record, _, _ = await self.set_event(step, effect.key)
            return result, record
        elif isinstance(effect, Recv):
            # One statement, group-committed like a plain step.
            matched, seq, existed, value = await self._batcher.record_recv(step, effect.topic)
            if seq is not None:
                assert value is not None
                received = dataclasses.replace(step, outcome=Outcome(output=value))
                return RecordResult.RECORDED, received.recorded(seq)
            if not matched:
                result = RecordResult.STALE
            elif existed or value is not None:  # recorded before, or by a racing twin
                result = RecordResult.DUPLICATE
            else:
                return RecordResult.EMPTY, None
        else:
            assert isinstance(effect, Send)
            # Pipelined: the statements go out together, a round trip for the
            # row lock's sequence and one for the rest.
            async with self._pool.connection() as conn:
                async with conn.pipeline(), conn.transaction() as tx:
                    result, record = await record_with_effect(conn, step, effect)
                    if result is not RecordResult.RECORDED:
                        raise psycopg.Rollback(tx)  # nothing is written
        if result not in (RecordResult.DUPLICATE, RecordResult.STALE):
            return result, record
        # Nothing was written. A fresh statement sees the winner even if it
        # committed while we waited for the row lock.
        return result, await self.get_step(step.workflow_id, step.step_number)

    # -- events, messages, waits ---------------------------------------------

    async def set_event(
        self, step: NewStep, key: str
    ) -> tuple[RecordResult, StepRecord | None, EventRecord | None, bool]:
        # One round trip (event delivery latency is mostly this commit).
        async with self._pool.connection() as conn:
            result, record, seq, woken = await record_set_event(conn, step, SetEvent(key),
                                                                self._peers.present)
        if result is RecordResult.RECORDED:
            assert step.outcome.output is not None and seq is not None
            return result, record, EventRecord(step.workflow_id, seq, key, step.outcome.output,
                                               step.step_number, step.completed_at), woken
        # Nothing was written: the winner, as record_step reports it.
        return result, await self.get_step(step.workflow_id, step.step_number), None, True

    async def send_message(self, message: NewMessage) -> RecordResult:
        # Group-committed: after the workflow's creation, if in the same batch.
        rows = await self._batcher.run_all(send_statements(message, notify=self._peers.present),
                                           (message.workflow_id, _CREATE))
        return send_outcome(message, rows, claiming=False)[0]

    async def send_and_claim(self, message: NewMessage, owner: str, lease_until: int,
                             names: Collection[str]) -> tuple[RecordResult, WorkflowRecord | None]:
        statements = send_statements(message, owner, lease_until, self._peers.present, names)
        rows = await self._batcher.run_all(statements, (message.workflow_id, _CREATE))
        result, row = send_outcome(message, rows, claiming=True)
        return result, workflow_from_row(row) if row else None

    async def get_event(self, workflow_id: str, key: str) -> EventRecord | None:
        row = await self._pool.fetchone(Q.get_event, (workflow_id, key))
        return event_from_row(row) if row else None

    async def list_events(self, workflow_id: str, after_seq: int, limit: int) -> list[EventRecord]:
        rows = await self._pool.fetchall(Q.list_events, (workflow_id, after_seq, limit))
        return [event_from_row(r) for r in rows]

    async def wait_deadline(self, workflow_id: str, step_number: int, deadline_at: int) -> int:
        # Group-committed with the step records (it locks only its own row).
        row = await self._batcher.run(Q.insert_wait, (workflow_id, step_number, deadline_at),
                                      (workflow_id, step_number))
        if row is None:
            # A new statement sees the row the INSERT conflicted with.
            row = await self._pool.fetchone(Q.get_wait, (workflow_id, step_number))
        assert row is not None
        return int(row[0])

    async def park(self, workflow_id: str, epoch: int, resume_at: int, wait: Wait, now: int) -> bool:
        # One script: one write and one transaction, each statement after the
        # one before (so after its locks) with a snapshot of its own. (A
        # pipelined transaction cost psycopg's pipeline machinery, and a write
        # per statement.)
        statements: list[Statement] = []
        if wait.wait_key is not None:
            # Own row first, then the wait's lock, then the UPDATE with its
            # EXISTS in a snapshot taken after both: see wakeups.py. (A stale
            # epoch locks nothing, and the UPDATE then matches nothing either.)
            statements += [(LOCK_PARKING, (workflow_id, epoch)),
                           (LOCK, (wait_lock(wait.wait_key, workflow_id),))]
        statements.append((_PARK[wait.kind], (*park_params(workflow_id, epoch, resume_at, wait, now), now)))
        async with self._pool.connection() as conn:
            *_, parked = await run_script(conn, statements)
        return parked is not None

    async def listen(self, callback: Callable[[Note], None]) -> None:
        """Deliver NOTIFYs on "keel" to `callback` (see listener.py)."""
        await self._listeners.add(callback)

    async def get_step(self, workflow_id: str, step_number: int) -> StepRecord | None:
        row = await self._pool.fetchone(Q.get_step, (workflow_id, step_number))
        return step_from_row(row) if row else None

    async def get_steps(self, workflow_id: str, step_numbers: list[int]) -> list[StepRecord]:
        rows = await self._pool.fetchall(Q.get_steps, (workflow_id, list(step_numbers)))
        return [step_from_row(r) for r in rows]

    async def list_steps(
        self, workflow_id: str, after_step_number: int = -1, limit: int | None = None
    ) -> list[StepRecord]:
        rows = await self._pool.fetchall(Q.list_steps, (workflow_id, after_step_number, limit))
        return [step_from_row(r) for r in rows]

    async def list_histories(self, workflow_ids: list[str]) -> dict[str, list[StepRecord]]:
        return histories(workflow_ids, await self._pool.fetchall(Q.list_histories, (list(workflow_ids),)))

    # -- step tasks (tasks.py) ---------------------------------------------------

    async def create_task(self, task: NewTask) -> tuple[TaskRecord | None, StepRecord | None]:
        return await self._tasks.create(task)

    async def claim_tasks(
        self, owner: str, names: list[str], limit: int, now: int, lease_until: int
    ) -> list[TaskRecord]:
        return await self._tasks.claim(owner, names, limit, now, lease_until)

    async def release_tasks(self, owner: str, keys: list[tuple[str, int]] | None) -> None:
        await self._tasks.release(owner, keys)

    async def renew_task_leases(self, owner: str, keys: list[tuple[str, int]], lease_until: int) -> int:
        return await self._tasks.renew(owner, keys, lease_until)

    async def complete_task(self, step: NewStep) -> tuple[RecordResult, StepRecord | None]:
        return await self._tasks.complete(step)

    async def get_task(self, workflow_id: str, step_number: int) -> TaskRecord | None:
        return await self._tasks.get(workflow_id, step_number)

    # -- nodes -------------------------------------------------------------------

    async def register_node(self, node_id: str, incarnation: str, now: int) -> None:
        # The presence lock first: the others never see the row without it.
        await self._presence.hold(node_id)
        await self._pool.execute(Q.register_node, (node_id, incarnation, now, now))

    async def heartbeat_node(self, node_id: str, incarnation: str, now: int) -> bool:
        return await self._pool.fetchone(Q.heartbeat_node, (now, node_id, incarnation)) is not None

    async def reap_nodes(self, silent_since: int) -> list[str]:
        dead = await self._tasks.reap_nodes(silent_since)
        if dead:
            self._floor.reset()  # their workflows are claimable again
        return dead

    async def remove_node(self, node_id: str, incarnation: str) -> None:
        await self._pool.execute(Q.remove_node, (node_id, incarnation))

    async def list_nodes(self) -> list[NodeRecord]:
        return [node_from_row(r) for r in await self._pool.fetchall(Q.list_nodes, ())]

    async def clock_ms(self) -> int:
        return await self._tasks.clock_ms()
    # -- tokens --------------------------------------------------------------

    async def create_token(self, token: TokenRecord) -> bool:
        return await self._pool.fetchone(Q.create_token, token_params(token)) is not None

    async def find_token(self, secret_hash: str) -> TokenRecord | None:
        row = await self._pool.fetchone(Q.find_token, (secret_hash,))
        return token_from_row(row) if row else None

    async def list_tokens(self) -> list[TokenRecord]:
        return [token_from_row(r) for r in await self._pool.fetchall(Q.list_tokens, ())]

    async def revoke_token(self, name: str, now: int) -> bool:
        return await self._pool.fetchone(Q.revoke_token, (now, name)) is not None

    async def touch_token(self, name: str, now: int) -> None:
        await self._pool.execute(Q.touch_token, (now, name, now))

    # -- queues (sql/queues.py) ------------------------------------------------

    async def set_queue(self, queue: QueueRecord) -> QueueRecord:
        row = await self._pool.fetchone(QQ.set_queue, queues.queue_params(queue))
        assert row is not None
        return queues.queue_from_row(row)

    async def get_queue(self, name: str) -> QueueState | None:
        row = await self._pool.fetchone(QQ.get_queue, (name,))
        return queues.state_from_row(row) if row else None

    async def list_queues(self) -> list[QueueState]:
        return [queues.state_from_row(r) for r in await self._pool.fetchall(QQ.list_queues, ())]

    async def enqueue_workflow(self, new: NewQueued) -> tuple[EnqueueResult, WorkflowRecord | None]:
        # No transaction: each statement of the plan is atomic on its own.
        async with self._pool.connection() as conn:
            return await migrations.run_async(queues.enqueue(QQ, new), _rows(conn))

    async def dequeue_workflows(
        self, owner: str, names: list[str], limit: int, now: int, lease_until: int,
        on_worker: dict[str, int],
    ) -> tuple[list[WorkflowRecord], int | None]:
        plan = queues.dequeue(QQ, names, limit, now, owner, lease_until, on_worker)
        async with self._pool.connection() as conn:
            async with conn.transaction():
                return await migrations.run_async(plan, _rows(conn))
    # -- step timeouts (issue 15) -------------------------------------------------

    async def expire_task_attempts(
        self, now: int, failure: Callable[[TaskRecord], NewStep]
    ) -> list[tuple[TaskRecord, StepRecord | None]]:
        return await self._tasks.expire_attempts(now, failure)
    # -- the console's reads (issue 16) --------------------------------------

    async def list_workflows_page(
        self, status: WorkflowStatus | None, name: str | None, before: tuple[int, str] | None,
        limit: int,
    ) -> list[WorkflowRecord]:
        sql = Q.list_workflows_page[status is not None, bool(name), before is not None]
        rows = await self._pool.fetchall(sql, page_params(status, name, before, limit))
        return [workflow_from_row(r) for r in rows]

    async def count_pending(self) -> tuple[int, int]:
        row = await self._pool.fetchone(Q.count_pending, ())
        assert row is not None
        return int(row[0]), int(row[1])
    # -- select over anything (issue 11) ---------------------------------------

    async def list_children(self, parent_workflow_id: str, limit: int) -> list[WorkflowRecord]:
        rows = await self._pool.fetchall(Q.list_children, (parent_workflow_id, limit))
        return [workflow_from_row(r) for r in rows]

    async def oldest_message_at(self, workflow_id: str, topic: str) -> int | None:
        row = await self._pool.fetchone(Q.oldest_message_at, (workflow_id, topic))
        return int(row[0]) if row else None

    async def park_select(
        self, workflow_id: str, epoch: int, resume_at: int, wait_keys: list[str], now: int
    ) -> bool:
        return await park_select(self._pool, workflow_id, epoch, resume_at, wait_keys)

    async def resume_parked(self, workflow_id: str, at: int) -> bool:
        return await self._pool.fetchone(_RESUME_PARKED, (at, workflow_id, at)) is not None
