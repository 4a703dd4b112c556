"""The floor of one step: one round trip on an open gRPC stream plus one commit.

A step recorded by a workflow costs at least one message to the coordinator
and its answer on the worker's open stream, and one commit of the step's row.
Measured here with nothing of ours in the way, so `seq_steps` can print its
per-step time beside them:

- floor (the target's): the smallest coordinator there is, an echo servicer
  (grpc.aio, a bidi-stream method on bytes through a generic handler, no
  proto) in a subprocess of the same interpreter that commits one row the
  size of a step record before it answers each message, on the store's own
  terms (SQLite: the coordinator's pragmas, WAL and synchronous=FULL, in a
  temp file, committed on the servicer's loop; PostgreSQL: psycopg's async
  connection in autocommit mode on a throwaway database); driven by a client
  as the worker drives its stream: a sync channel with the worker's options,
  requests fed from a queue by gRPC's iterator, answers read by a thread of
  their own and handed to the waiting thread by an Event.
- its parts, each alone and back to back: rtt, the same round trip to a
  servicer that only echoes; commit, the same row committed one after the
  other. Their sum is lower than the floor: alone, neither side ever waits
  for the other, while in a step the servicer sleeps through the round trip
  and the store through the servicer's turn (on PostgreSQL the floor
  measured 1.10-1.15 ms against parts of 0.83).

    python -m bench.floor --store sqlite      # prints the figures
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import queue
import select
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import ROOT, med

SERVICE = "keel.bench.Echo"
METHOD = f"/{SERVICE}/Echo"
# About a RecordStep of a no-op step and its Reply (workflow id, numbers, a null payload).
MESSAGE_BYTES = 128
READY_TIMEOUT_S = 20.0

STEP_TABLE = """CREATE TABLE steps (
    workflow_id        TEXT NOT NULL,
    step_number        INTEGER NOT NULL,
    name               TEXT NOT NULL,
    kind               TEXT NOT NULL,
    output_encoding    TEXT,
    output             {blob},
    error_type         TEXT,
    error_message      TEXT,
    error_details      TEXT,
    attempt            INTEGER NOT NULL,
    epoch              BIGINT NOT NULL,
    started_at         BIGINT NOT NULL,
    completed_at       BIGINT NOT NULL,
    completion_seq     BIGINT NOT NULL,
    select_index       INTEGER,
    select_step_number INTEGER,
    PRIMARY KEY (workflow_id, step_number)
){suffix}"""
STEP_INSERT = ("INSERT INTO steps (workflow_id, step_number, name, kind, output_encoding, output, "
               "attempt, epoch, started_at, completed_at, completion_seq) "
               "VALUES ({m}, {m}, {m}, {m}, {m}, {m}, {m}, {m}, {m}, {m}, {m})")


# The insert in each dialect's placeholders, formatted once: the floor's loops pay no formatting.
SQLITE_INSERT = STEP_INSERT.format(m="?")
POSTGRES_INSERT = STEP_INSERT.format(m="%s")


def step_row(workflow_id: str, i: int) -> tuple[Any, ...]:
    now_ms = int(time.time() * 1e3)
    return (workflow_id, i, "bench_noop", "step", "json", b"null", 1, 1, now_ms, now_ms, i)


# -- the echo servicer (its own process) ----------------------------------------

def committer(store: str, url: str) -> Callable[[], Awaitable[None]]:
    """Commit one step row, then the next, on `store` at `url` (created here)."""
    workflow_id, numbers = str(uuid.uuid4()), itertools.count(1)
    if store == "sqlite":
        db = sqlite_connect(Path(url))

        async def commit_sqlite() -> None:
            sqlite_commit(db, step_row(workflow_id, next(numbers)))

        return commit_sqlite
    import psycopg

    conn: psycopg.AsyncConnection[Any] | None = None

    async def commit_postgres() -> None:
        nonlocal conn
        if conn is None:  # the first time, on the servicer's loop
            conn = await postgres_connect(url)
        await conn.execute(POSTGRES_INSERT, step_row(workflow_id, next(numbers)))

    return commit_postgres


def serve(port: int, store: str | None, url: str | None) -> None:
    """Echo each message; with a store, commit a step row before each answer."""
    import grpc

    async def main() -> None:
        commit = committer(store, url) if store and url else None
        if commit is not None:
            await commit()  # connected and the table made before "ready"

        async def echo(requests: Any, context: Any) -> Any:
            async for message in requests:
                if commit is not None:
                    await commit()
                yield message

        server = grpc.aio.server()
        # No (de)serializers: the method takes and gives bytes.
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            SERVICE, {"Echo": grpc.stream_stream_rpc_method_handler(echo)}),))
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        print("ready", flush=True)
        await server.wait_for_termination()

    asyncio.run(main())


def start_echo(store: str | None = None, url: str | None = None) -> tuple[subprocess.Popen[str], str]:
    from tests.harness import free_port

    port = free_port()
    args = ["--serve", str(port)] + (["--store", store, "--url", url] if store and url else [])
    proc = subprocess.Popen([sys.executable, "-m", "bench.floor", *args],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT_S)
    if not ready or proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError(f"the echo servicer did not start within {READY_TIMEOUT_S} s")
    return proc, f"127.0.0.1:{port}"


# -- one round trip, as the worker's stream does it ----------------------------------

def rtt_samples(address: str, n: int, warmup: int = 200) -> list[float]:
    import grpc

    from worker._transport import channel  # the worker's channel options

    ch = channel(address)
    outbox: queue.Queue[bytes | None] = queue.Queue()
    waiting: dict[int, threading.Event] = {}
    lock = threading.Lock()

    def requests() -> Iterator[bytes]:
        while (message := outbox.get()) is not None:
            yield message

    responses = ch.stream_stream(METHOD)(requests())

    def read() -> None:
        try:
            for message in responses:
                seq = int.from_bytes(message[:8], "big")
                with lock:
                    done = waiting.pop(seq, None)
                if done is not None:
                    done.set()
        except grpc.RpcError:
            pass  # cancelled below, on the way out after a failure

    reader = threading.Thread(target=read, name="floor-reader", daemon=True)
    reader.start()
    pad = bytes(MESSAGE_BYTES - 8)
    samples = []
    try:
        for seq in range(warmup + n):
            done = threading.Event()
            t0 = time.perf_counter()
            with lock:
                waiting[seq] = done
            outbox.put(seq.to_bytes(8, "big") + pad)
            if not done.wait(10):
                raise RuntimeError(f"no echo of message {seq} within 10 s")
            samples.append(time.perf_counter() - t0)
    finally:
        outbox.put(None)  # the servicer ends the stream when the requests end
        reader.join(5)
        responses.cancel()
        ch.close()
    return samples[warmup:]


def rtt_ms_samples(n: int, store: str | None = None, url: str | None = None) -> list[float]:
    """Round trips in ms; with a store, each one commits a step row (the floor)."""
    proc, address = start_echo(store, url)
    try:
        return [s * 1e3 for s in rtt_samples(address, n)]
    finally:
        proc.kill()
        proc.wait(10)


def rtt_ms(n: int, store: str | None = None, url: str | None = None) -> float:
    """Median round trip; with a store, each one commits a step row."""
    return med(rtt_ms_samples(n, store, url))


def per_run(samples: list[float], run: int) -> float:
    """As seq_steps times a step: the median, over consecutive runs of `run`
    round trips, of a run's mean (a workflow's time over its steps)."""
    runs = [samples[i:i + run] for i in range(0, len(samples) - run + 1, run)]
    return med([sum(r) / len(r) for r in runs])


# -- one commit ----------------------------------------------------------------

def sqlite_connect(path: Path) -> sqlite3.Connection:
    # The coordinator's pragmas (coordinator/store/sqlite/store.py).
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=5000")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute(STEP_TABLE.format(blob="BLOB", suffix=" WITHOUT ROWID"))
    return db


def sqlite_commit(db: sqlite3.Connection, row: tuple[Any, ...]) -> None:
    # The coordinator's writer's transaction (BEGIN IMMEDIATE ... COMMIT, group_commit.py).
    db.execute("BEGIN IMMEDIATE")
    db.execute(SQLITE_INSERT, row)
    db.execute("COMMIT")


def sqlite_commit_samples(path: Path, n: int, warmup: int = 20) -> list[float]:
    db = sqlite_connect(path)
    try:
        workflow_id = str(uuid.uuid4())
        samples = []
        for i in range(warmup + n):
            t0 = time.perf_counter()
            sqlite_commit(db, step_row(workflow_id, i))
            samples.append(time.perf_counter() - t0)
        return samples[warmup:]
    finally:
        db.close()


async def postgres_connect(url: str) -> Any:
    import psycopg

    # As the coordinator's pool: autocommit, so one statement is one commit.
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=5)
    await conn.execute(STEP_TABLE.format(blob="BYTEA", suffix=""))
    return conn


async def postgres_commit_samples(url: str, n: int, warmup: int = 20) -> list[float]:
    async with await postgres_connect(url) as conn:
        workflow_id = str(uuid.uuid4())
        samples = []
        for i in range(warmup + n):
            t0 = time.perf_counter()
            await conn.execute(POSTGRES_INSERT, step_row(workflow_id, i))
            samples.append(time.perf_counter() - t0)
        return samples[warmup:]


@contextmanager
def throwaway(store: str) -> Iterator[str]:
    """A new SQLite file's path or PostgreSQL database's URL, gone afterwards."""
    from bench.cluster import store as fresh_store

    with tempfile.TemporaryDirectory(prefix=f"keel-bench-floor-{store}-") as tmp:
        if store == "sqlite":
            yield str(Path(tmp) / "floor.db")
        else:
            with fresh_store(store, Path(tmp)) as url:
                yield url


def commit_ms(store: str, n: int) -> float:
    with throwaway(store) as url:
        if store == "sqlite":
            samples = sqlite_commit_samples(Path(url), n)
        else:
            samples = asyncio.run(postgres_commit_samples(url, n))
    return med(samples) * 1e3


def measure(store: str, quick: bool, run: int = 200) -> dict[str, Any]:
    """2000 round trips, each committing a step row: floor_ms, the median of
    their means over runs of `run` (seq_steps' figure is a workflow of `run`
    steps' time over its steps: a mean too, median of the runs), and
    floor_median_ms, the median round trip; then the parts alone:
    floor_rtt_ms (2000 round trips), floor_commit_ms (500 commits) and
    floor_parts_ms, their sum; fewer with `quick`."""
    n_rtt, n_commit = (500, 100) if quick else (2000, 500)
    with throwaway(store) as url:
        steps = rtt_ms_samples(n_rtt, store, url)
    rtt = rtt_ms(n_rtt)
    commit = commit_ms(store, n_commit)
    return {"floor_ms": round(per_run(steps, min(run, n_rtt)), 3), "floor_median_ms": round(med(steps), 3),
            "floor_rtt_ms": round(rtt, 3), "floor_commit_ms": round(commit, 3),
            "floor_parts_ms": round(rtt + commit, 3),
            "floor_n": {"step": n_rtt, "rtt": n_rtt, "commit": n_commit, "run": min(run, n_rtt)}}


def main() -> None:
    p = argparse.ArgumentParser(prog="bench.floor", description="The floor of one step, alone.")
    p.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the echo subprocess
    p.add_argument("--url", help=argparse.SUPPRESS)  # the echo subprocess's store
    args = p.parse_args()
    if args.serve:
        serve(args.serve, args.store if args.url else None, args.url)
        return
    print(json.dumps({"store": args.store, **measure(args.store, args.quick)}))


if __name__ == "__main__":
    main()
