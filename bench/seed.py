"""Seed a store with many finished or parked workflows, in bulk SQL, for store_size.

The rows copy what the engine itself leaves (looked up on a real run of
bench.flows, both stores), only IDs and times vary:

- finished, 8 in 10: bench_three (3 no-op steps, SUCCESS);
- finished, 1 in 10: bench_events(1, 0.0) (a step, a SET_EVENT step, one event);
- finished, 1 in 10: bench_wait that got its message (a step, a RECV step, the
  consumed message, its recv's wait row, which the engine keeps);
- parked: bench_wait waiting in recv("go", timeout=3600), slot given back:
  PENDING, no owner, wait_key "msg:go", resume_at its deadline, one step, a wait row.

Workflow IDs are 36-character UUID-shaped strings, scattered over the key space
as uuid4's are (a multiplicative hash of the row number, which ends the ID so
they stay unique). Finished workflows are spread over the weeks before now;
parked ones over the last minutes, so their deadlines are still ahead. One
transaction (SQLite) or a few statements (PostgreSQL) each; ANALYZE afterwards,
as a long-lived database would have.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import psycopg

FINISHED_SPACING_MS = 2000  # 1,000,000 finished: about 23 days of history
PARKED_WINDOW_MS = 10 * 60 * 1000
RECV_TIMEOUT_MS = 3600 * 1000
WORKER_ID = "seed-1-000000"  # a worker_id as the engine stamps it (host-pid-hex)
WAIT_INPUT = '{"args":["m"],"kwargs":{}}'


class Dialect:
    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres

    def hex(self, expr: str, width: int) -> str:
        return f"lpad(to_hex({expr}), {width}, '0')" if self.postgres else f"printf('%0{width}x', {expr})"

    def blob(self, text: str) -> str:
        return f"convert_to('{text}', 'UTF8')" if self.postgres else f"CAST('{text}' AS BLOB)"

    def series(self, lo: int, hi: int) -> str:
        """Rows i = lo .. hi-1, as a FROM clause."""
        if self.postgres:
            return f"generate_series({lo}::bigint, {hi - 1}) AS s(i)"
        return (f"(WITH RECURSIVE s(i) AS (SELECT {lo} UNION ALL SELECT i + 1 FROM s WHERE i < {hi - 1}) "
                "SELECT i FROM s) AS s")

    def workflow_id(self, i: str = "i") -> str:
        h = self.hex
        return (f"{h(f'({i} * 2654435761) % 4294967296', 8)} || '-' || {h(f'({i} * 40503) % 65536', 4)} "
                f"|| '-4' || {h(f'({i} * 7919) % 4096', 3)} || '-a' || {h(f'({i} * 104729) % 4096', 3)} "
                f"|| '-' || {h(i, 12)}")


WF_COLUMNS = ("workflow_id, name, status, input_encoding, input, output_encoding, output, created_at, "
              "updated_at, epoch, step_seq, resume_at, wait_key")
STEP_COLUMNS = ("workflow_id, step_number, name, kind, output_encoding, output, attempt, epoch, "
                "started_at, completed_at, completion_seq, worker_token, worker_id")


def finished_statements(d: Dialect, lo: int, hi: int, t0: int) -> list[str]:
    """INSERTs of finished workflows lo..hi-1; workflow i was created at t0 + i * spacing."""
    wid, s = d.workflow_id(), d.series(lo, hi)
    c = f"({t0} + i * {FINISHED_SPACING_MS})"
    kinds = {  # i % 10 -> (name, input, output, epoch, step_seq, updated_at offset)
        "three": ("i % 10 < 8", "bench_three", '{"args":[],"kwargs":{}}', "3", 1, 3, 15),
        "events": ("i % 10 = 8", "bench_events", '{"args":[1,0.0],"kwargs":{}}', "[0.0027827979999983654]",
                   1, 2, 11),
        "wait": ("i % 10 = 9", "bench_wait", WAIT_INPUT, '"hello"', 3, 2, 2022),
    }
    out = []
    for where, name, inp, output, epoch, seq, dt in kinds.values():
        out.append(
            f"INSERT INTO workflows ({WF_COLUMNS}) SELECT {wid}, '{name}', 'SUCCESS', 'json', {d.blob(inp)}, "
            f"'json', {d.blob(output)}, {c}, {c} + {dt}, {epoch}, {seq}, NULL, NULL FROM {s} WHERE {where}")

    def steps(where: str, number: int, name: str, kind: str, output: str, epoch: int, at: int) -> str:
        return (f"INSERT INTO steps ({STEP_COLUMNS}) SELECT {wid}, {number}, '{name}', '{kind}', 'json', "
                f"{d.blob(output)}, 0, {epoch}, {c} + {at}, {c} + {at + 1}, {number + 1}, '', '{WORKER_ID}' "
                f"FROM {s} WHERE {where}")

    out += [steps("i % 10 < 8", n, "bench_noop", "STEP", "null", 1, 5 + 3 * n) for n in range(3)]
    out += [steps("i % 10 = 8", 0, "bench_tick", "STEP", "1", 1, 4),
            steps("i % 10 = 8", 1, "e1", "SET_EVENT", "1795334784.3736925", 1, 8),
            steps("i % 10 = 9", 0, "bench_mark", "STEP", "null", 1, 4),
            steps("i % 10 = 9", 1, "go", "RECV", '"hello"', 3, 2020)]
    out += [
        "INSERT INTO events (workflow_id, seq, key, value_encoding, value, step_number, created_at) "
        f"SELECT {wid}, 1, 'e1', 'json', {d.blob('1795334784.3736925')}, 1, {c} + 8 "
        f"FROM {s} WHERE i % 10 = 8",
        "INSERT INTO messages (workflow_id, topic, encoding, data, idempotency_key, created_at, "
        f"consumed_at, consumed_step) SELECT {wid}, 'go', 'json', {d.blob(chr(34) + 'hello' + chr(34))}, "
        f"'client:client:' || {wid}, {c} + 2009, {c} + 2020, 1 FROM {s} WHERE i % 10 = 9",
        f"INSERT INTO waits (workflow_id, step_number, deadline_at) "
        f"SELECT {wid}, 1, {c} + 6 + {RECV_TIMEOUT_MS} FROM {s} WHERE i % 10 = 9",
    ]
    return out


def parked_statements(d: Dialect, lo: int, hi: int, t0: int) -> list[str]:
    """INSERTs of parked workflows lo..hi-1, created from t0 on over PARKED_WINDOW_MS."""
    wid, s = d.workflow_id(), d.series(lo, hi)
    c = f"({t0} + (i - {lo}) * {PARKED_WINDOW_MS} / {max(1, hi - lo)})"
    resume = f"{c} + 19 + {RECV_TIMEOUT_MS}"
    return [
        f"INSERT INTO workflows ({WF_COLUMNS}) SELECT {wid}, 'bench_wait', 'PENDING', 'json', "
        f"{d.blob(WAIT_INPUT)}, NULL, NULL, {c}, {c} + 6, 2, 1, {resume}, 'msg:go' "
        f"FROM {s}",
        f"INSERT INTO steps ({STEP_COLUMNS}) SELECT {wid}, 0, 'bench_mark', 'STEP', 'json', "
        f"{d.blob('null')}, 0, 1, {c} + 4, {c} + 6, 1, '', '{WORKER_ID}' FROM {s}",
        f"INSERT INTO waits (workflow_id, step_number, deadline_at) SELECT {wid}, 1, {resume} FROM {s}",
    ]


def seed(url: str, finished: int = 0, parked: int = 0, first: int = 0) -> dict[str, Any]:
    """Add `finished` and `parked` workflows (row numbers from `first` on) to the
    store at `url`, then ANALYZE; the seconds each part took."""
    now = int(time.time() * 1000)
    d = Dialect(url.startswith("postgres"))
    t_finished = now - 3600 * 1000 - finished * FINISHED_SPACING_MS - first * FINISHED_SPACING_MS
    statements = (finished_statements(d, first, first + finished, t_finished) if finished else []) + \
        (parked_statements(d, first + finished, first + finished + parked, now - PARKED_WINDOW_MS)
         if parked else [])
    # Each INSERT in key order (ORDER BY 1): appending to a B-tree is far
    # cheaper than inserting at scattered places, and the IDs are scattered.
    t0 = time.monotonic()
    if d.postgres:
        with psycopg.connect(url, autocommit=True) as conn:
            for sql in statements:
                conn.execute(sql + " ORDER BY 1")  # no parameters: "%" is plain text
            insert_s = time.monotonic() - t0
            conn.execute("VACUUM ANALYZE")
    else:
        db = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=5000")
            db.execute("PRAGMA cache_size=-524288")  # 512 MiB: the B-trees being filled stay in memory
            db.execute("BEGIN IMMEDIATE")
            for sql in statements:
                db.execute(sql + " ORDER BY 1")
            db.execute("COMMIT")
            insert_s = time.monotonic() - t0
            db.execute("ANALYZE")
        finally:
            db.close()
    return {"insert_s": round(insert_s, 1), "analyze_s": round(time.monotonic() - t0 - insert_s, 1)}
