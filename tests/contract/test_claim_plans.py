"""The claim reads as many index entries as it claims, however long the backlog.

A claim that sorted its candidates (ORDER BY an expression no index gives)
read every unowned workflow at each call: with 50,000 started and not yet
running, 21 ms a claim on SQLite and 57 ms on PostgreSQL, and the
coordinator spent its time there. These tests read the plan of the claim on
a backlog: the branch of unowned workflows walks workflows_claimable in its
order, with no sort of its own. Plans, not timings: they hold on any machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from typing import Any

import psycopg
import pytest

from coordinator.store import migrate
from coordinator.store.sql.claims import claim_params, claimable_params
from coordinator.store.sql.queries import POSTGRES, SQLITE, Queries

BACKLOG = 20_000  # enough that PostgreSQL's planner would rather not sort it
NAMES = ["wf"]


def _backlog_sql(series: str, empty_json: str, apart_ms: int = 1) -> str:
    """Unowned PENDING workflows, neither parked nor running: started (`apart_ms`
    after each other), waiting for a slot."""
    created = f"1000 + {apart_ms} * i"
    return ("INSERT INTO workflows (workflow_id, name, status, input_encoding, input, created_at, "
            f"updated_at) SELECT 'w-' || i, 'wf', 'PENDING', 'json', {empty_json}, {created}, {created} "
            f"FROM {series}")


@pytest.mark.parametrize("waiting", ["started", "due"])
def test_sqlite_claim_walks_its_index_in_order(sqlite_url: str, waiting: str) -> None:
    """`started`: a backlog waiting for a slot, read in workflows_claimable's
    order; `due`: parked and all woken at once (by what they waited for),
    read in workflows_resume's order. Either way no sort of its own, and the
    claim takes `limit` of them."""
    asyncio.run(migrate(sqlite_url))
    now = int(time.time() * 1000)
    q = Queries(SQLITE).claim_workflows
    params = claim_params(SQLITE.list_param(NAMES), now, 16, "node-1", now + 30_000)
    index = "workflows_claimable" if waiting == "started" else "workflows_resume"
    with contextlib.closing(sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))) as db:
        db.execute(_backlog_sql(f"(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s "
                                f"WHERE i < {BACKLOG}) SELECT i FROM s)", "x'7b7d'"))
        if waiting == "due":
            db.execute("UPDATE workflows SET resume_at = ? - created_at, wait_key = 'msg:go'", (now,))
        db.commit()
        plan = db.execute("EXPLAIN QUERY PLAN " + q, params).fetchall()
        [scan] = [row for row in plan if f"USING INDEX {index}" in row[3]]
        siblings = [row[3] for row in plan if row[1] == scan[1]]
        # Not even "FOR RIGHT PART OF ORDER BY" (a sort of ties).
        assert not any("TEMP B-TREE" in d for d in siblings), siblings
        claimed = sorted(row[0] for row in db.execute(q, params).fetchall())
    oldest = range(1, 17) if waiting == "started" else range(BACKLOG - 15, BACKLOG + 1)
    assert claimed == sorted(f"w-{i}" for i in oldest)


@pytest.mark.parametrize("waiting", ["started", "parked", "due"])
def test_postgres_claim_walks_the_claimable_index_in_order(pg_url: str, waiting: str) -> None:
    """`started`: a backlog waiting for a slot; `parked`: nothing to claim
    among many parked, where the planner once walked every PENDING row of
    workflows_by_status instead; `due`: parked and all woken at once. With
    statistics (ANALYZE, as autovacuum keeps them)."""
    asyncio.run(migrate(pg_url))
    now = int(time.time() * 1000)
    q = Queries(POSTGRES).claim_workflows
    params = claim_params(POSTGRES.list_param(NAMES), now, 16, "node-1", now + 30_000)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(_backlog_sql(f"generate_series(1, {BACKLOG}) AS s(i)", "'\\x7b7d'::bytea"))
        if waiting != "started":  # parked; "due": all woken at once, as by 20,000 messages
            at = now + 3_600_000 if waiting == "parked" else now
            conn.execute("UPDATE workflows SET resume_at = %s - created_at, wait_key = 'msg:go'", (at,))
        conn.execute("VACUUM ANALYZE workflows")
        plan = [row[0] for row in conn.execute("EXPLAIN " + q, params).fetchall()]
        # The first CTE (k0) is the unowned branch; it ends where the next begins.
        start = next(i for i, line in enumerate(plan) if "CTE k0" in line)
        end = next(i for i, line in enumerate(plan) if "CTE k1" in line)
        branch = "\n".join(plan[start:end])
        assert "Index Scan using workflows_claimable_order" in branch, "\n".join(plan)
        assert "Sort" not in branch, "\n".join(plan)
        # The second (k1) is the parked and due, read in resume_at order.
        due = "\n".join(plan[end:next(i for i, line in enumerate(plan) if "CTE k2" in line)])
        assert "Index Scan using workflows_resume" in due, "\n".join(plan)
        assert "Sort" not in due, "\n".join(plan)
        probe = Queries(POSTGRES).has_claimable
        probe_plan = "\n".join(row[0] for row in conn.execute(
            "EXPLAIN " + probe, claimable_params(POSTGRES.list_param(NAMES), now)).fetchall())
        assert "Index Scan using workflows_claimable_order" in probe_plan, probe_plan
        assert "Index Scan using workflows_resume" in probe_plan, probe_plan
        assert "Sort" not in probe_plan, probe_plan
        more = conn.execute(probe, claimable_params(POSTGRES.list_param(NAMES), now)).fetchall()
        claimed = conn.execute(q, params).fetchall()
    assert len(claimed) == (0 if waiting == "parked" else 16)
    assert bool(more) == (waiting != "parked")



def _buffers(plan: object, index: str) -> int:
    """Shared buffers (hit or read) of the plan's scan of `index`."""
    if isinstance(plan, list):
        return sum(_buffers(p, index) for p in plan)
    if not isinstance(plan, dict):
        return 0
    if plan.get("Index Name") == index:
        return int(plan["Shared Hit Blocks"]) + int(plan["Shared Read Blocks"])
    return sum(_buffers(p, index) for p in plan.get("Plans", [])) + _buffers(plan.get("Plan"), index)


def _claimed_backlog(conn: psycopg.Connection[Any], now: int) -> int:
    """BACKLOG workflows started 3 ms apart, all but the newest 16 claimed
    (their leases live for an hour); autovacuum off for the table, so the
    claimed ones' entries stay in workflows_claimable, dead. Returns the
    created_at of the oldest left unowned."""
    oldest_left = 1000 + 3 * (BACKLOG - 15)
    conn.execute("ALTER TABLE workflows SET (autovacuum_enabled = false)")
    conn.execute(_backlog_sql(f"generate_series(1, {BACKLOG}) AS s(i)", "'\\x7b7d'::bytea", 3))
    conn.execute("VACUUM ANALYZE workflows")
    # Leases apart as their claims were (equal keys would share one index entry).
    conn.execute("UPDATE workflows SET owner = 'gone', lease_until = %s + created_at WHERE created_at < %s",
                 (now + 3_600_000, oldest_left))
    return oldest_left


def _claim_reads(conn: psycopg.Connection[Any], params: tuple[Any, ...], index: str) -> int:
    """The buffers the claim's scan of `index` reads, the second time (the
    first marks the dead entries it meets); claims nothing (rolled back) but
    checks that it would claim the 16 left."""
    q = Queries(POSTGRES).claim_workflows
    for _ in range(2):
        with conn.transaction(force_rollback=True):
            [[plan]] = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + q, params).fetchall()
    with conn.transaction(force_rollback=True):
        assert len(conn.execute(q, params).fetchall()) == 16
    return _buffers(plan, index)


def test_postgres_claim_from_its_floor_skips_the_entries_the_claimed_left(pg_url: str) -> None:
    """Every workflow claimed leaves a dead entry in workflows_claimable until
    VACUUM; a claim from the start of the index reads them all, one from the
    floor (the oldest claimed last, less the margin: claim_floor.py) only
    those of the last second. Buffers, not time: they hold on any machine."""
    from coordinator.store.postgres.claim_floor import MARGIN_MS

    asyncio.run(migrate(pg_url))
    now = int(time.time() * 1000)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        oldest_left = _claimed_backlog(conn, now)
        unfloored, floored = (
            _claim_reads(conn, claim_params(POSTGRES.list_param(NAMES), now, 16, "node-1", now + 30_000,
                                            floor), "workflows_claimable_order")
            for floor in (0, oldest_left - 3 - MARGIN_MS))  # the oldest claimed last, less the margin
    assert unfloored > 50, (unfloored, floored)  # the dead entries are there to read
    assert floored * 5 < unfloored, (unfloored, floored)


def test_postgres_claim_not_asked_for_leases_reads_no_owned_entry(pg_url: str) -> None:
    """Run-out leases are looked for through workflows_owned (owner,
    lease_until), which holds an entry for every workflow running: read
    whole. A claim not asked for them (the engine asks once per poll
    interval) reads none of it."""
    asyncio.run(migrate(pg_url))
    now = int(time.time() * 1000)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        _claimed_backlog(conn, now)
        looked, not_looked = (
            _claim_reads(conn, claim_params(POSTGRES.list_param(NAMES), now, 16, "node-1", now + 30_000,
                                            leases=leases), "workflows_owned")
            for leases in (True, False))
    assert looked > 50, (looked, not_looked)  # 19,984 running: their entries are read
    assert not_looked == 0, (looked, not_looked)
