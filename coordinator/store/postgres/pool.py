"""The PostgreSQL connection pool, and its "suspect" checks after a failure.

Connections run in autocommit mode, so each single statement is its own
transaction and is durable when the call returns. Connection trouble becomes
StoreUnavailable, which callers retry.
"""

from __future__ import annotations

import contextlib
import time
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.pq import TransactionStatus
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

    def connection(self) -> _Checkout:
        """A pooled connection (`async with`); connection trouble becomes StoreUnavailable.

        Checking every connection on checkout would cost a round trip per
        query, so connections are checked only for a while after a failure
        (PostgreSQL restarted or the link broke): a broken one is dropped
        before anything is sent on it, and another is taken."""
        if self._pool is None:
            raise StoreUnavailable("postgres: store is not open")
        return _Checkout(self, self._pool)

    def _failed(self, e: Exception) -> StoreUnavailable:
        """What trouble with the pool or a connection becomes: the pool is
        suspect for a while, and callers retry."""
        self._suspect_until = time.monotonic() + _SUSPECT_SECONDS
        if isinstance(e, PoolTimeout):
            return StoreUnavailable(f"postgres: no connection within {CONNECT_TIMEOUT}s: {e}")
        # Covers lost connections, admin shutdown, too many clients, and
        # serialisation/deadlock rollbacks: all mean "retry later".
        return StoreUnavailable(f"postgres: {type(e).__name__}: {e}")

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


class _Checkout:
    """One checkout of a pooled connection, returned on exit. A class, not
    a generator: every store call takes one, and the pool's own context
    manager on top of ours cost 19.5 us of CPU against 6 for getconn and
    putconn alone."""

    __slots__ = ("_owner", "_pool", "_conn")

    def __init__(self, owner: Pool, pool: AsyncConnectionPool[Any]) -> None:
        self._owner = owner
        self._pool = pool
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def __aenter__(self) -> psycopg.AsyncConnection[Any]:
        owner, pool = self._owner, self._pool
        try:
            for _ in range(owner._max_size + 1):
                conn: psycopg.AsyncConnection[Any] = await pool.getconn()
                if time.monotonic() < owner._suspect_until:
                    try:
                        await AsyncConnectionPool.check_connection(conn)
                    except psycopg.OperationalError:
                        await pool.putconn(conn)  # the pool discards it; take another
                        continue
                self._conn = conn
                return conn
            raise psycopg.OperationalError("every pooled connection is broken")
        except psycopg.OperationalError as e:  # PoolTimeout is one
            raise owner._failed(e) from e

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        tb: TracebackType | None) -> None:
        conn, self._conn = self._conn, None
        assert conn is not None
        failure = error
        try:
            if conn.pgconn.transaction_status != TransactionStatus.IDLE and not conn.closed:
                # A transaction left open (a script cut short by an error):
                # ended as the connection's own context would, commit on
                # success and rollback on error, before the pool takes it.
                if error is None:
                    try:
                        await conn.commit()
                    except psycopg.OperationalError as e:
                        failure = e
                else:
                    with contextlib.suppress(psycopg.Error):
                        await conn.rollback()
        finally:
            await self._pool.putconn(conn)  # a broken one is discarded
        if isinstance(failure, psycopg.OperationalError):
            raise self._owner._failed(failure) from failure
