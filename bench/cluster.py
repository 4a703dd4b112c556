"""A fresh store and a coordinator on it, for one workload; workers that prove they serve.

Reuses tests/harness.py (real processes, bounded waits). Each workload gets its
own store, so rows left by one never slow another:

- sqlite: a new file in a temp dir;
- postgres: a new database `keel_bench_<hex>` on the server of KEEL_BENCH_PG_URL
  (default postgresql://postgres@127.0.0.1:5432/postgres, used only to create
  and drop it), dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench.common import cpu_seconds
from coordinator.settings import Settings
from tests.harness import Cluster, Proc
from worker import Client

PG_ADMIN_URL = os.environ.get("KEEL_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# Quiet processes: logging is not what we measure. KEEL_BENCH_LOG_LEVEL=DEBUG to debug a workload.
LOG_LEVEL = os.environ.get("KEEL_BENCH_LOG_LEVEL", "WARNING")
FLOWS = "bench.flows"


@contextmanager
def store(backend: str, tmp: Path) -> Iterator[str]:
    """The URL of a new, empty store of kind `backend`, removed afterwards."""
    if backend == "sqlite":
        yield "sqlite:///" + str(tmp / "keel.db")
        return
    if backend != "postgres":
        raise ValueError(f"unknown store {backend!r}: sqlite or postgres")
    name = f"keel_bench_{uuid.uuid4().hex[:16]}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as e:
        raise SystemExit(f"PostgreSQL is not reachable at {PG_ADMIN_URL} (KEEL_BENCH_PG_URL): {e}") from None
    try:
        yield urlunsplit(urlsplit(PG_ADMIN_URL)._replace(path="/" + name))
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def secure(c: Cluster) -> None:
    """Turn on TLS and role tokens for the cluster's coordinator (not yet started),
    its workers (KEEL_TLS_CA, KEEL_TOKEN) and its clients (an admin token)."""
    import contextlib
    import io

    from coordinator.cli import main as coordinator_cli
    from tests.certs import Authority

    ca = Authority(c.tmp, "bench-ca")
    server = ca.issue("server", server=True)

    def token(role: str) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            coordinator_cli(["token", "create", "--db", c.store_url, "--role", role,
                             "--name", f"bench-{role}"])
        return out.getvalue().strip().splitlines()[-1]

    c.flags.update({"tls-cert": server.cert, "tls-key": server.key})
    c.env.update({"KEEL_REQUIRE_AUTH": "1", "KEEL_TLS_CA": ca.ca, "KEEL_TOKEN": token("worker")})
    c.security = {"tls_ca": ca.ca, "token": token("client")}


@contextmanager
def cluster(backend: str, workload: str, tls_and_tokens: bool = False,
            **flags: Any) -> Iterator[Cluster]:
    """A running coordinator on a fresh store; its processes are killed on exit.
    On failure the tail of every process log goes to stderr. With
    `tls_and_tokens`, everything talks TLS and carries role tokens; `flags`
    are more of the coordinator's (http="HOST:PORT")."""
    tmp = Path(tempfile.mkdtemp(prefix=f"keel-bench-{workload}-{backend}-"))
    try:
        with store(backend, tmp) as url:
            # The coordinator's own defaults, not the test harness's shorter
            # timeouts: we measure what ships.
            defaults = Settings()
            c = Cluster(url, tmp, log_level=LOG_LEVEL,
                        **{"worker-timeout": defaults.worker_timeout, "grace": defaults.grace, **flags})
            c.env["KEEL_BENCH_DIR"] = str(tmp)
            if tls_and_tokens:
                secure(c)
            try:
                c.start_coordinator()
                yield c
            except BaseException:
                print(f"--- logs of {workload} on {backend}\n{c.logs()}", file=sys.stderr)
                raise
            finally:
                c.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def start_worker(c: Cluster, client: Client, *, concurrency: int = 4, step_concurrency: int = 32,
                 extra: list[str] | None = None, timeout: float = 30.0) -> Proc:
    """Start a worker serving bench.flows and wait until it runs a workflow.

    The proof is a `bench_pid` workflow answered by this process: it must be the
    only worker with a free workflow slot when called."""
    proc = c.start_worker(FLOWS, concurrency=concurrency, step_concurrency=step_concurrency,
                          wait=False, extra=extra)
    pid = probe(client, proc, timeout)
    if pid != proc.pid:
        raise RuntimeError(f"readiness probe ran on pid {pid}, not on the new worker {proc.pid}")
    return proc


def probe(client: Client, proc: Proc, timeout: float = 30.0) -> int:
    """Run bench_pid and return the pid that ran it; fail early if `proc` died."""
    handle = client.start_workflow("bench_pid")
    deadline = time.monotonic() + timeout
    while True:
        if not proc.alive():
            raise RuntimeError(f"worker {proc.pid} exited:\n{proc.log()[-4000:]}")
        try:
            return int(handle.result(timeout=0.5))
        except TimeoutError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no worker ran a workflow within {timeout} s of starting "
                                   f"worker {proc.pid}") from None


def trace_lines(c: Cluster, name: str) -> list[tuple[int, float]]:
    """(pid, time) of each traced execution of `name` (bench.flows.trace)."""
    path = Path(c.env["KEEL_BENCH_DIR"]) / "trace" / name
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        pid, t = line.split()
        out.append((int(pid), float(t)))
    return out



def cpu_by_role(c: Cluster) -> dict[str, float]:
    """CPU seconds (user + system) used so far by the coordinator, the workers
    (together) and this process, the client."""
    assert c.coordinator is not None
    return {"coordinator": cpu_seconds(c.coordinator.pid),
            "worker": sum(cpu_seconds(w.pid) for w in c.workers if w.alive()),
            "client": time.process_time()}


def cpu_ms_per_wf(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
    """CPU milliseconds per workflow of each role between two cpu_by_role, and their total."""
    per = {role: (after[role] - before[role]) * 1e3 / n for role in before}
    return {**{role: round(v, 3) for role, v in per.items()}, "total": round(sum(per.values()), 3)}
