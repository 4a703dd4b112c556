"""The PostgreSQL connection pool, and its "suspect" checks after a failure.

Connections run in autocommit mode, so each single statement is its own
transaction and is durable when the call returns. Connection trouble becomes
StoreUnavailable, which callers retry.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ...core.errors import StoreUnavailable

CONNECT_TIMEOUT = 5.0
_SUSPECT_SECONDS = 30.0


def libpq_url(url: str) -> str:
    """libpq does not know SQLAlchemy driver suffixes such as postgresql+psycopg."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=parts.scheme.split("+")[0]))


async def connect(url: str, **kwargs: Any) -> psycopg.AsyncConnection[Any]:
    """One direct autocommit connection, outside the pool."""
    return await psycopg.AsyncConnection.connect(
        url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT), **kwargs)


class Pool:
    def __init__(self, url: str, min_size: int, max_size: int) -> None:
        self._url = url
        self._min_size = min_size
        self._max_size = max_size
        self._pool: AsyncConnectionPool[Any] | None = None
        # Until then, check pooled connections before use (see connection).
        self._suspect_until = 0.0

    async def open(self) -> None:
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            self._url,
            min_size=self._min_size,
            max_size=self._max_size,
            open=False,
            timeout=CONNECT_TIMEOUT,  # how long getconn waits before PoolTimeout
            kwargs={"autocommit": True, "connect_timeout": int(CONNECT_TIMEOUT)},
            name="keel-store",
        )
        try:
            await pool.open(wait=True, timeout=2 * CONNECT_TIMEOUT)
        except psycopg.OperationalError as e:  # PoolTimeout is one
            await pool.close()
            raise StoreUnavailable(f"postgres: cannot fill the connection pool: {e}") from e
        self._pool = pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection; connection trouble becomes StoreUnavailable.

        Checking every connection on checkout would cost a round trip per
        query, so connections are checked only for a while after a failure
        (PostgreSQL restarted or the link broke): a broken one is dropped
        before anything is sent on it, and another is taken."""
        if self._pool is None:
            raise StoreUnavailable("postgres: store is not open")
        try:
            for _ in range(self._max_size + 1):
                async with self._pool.connection() as conn:
                    if time.monotonic() < self._suspect_until:
                        try:
                            await AsyncConnectionPool.check_connection(conn)
                        except psycopg.OperationalError:
                            continue  # the pool discards it on return; take another
                    yield conn
                    return
            raise psycopg.OperationalError("every pooled connection is broken")
        except PoolTimeout as e:
            self._suspect_until = time.monotonic() + _SUSPECT_SECONDS
            raise StoreUnavailable(f"postgres: no connection within {CONNECT_TIMEOUT}s: {e}") from e
        except psycopg.OperationalError as e:
            # Covers lost connections, admin shutdown, too many clients, and
            # serialisation/deadlock rollbacks: all mean "retry later".
            self._suspect_until = time.monotonic() + _SUSPECT_SECONDS
            raise StoreUnavailable(f"postgres: {type(e).__name__}: {e}") from e

    async def fetchall(self, sql: str, params: Any) -> list[Any]:
        async with self.connection() as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchall()

    async def fetchone(self, sql: str, params: Any) -> Any:
        async with self.connection() as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchone()

    async def execute(self, sql: str, params: Any) -> int:
        """Run one statement; returns its row count."""
        async with self.connection() as conn:
            cur = await conn.execute(sql, params)
            return cur.rowcount
