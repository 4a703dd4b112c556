"""Shared fixtures: store URLs for SQLite and for a throwaway PostgreSQL database.

- `sqlite_url`: a fresh SQLite file under the test's tmp_path.
- `pg_admin_url`: the server's maintenance database; skips the test when
  PostgreSQL is unreachable (fails instead when CI=true).
- `pg_url`: a fresh, empty PostgreSQL database per test, dropped afterwards.
- `store_url`: runs the test once per store ("sqlite", "postgres").

Set KEEL_TEST_PG_URL to point the PostgreSQL fixtures at another server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
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
        message = f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {e}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message + " (set CI=true to make this a failure)")
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
    """A fresh store URL of each kind; the postgres case skips without a server."""
    fixture = {"sqlite": "sqlite_url", "postgres": "pg_url"}[request.param]
    url: str = request.getfixturevalue(fixture)
    return url
