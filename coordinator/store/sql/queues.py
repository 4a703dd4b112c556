"""Queues on both SQL stores, written once: the statements, and the two
transactions that must hold across coordinators (enqueue, dequeue) as plans.

A plan is free of I/O, like the migration runner's (migrate.py): it yields
each statement as (sql, params) and is sent back its rows; each store drives
it inside one transaction of its own (SQLite's writer thread; a psycopg
transaction). Limits are exact because every dequeue of a queue first locks
the queue's row (PostgreSQL `FOR UPDATE`; SQLite has one writer anyway) and
only then counts what runs: no two dequeues of one queue overlap, and nothing
else makes a workflow of the queue PENDING.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...core.records import EnqueueResult, NewQueued, QueueRecord, QueueState, WorkflowRecord
from .migrate import Plan
from .queries import Dialect
from .rows import WORKFLOW, Columns, workflow_from_row

QUEUE = Columns(
    "name", "concurrency", "worker_concurrency", "rate_limit", "rate_period_ms",
    "partition_concurrency", "created_at", "updated_at")

# With a partition limit, how many waiting workflows one dequeue looks through
# to find ones whose partition has room.
PARTITION_SCAN = 1000

_ACTIVE = "status IN ('ENQUEUED', 'PENDING')"


def queue_from_row(r: Sequence[Any]) -> QueueRecord:
    """A QUEUE row (its columns in QUEUE's order)."""
    return QueueRecord(*r)


def queue_params(q: QueueRecord) -> tuple[Any, ...]:
    return (q.name, q.concurrency, q.worker_concurrency, q.rate_limit, q.rate_period_ms,
            q.partition_concurrency, q.created_at, q.updated_at)


class QueueQueries:
    """Every statement of the queues, as text in one dialect."""

    def __init__(self, d: Dialect) -> None:
        r, q, wf = d.render, QUEUE.sql, WORKFLOW.sql
        self.dialect = d
        updates = ", ".join(f"{c} = excluded.{c}" for c in QUEUE.names if c not in ("name", "created_at"))
        self.set_queue = r(
            f"INSERT INTO queues ({q}) VALUES ({', '.join('?' * len(QUEUE.names))}) "
            f"ON CONFLICT (name) DO UPDATE SET {updates} RETURNING {q}")
        counts = (
            "(SELECT COUNT(*) FROM workflows w WHERE w.queue_name = q.name AND w.status = 'ENQUEUED'), "
            "(SELECT COUNT(*) FROM workflows w WHERE w.queue_name = q.name AND w.status = 'PENDING')")
        self.get_queue = r(f"SELECT {QUEUE.of('q')}, {counts} FROM queues q WHERE q.name = ?")
        self.list_queues = r(f"SELECT {QUEUE.of('q')}, {counts} FROM queues q ORDER BY q.name")
        self.queue_exists = r("SELECT 1 FROM queues WHERE name = ?")
        # One statement on the common path: inserted only if the queue exists;
        # DO NOTHING without a target: a taken ID and a held deduplication ID
        # (the partial unique index) both leave the row out. On PostgreSQL it
        # also tells the other coordinators (NOTIFY "queue").
        seq = ("nextval('workflows_queue_seq')" if d.postgres
               else "(SELECT COALESCE(MAX(queue_seq), 0) + 1 FROM workflows WHERE queue_seq IS NOT NULL)")
        insert = r(
            "INSERT INTO workflows (workflow_id, name, status, input_encoding, input, created_at, "
            "updated_at, epoch, queue_name, priority, deduplication_id, partition_key, timeout_ms, "
            f"queue_seq) SELECT ?, ?, 'ENQUEUED', ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, {seq} "
            "WHERE EXISTS (SELECT 1 FROM queues WHERE name = ?) "
            f"ON CONFLICT DO NOTHING RETURNING {wf}")
        # Whether the queue had room (below its concurrency) when it was read:
        # only then may the new workflow start before a running one ends,
        # whose end wakes every coordinator anyway. Unlocked, so only a hint
        # (a dequeue decides, under the queue's lock): a stale "full" costs at
        # most a wait for the poll.
        room = ("NOT EXISTS (SELECT 1 FROM queues q WHERE q.name = ? AND q.concurrency IS NOT NULL "
                "AND q.concurrency <= (SELECT COUNT(*) FROM workflows w WHERE w.queue_name = q.name "
                "AND w.status = 'PENDING'))")
        self.room = r(f"SELECT {room}")
        # On PostgreSQL the insert also tells the other coordinators (NOTIFY
        # "queue") if there was room; the last two columns: room, the NOTIFY.
        self.enqueue = (
            f"WITH u AS ({insert}), r AS (SELECT {r(room)} AS room) SELECT {WORKFLOW.of('u')}, r.room, "
            "(SELECT pg_notify('keel', 'queue') WHERE r.room) FROM u, r"
            if d.postgres else insert)
        self.get_workflow = r(f"SELECT {wf} FROM workflows WHERE workflow_id = ?")
        self.holder = r(
            f"SELECT {wf} FROM workflows WHERE queue_name = ? AND deduplication_id = ? AND {_ACTIVE}")
        # -- dequeue -----------------------------------------------------------
        # The queues with work for these names, locked in name order (so
        # concurrent dequeues never deadlock), with their limits.
        self.lock_queues = r(
            f"SELECT {q} FROM queues WHERE name IN (SELECT DISTINCT queue_name FROM workflows "
            f"WHERE status = 'ENQUEUED' AND {d.in_list('name')}) ORDER BY name"
            + (" FOR UPDATE" if d.postgres else ""))
        self.count_running = r(
            "SELECT COUNT(*) FROM workflows WHERE queue_name = ? AND status = 'PENDING'")
        self.running_by_partition = r(
            "SELECT partition_key, COUNT(*) FROM workflows WHERE queue_name = ? AND status = 'PENDING' "
            "GROUP BY partition_key")
        self.recent_starts = r(
            "SELECT started_at FROM workflows WHERE queue_name = ? AND started_at > ? "
            "ORDER BY started_at DESC LIMIT ?")
        waiting = (f"SELECT workflow_id{{}} FROM workflows WHERE queue_name = ? AND status = 'ENQUEUED' "
                   f"AND {d.in_list('name')} ORDER BY priority, queue_seq LIMIT ?")
        self.candidates = r(waiting.format(", partition_key"))
        # Parameters: owner, lease_until, now, now, now, then which: a list of
        # workflow IDs (start), or queue, names, limit (start_next).
        start = (
            "UPDATE workflows SET status = 'PENDING', owner = ?, lease_until = ?, epoch = epoch + 1, "
            "updated_at = ?, started_at = ?, deadline_at = CASE WHEN timeout_ms IS NULL THEN NULL "
            "ELSE ? + timeout_ms END WHERE status = 'ENQUEUED' AND ")
        # Each row ends with its priority and queue_seq: their order.
        self.start = r(f"{start}{d.in_list('workflow_id')} RETURNING {wf}, priority, queue_seq")
        self.start_next = r(
            f"{start}workflow_id IN ({waiting.format('')}) RETURNING {wf}, priority, queue_seq")


def state_from_row(r: Sequence[Any]) -> QueueState:
    n = len(QUEUE.names)
    return QueueState(queue_from_row(r[:n]), int(r[n]), int(r[n + 1]))


def enqueue(q: QueueQueries, new: NewQueued) -> Plan[tuple[EnqueueResult, WorkflowRecord | None]]:
    """Create a workflow ENQUEUED (see Store.enqueue_workflow). Each statement
    is atomic by itself: one on the common path (two on SQLite, in its
    writer's transaction), and looks that explain a row left out (a holder
    may end meanwhile: then insert again)."""
    wf = new.workflow
    params = (wf.workflow_id, wf.name, wf.input.encoding, wf.input.data, wf.created_at, wf.created_at,
              new.queue, new.priority, new.deduplication_id, new.partition_key, new.timeout_ms, new.queue)
    for _ in range(3):
        rows = yield q.enqueue, params + ((new.queue,) if q.dialect.postgres else ())
        if rows:
            if q.dialect.postgres:
                room = bool(rows[0][-2])
            else:
                room = bool((yield q.room, (new.queue,))[0][0])
            return (EnqueueResult.CREATED if room else EnqueueResult.CREATED_WAITING,
                    workflow_from_row(rows[0]))
        rows = yield q.get_workflow, (wf.workflow_id,)
        if rows:
            return EnqueueResult.EXISTS, workflow_from_row(rows[0])
        if not (yield q.queue_exists, (new.queue,)):
            return EnqueueResult.NO_QUEUE, None
        if new.deduplication_id is not None:
            rows = yield q.holder, (new.queue, new.deduplication_id)
            if rows:
                return EnqueueResult.DUPLICATE, workflow_from_row(rows[0])
    raise RuntimeError(f"enqueue of {wf.workflow_id!r} conflicted with nothing it could find")


def dequeue(
    q: QueueQueries, names: list[str], limit: int, now: int, owner: str, lease_until: int,
    on_worker: dict[str, int],
) -> Plan[tuple[list[WorkflowRecord], int | None]]:
    """Start enqueued workflows within their queues' limits (see
    Store.dequeue_workflows), in one transaction, each queue's in order."""
    d = q.dialect
    started: list[WorkflowRecord] = []
    retry_at: int | None = None
    if not names or limit <= 0:
        return started, retry_at
    starting = (owner, lease_until, now, now, now)
    for row in (yield q.lock_queues, (d.list_param(names),)):
        if limit <= 0:
            break
        queue = queue_from_row(row)
        free = limit
        if queue.worker_concurrency is not None:
            free = min(free, queue.worker_concurrency - on_worker.get(queue.name, 0))
        if free > 0 and queue.concurrency is not None:
            rows = yield q.count_running, (queue.name,)
            free = min(free, queue.concurrency - int(rows[0][0]))
        if free > 0 and queue.rate_limit is not None and queue.rate_period_ms is not None:
            period = queue.rate_period_ms
            recent = yield q.recent_starts, (queue.name, now - period, queue.rate_limit)
            starts = [int(r[0]) for r in recent]
            free = min(free, queue.rate_limit - len(starts))
            # Once the window is full, the next start may come when its
            # rate_limit-th newest start leaves it.
            window = [now] * max(free, 0) + starts
            if len(window) >= queue.rate_limit:
                at = window[queue.rate_limit - 1] + period
                retry_at = at if retry_at is None else min(retry_at, at)
        if free <= 0:
            continue
        if queue.partition_concurrency is None:
            rows = yield q.start_next, (*starting, queue.name, d.list_param(names), free)
        else:
            running = {key: int(n) for key, n in (yield q.running_by_partition, (queue.name,))}
            picked: list[str] = []
            for workflow_id, key in (yield q.candidates, (queue.name, d.list_param(names), PARTITION_SCAN)):
                if len(picked) >= free:
                    break
                if running.get(key, 0) < queue.partition_concurrency:
                    running[key] = running.get(key, 0) + 1
                    picked.append(workflow_id)
            if not picked:
                continue
            rows = yield q.start, (*starting, d.list_param(picked))
        records = [workflow_from_row(r) for r in sorted(rows, key=lambda r: (r[-2], r[-1]))]
        started.extend(records)
        limit -= len(records)
    return started, retry_at
