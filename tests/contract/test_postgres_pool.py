"""The PostgreSQL store's connections: lost ones become StoreUnavailable and
are replaced, and a checkout hands its connection back to the pool idle."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from coordinator.store import Store, StoreUnavailable, store_from_url

from .support import run, wf


def test_pg_recovers_from_lost_connections(pg_url: str, pg_admin_url: str) -> None:
    async def body(s: Store) -> None:
        await s.create_workflow(wf("w1"))
        dbname = pg_url.rsplit("/", 1)[1]
        async with await psycopg.AsyncConnection.connect(pg_admin_url, autocommit=True) as admin:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (dbname,))
        # The first use of a dead connection fails as StoreUnavailable (callers
        # retry); from then on connections are checked on checkout for a
        # while and dead ones replaced before anything is sent.
        try:
            await s.get_workflow("w1")
        except StoreUnavailable:
            pass
        for _ in range(3):
            w = await s.get_workflow("w1")
            assert w is not None

    run(pg_url, body)


def test_pg_unreachable_is_store_unavailable() -> None:
    store = store_from_url("postgresql://postgres@127.0.0.1:1/keel")
    with pytest.raises(StoreUnavailable, match="postgres"):
        asyncio.run(store.open())

    async def not_open() -> None:
        await store.get_workflow("w1")

    with pytest.raises(StoreUnavailable):
        asyncio.run(not_open())


def test_pg_a_transaction_left_open_is_ended_before_the_pool_takes_it_back(pg_url: str) -> None:
    """As psycopg's own context would: committed when the block ends well,
    rolled back when it raises; the connection goes back idle either way."""
    async def body(s: Store) -> None:
        pool = s._pool  # type: ignore[attr-defined]
        async with pool.connection() as conn:
            await conn.execute("CREATE TABLE pool_probe (n INTEGER)")
        async with pool.connection() as conn:
            await conn.execute("BEGIN")
            await conn.execute("INSERT INTO pool_probe VALUES (1)")
        with pytest.raises(ValueError, match="a bug"):
            async with pool.connection() as conn:
                await conn.execute("BEGIN")
                await conn.execute("INSERT INTO pool_probe VALUES (2)")
                raise ValueError("a bug")
        for _ in range(4):  # every pooled connection is idle and sees the first only
            assert await pool.fetchall("SELECT n FROM pool_probe", ()) == [(1,)]

    run(pg_url, body)


def test_pg_a_commit_on_return_that_loses_its_connection_is_store_unavailable(
        pg_url: str, pg_admin_url: str) -> None:
    """The transaction left open cannot be committed: the caller hears
    StoreUnavailable (and retries), as from any lost connection, and the
    store goes on with the pool's other connections."""
    async def body(s: Store) -> None:
        await s.create_workflow(wf("w1"))
        pool = s._pool  # type: ignore[attr-defined]
        with pytest.raises(StoreUnavailable):
            async with pool.connection() as conn:
                await conn.execute("BEGIN")
                async with await psycopg.AsyncConnection.connect(pg_admin_url, autocommit=True) as admin:
                    await admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
        for _ in range(3):
            assert await s.get_workflow("w1") is not None

    run(pg_url, body)
