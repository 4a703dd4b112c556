"""Shared fixtures: store URLs for SQLite and for a throwaway PostgreSQL database.

- `sqlite_url`: a fresh SQLite file under the test's tmp_path.
- `pg_admin_url`: the server's maintenance database; the test fails when
  PostgreSQL is unreachable.
- `pg_url`: a fresh, empty PostgreSQL database per test, dropped afterwards.
- `store_url`: runs the test once per store ("sqlite", "postgres").

Set KEEL_TEST_PG_URL to point the PostgreSQL fixtures at another server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

PG_ADMIN_URL = os.environ.get("KEEL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """URL of an existing database used to create and drop test databases."""
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as e:
        # A failure, never a skip: a store test that did not run proves nothing.
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {e} "
                    "(start it, or point KEEL_TEST_PG_URL at a server)")
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """URL of a new empty database `keel_test_<hex>`, dropped after the test."""
    name = f"keel_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(pg_admin_url)._replace(path="/" + name))
    finally:
        # FORCE ends sessions a failed test left open (PostgreSQL 13+).
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a new SQLite file (absolute path, so sqlite:////tmp/...)."""
    return "sqlite:///" + str(tmp_path / "keel.db")


@pytest.fixture(params=["sqlite", "postgres"], ids=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str:
    """A fresh store URL of each kind."""
    fixture = {"sqlite": "sqlite_url", "postgres": "pg_url"}[request.param]
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def cluster_factory(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Make a Cluster (tests/harness.py) on a store URL; print its logs if the test failed."""
    from tests.harness import Cluster

    made: list[Cluster] = []

    def make(store_url: str, **coordinator_flags: Any) -> Cluster:
        c = Cluster(store_url, tmp_path, **coordinator_flags)
        made.append(c)
        return c

    yield make
    for c in made:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            print(c.logs())
        c.close()


@pytest.fixture
def cluster(cluster_factory: Any, store_url: str) -> Any:
    """A running coordinator on each store (no workers yet)."""
    c = cluster_factory(store_url)
    c.start_coordinator()
    return c


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
