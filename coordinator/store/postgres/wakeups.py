"""Wake-ups between coordinators sharing a PostgreSQL database: the advisory
locks that keep a wake-up from being lost to a concurrent park, and the NOTIFY
notes on the "keel" channel that tell the others what changed."""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg

from ..sql.queries import POSTGRES
from ..sql.rows import Columns

# LISTEN/NOTIFY channel shared by every coordinator on the database.
CHANNEL = "keel"

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
# waited for (wait_lock), and read only in statements started after taking
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


def wait_lock(wait_key: str, workflow_id: str) -> int:
    """A 64-bit advisory lock ID for what a waiter on `wait_key` waits for.

    Event keys name their workflow already; message keys ("msg:<topic>") are
    per destination, so it is added."""
    name = wait_key if wait_key.startswith("event:") else f"{len(workflow_id)}:{workflow_id}:{wait_key}"
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


# Takes a wait lock (or the migration lock) until the transaction ends.
LOCK = "SELECT pg_advisory_xact_lock(%s)"
# The lock of a send, and its destination's status (NULL: no such workflow),
# in one round trip.
LOCK_AND_FIND = "SELECT pg_advisory_xact_lock(%s), (SELECT status FROM workflows WHERE workflow_id = %s)"
# The parking workflow's own row, locked first (see above).
LOCK_PARKING = POSTGRES.render(
    "SELECT 1 FROM workflows WHERE workflow_id = ? AND epoch = ? AND status = 'PENDING' FOR UPDATE")


def notifying(sql: str, columns: Columns, note: str) -> str:
    """`sql`, an UPDATE or INSERT ... RETURNING `columns`, made to also NOTIFY
    `note` (an SQL expression over those columns) for each row it returns."""
    return f"WITH u AS ({sql}) SELECT {columns.of('u')}, pg_notify('{CHANNEL}', {note}) FROM u"


def waking(sql: str) -> str:
    """`sql`, a wake-up UPDATE, made to NOTIFY its note (the last parameter,
    always) and "work" too if it woke anyone."""
    return (f"WITH woken AS ({sql} RETURNING 1) SELECT pg_notify('{CHANNEL}', %s), "
            f"(SELECT pg_notify('{CHANNEL}', 'work') WHERE EXISTS (SELECT 1 FROM woken))")


async def notify(conn: psycopg.AsyncConnection[Any], *notes: str) -> None:
    """NOTIFY listeners (delivered at commit, dropped on rollback)."""
    await conn.execute(f"SELECT pg_notify('{CHANNEL}', n) FROM unnest(%s::text[]) AS n", (list(notes),))
