"""The Store contract on the schema: migrations, and reading the schema state."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

import psycopg
import pytest

from coordinator.store import Store, check, migrate, store_from_url

from .support import run, wf


def test_migrations_are_idempotent(any_store_url: str) -> None:
    async def write(s: Store) -> None:
        await s.create_workflow(wf("w1"))

    async def read(s: Store) -> None:
        w = await s.get_workflow("w1")
        assert w is not None and w.workflow_id == "w1"

    run(any_store_url, write)
    run(any_store_url, read)
    run(any_store_url, read)


def test_migrate_then_check(any_store_url: str) -> None:
    state = asyncio.run(migrate(any_store_url))
    assert state.up_to_date and state.current == state.latest >= 1
    assert asyncio.run(check(any_store_url)) == state
    assert asyncio.run(migrate(any_store_url)) == state  # nothing more to apply

    async def body(s: Store) -> None:
        assert await s.schema_state() == state

    run(any_store_url, body)


def _tables(url: str) -> list[str]:
    """The tables of a SQL store's database, looked at directly."""
    if url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(url[len("sqlite:///"):])) as db:
            return [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
        return [name for (name,) in rows]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_check_changes_nothing_on_an_empty_database(kind: str, request: pytest.FixtureRequest) -> None:
    url: str = request.getfixturevalue({"sqlite": "sqlite_url", "postgres": "pg_url"}[kind])
    state = asyncio.run(check(url))
    assert (state.current, state.up_to_date) == (0, False) and state.latest >= 1
    assert _tables(url) == []

    async def body(s: Store) -> None:  # opened without migrating
        assert await s.schema_state() == state

    async def main() -> None:
        store = store_from_url(url)
        await store.open(migrate=False)
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(main())
    assert _tables(url) == []
    assert asyncio.run(migrate(url)).up_to_date
    assert "keel_schema" in _tables(url)
    assert asyncio.run(check(url)).up_to_date
