"""The plans of the hot paths' queries on a seeded store (issue 17, target 4).

    .venv/bin/python -m bench.plans --store sqlite --finished 1000000 --parked 100000
    .venv/bin/python -m bench.plans --store postgres --url postgresql://... --no-seed

Seeds a store (bench/seed.py; a fresh one unless --url/--no-seed), then prints
each statement's plan (SQLite: EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN
(ANALYZE, BUFFERS)) and its time, every write rolled back. A plan that walks
finished or parked rows shows as a time that grows with the store.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from bench.cluster import store as fresh_store
from bench.seed import seed
from coordinator.store import store_from_url
from coordinator.store.sql.claims import claim_params, claimable_params
from coordinator.store.sql.queries import POSTGRES, SQLITE, Queries, page_params
from coordinator.store.sql.queues import QueueQueries

NAMES = ["bench_three", "bench_wait", "bench_events", "bench_pid", "bench_seq"]
OWNER = "plans-node"


def statements(postgres: bool, now: int) -> list[tuple[str, str, tuple[Any, ...]]]:
    """(label, sql, params) of every query on the hot paths and the loops' ticks."""
    d = POSTGRES if postgres else SQLITE
    q, qq = Queries(d), QueueQueries(d)
    names, ids = d.list_param(NAMES), d.list_param(["00000000-0000-4000-a000-000000000000"])
    lease, wid = now + 30_000, "plans-0000"
    sdk, sdk_params = q.list_workflows_params(None, None, 51, None, None, None)
    sdk_s, sdk_s_params = q.list_workflows_params("SUCCESS", None, 51, None, None, None)
    sdk_2, sdk_2_params = q.list_workflows_params(None, None, 51, None, None, (now - 86_400_000, "f"))
    return [
        ("start: create_workflow", q.create_workflow,
         (wid, "bench_three", "json", b"{}", now, now, None, OWNER, lease, 1, None)),
        ("dispatch: claim_workflows", q.claim_workflows, claim_params(names, now, 32, OWNER, lease)),
        ("dispatch: has_claimable", q.has_claimable, claimable_params(names, now)),
        ("dispatch: claim_tasks", q.claim_tasks, (names, now, 32, OWNER, lease, now)),
        ("step: next_step_seq", q.next_step_seq, (now, wid, 1)),
        ("finish: finish_workflow", q.finish_workflow[True],
         ("SUCCESS", "json", b"3", None, None, None, now, wid, 1)),
        ("list: SDK first page", sdk, sdk_params),
        ("list: SDK first page, status SUCCESS", sdk_s, sdk_s_params),
        ("list: SDK page after a cursor", sdk_2, sdk_2_params),
        ("list: console first page", q.list_workflows_page[False, False, False],
         page_params(None, None, None, 51)),
        ("console: count_pending", q.count_pending, ()),
        ("leases: renew_leases", q.renew_leases, (lease, OWNER, ids)),
        ("recovery: release_all", q.release_all, (OWNER,)),
        ("recovery: delete_dead_tasks", q.delete_dead_tasks, ()),
        ("liveness: dead_nodes", q.dead_nodes, (now - 3000,)),
        ("deadlines: expire_deadlines", q.expire_deadlines, (now, now)),
        ("step timeouts: expired_tasks", q.expired_tasks, (now,)),
        ("schedules: due_schedules", q.due_schedules, (now, 100)),
        ("retention: pick_finished (30 days)", q.pick_finished, (now - 30 * 86_400_000, 100)),
        ("wake: wake_event_waiters", q.wake_event_waiters, (now, "event:4:wf-1:k", now)),
        ("wake: wake_message_waiter", q.wake_message_waiter, (now, wid, "msg:go", now)),
        ("queues: lock_queues", qq.lock_queues, (names,)),
        ("queues: enqueue room", qq.room, ("q",)),
    ]


def explain_sqlite(path: str, now: int) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    for label, sql, params in statements(False, now):
        plan = db.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        db.execute("BEGIN")
        t0 = time.perf_counter()
        db.execute(sql, params).fetchall()
        took = (time.perf_counter() - t0) * 1e3
        db.execute("ROLLBACK")
        print(f"\n== {label}: {took:.2f} ms")
        for row in plan:
            print("   ", row[-1])
    db.close()


def explain_postgres(url: str, now: int) -> None:
    with psycopg.connect(url) as conn:
        for label, sql, params in statements(True, now):
            with conn.transaction(force_rollback=True):
                rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()
            took = next((r[0] for r in rows if r[0].startswith("Execution Time")), "")
            print(f"\n== {label}: {took}")
            for (line,) in rows:
                if not line.startswith(("Planning", "Execution")):
                    print("   ", line)


async def migrate(url: str) -> None:
    """The schema, as a coordinator makes it."""
    s = store_from_url(url)
    await s.open()
    await s.close()


@contextmanager
def target(store: str, url: str | None) -> Iterator[str]:
    if url:
        asyncio.run(migrate(url))
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="keel-plans-") as tmp, fresh_store(store, Path(tmp)) as u:
        asyncio.run(migrate(u))
        yield u


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--url", help="a store kept afterwards, migrated first (else a fresh one, dropped)")
    p.add_argument("--finished", type=int, default=1_000_000)
    p.add_argument("--parked", type=int, default=100_000)
    p.add_argument("--no-seed", action="store_true")
    args = p.parse_args()
    with target(args.store, args.url) as url:
        if not args.no_seed:
            print("seeded:", seed(url, finished=args.finished, parked=args.parked))
        now = int(time.time() * 1000)
        if url.startswith("postgres"):
            explain_postgres(url, now)
        else:
            explain_sqlite(url.removeprefix("sqlite:///"), now)


if __name__ == "__main__":
    main()
