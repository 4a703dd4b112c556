"""fetch_one (store/postgres/direct.py): the batcher's lone statement straight
through libpq gives what psycopg's execute gives, errors included."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from coordinator.store.postgres.direct import fetch_one
from coordinator.store.postgres.pool import libpq_url

ROW = "SELECT %s::bigint, %s::int, %s::text, %s::bytea, %s::boolean, %s::text IS NULL, %s::varchar"


def _on_a_connection(pg_url: str, body: Any) -> None:
    async def main() -> None:
        conn = await psycopg.AsyncConnection.connect(libpq_url(pg_url), autocommit=True)
        try:
            await body(conn)
        finally:
            await conn.close()

    asyncio.run(main())


@pytest.mark.parametrize("values", [
    (2**62, -7, "héllo 'quoted' \\ 50%", b"\x00\xff\\x", "t", None, ""),
    (0, 0, "", b"", "false", "x", "v"),
])
def test_pg_a_row_reads_as_psycopg_reads_it(pg_url: str, values: tuple[Any, ...]) -> None:
    async def body(conn: psycopg.AsyncConnection[Any]) -> None:
        expected = await (await conn.execute(ROW, values)).fetchone()
        assert await fetch_one(conn, ROW, values) == expected
        assert await fetch_one(conn, ROW, values) == expected  # prepared by now

    _on_a_connection(pg_url, body)


def test_pg_no_row_none_and_values_of_other_types_through_psycopg(pg_url: str) -> None:
    async def body(conn: psycopg.AsyncConnection[Any]) -> None:
        assert await fetch_one(conn, "SELECT 1 WHERE %s::int = 2", (1,)) is None
        assert await fetch_one(conn, "SELECT %s::float8 * 2", (1.5,)) == (3.0,)
        assert await fetch_one(conn, "SELECT NOT %s::boolean, %s::boolean", (True, False)) == (False, False)
        assert await fetch_one(conn, "SELECT now() > %s::timestamptz", ("2020-01-01",)) == (True,)
        # libpq's text format would cut a string at NUL: psycopg refuses it instead.
        with pytest.raises(psycopg.DataError):
            await fetch_one(conn, "SELECT %s::text", ("a\x00b",))

    _on_a_connection(pg_url, body)


def test_pg_errors_are_psycopgs_and_the_connection_goes_on(pg_url: str) -> None:
    async def body(conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute("CREATE TABLE t (a int PRIMARY KEY)")
        insert = "INSERT INTO t VALUES (%s) RETURNING a"
        assert await fetch_one(conn, insert, (1,)) == (1,)
        with pytest.raises(psycopg.errors.UniqueViolation) as refused:
            await fetch_one(conn, insert, (1,))
        assert refused.value.sqlstate == "23505" and "duplicate key" in str(refused.value)
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            await fetch_one(conn, "SELECT %s::int", ("nope",))
        assert await fetch_one(conn, insert, (2,)) == (2,)
        assert await (await conn.execute("SELECT count(*) FROM t")).fetchone() == (2,)

    _on_a_connection(pg_url, body)


def test_pg_a_session_that_lost_its_prepared_statements_prepares_again(pg_url: str) -> None:
    async def body(conn: psycopg.AsyncConnection[Any]) -> None:
        assert await fetch_one(conn, "SELECT %s::int + 1", (1,)) == (2,)
        # psycopg sends DEALLOCATE ALL after any ROLLBACK on the connection.
        async with conn.transaction() as tx:
            await conn.execute("SELECT 1")
            raise psycopg.Rollback(tx)
        assert await fetch_one(conn, "SELECT %s::int + 1", (2,)) == (3,)
        await conn.execute("DEALLOCATE ALL")
        assert await fetch_one(conn, "SELECT %s::int + 1", (3,)) == (4,)

    _on_a_connection(pg_url, body)


def test_pg_a_big_value_goes_whole(pg_url: str) -> None:
    async def body(conn: psycopg.AsyncConnection[Any]) -> None:
        data = bytes(range(256)) * 8192  # 2 MiB: many writes of the socket
        assert await fetch_one(conn, "SELECT length(%s::bytea), %s::bytea", (data, data)) == (len(data), data)

    _on_a_connection(pg_url, body)


def test_pg_a_connection_lost_is_an_operational_error(pg_url: str) -> None:
    """What the pool takes for trouble with the connection (StoreUnavailable,
    and the connection dropped), not a refusal of the statement."""
    async def body(conn: psycopg.AsyncConnection[Any]) -> None:
        assert await fetch_one(conn, "SELECT %s::int", (1,)) == (1,)
        pid = conn.pgconn.backend_pid
        async with await psycopg.AsyncConnection.connect(libpq_url(pg_url), autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(psycopg.OperationalError):
            await fetch_one(conn, "SELECT %s::int", (2,))

    _on_a_connection(pg_url, body)
