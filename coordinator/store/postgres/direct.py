"""One prepared statement straight through libpq: the batcher's lone statement.

A step's record is one statement with a few simple parameters and one row
back. Through psycopg's `execute` it cost 0.165 ms of CPU against 0.115 for
the same statement sent here (measured in a loop, the statement's own work
included): psycopg converts the query, looks up an adapter for each value and
builds a cursor every time. Here the statement is prepared once per connection
under script.py's name, its values go as text, and its row is read by the
column types it has. The protocol is libpq's asynchronous one (psycopg.pq:
send, flush, wait for the socket, consume, get the results), on the loop.

A value of another type (or a string holding NUL, which libpq's text format
would cut short) goes through psycopg instead, which adapts or refuses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import errors, pq

from .script import prepared, unprepared

# Column types our hot statements return, and how their text reads; any
# other is read by psycopg's loader for it.
_READERS: dict[int, Callable[[bytes], Any]] = {
    16: lambda v: v == b"t",  # bool
    17: pq.Escaping().unescape_bytea,  # bytea
    20: int, 21: int, 23: int, 26: int,  # int8, int2, int4, oid
    19: bytes.decode, 25: bytes.decode, 1042: bytes.decode, 1043: bytes.decode,  # name, text, char, varchar
    2278: lambda v: None,  # void: a function called for its effects
}


def _as_text(params: tuple[Any, ...]) -> list[bytes | None] | None:
    """The values in PostgreSQL's text format, or None if one needs psycopg."""
    out: list[bytes | None] = []
    for v in params:
        kind = type(v)
        if kind is str:
            if "\x00" in v:
                return None
            out.append(v.encode())
        elif kind is int:
            out.append(b"%d" % v)
        elif v is None:
            out.append(None)
        elif kind is bytes:
            out.append(b"\\x" + v.hex().encode())
        elif kind is bool:
            out.append(b"t" if v else b"f")
        else:  # float, anything else: psycopg's adapters
            return None
    return out


async def fetch_one(conn: psycopg.AsyncConnection[Any], sql: str, params: tuple[Any, ...]) -> Any:
    """Run `sql` (%s placeholders) with `params` on `conn`, in autocommit:
    its first row as a tuple, None if it returned none."""
    values = _as_text(params)
    if values is None:
        cur = await conn.execute(sql, params)
        return await cur.fetchone()
    name = await prepared(conn, sql)
    try:
        return await _execute(conn, name, values)
    except errors.InvalidSqlStatementName:
        # The session lost it (psycopg sends DEALLOCATE ALL after a rollback):
        # nothing ran; prepare it again.
        unprepared(conn)
        return await _execute(conn, await prepared(conn, sql), values)


async def _execute(conn: psycopg.AsyncConnection[Any], name: bytes, values: list[bytes | None]) -> Any:
    pgconn = conn.pgconn
    pgconn.send_query_prepared(name, values)
    results = await _results(pgconn)
    if not results:
        raise psycopg.InterfaceError("the statement gave no result")
    result = results[-1]  # one statement: one result (an error is one too)
    status = result.status
    if status == pq.ExecStatus.TUPLES_OK:
        if not result.ntuples:
            return None
        return tuple(None if (v := result.get_value(0, i)) is None else _reader(conn, result.ftype(i))(v)
                     for i in range(result.nfields))
    if status == pq.ExecStatus.COMMAND_OK:
        return None
    if pgconn.status == pq.ConnStatus.BAD:  # the link broke: trouble with the connection, as psycopg says
        raise psycopg.OperationalError(pgconn.error_message.decode("utf-8", "replace") or "connection lost")
    raise errors.error_from_result(result)


def _reader(conn: psycopg.AsyncConnection[Any], oid: int) -> Callable[[bytes], Any]:
    known = _READERS.get(oid)
    if known is not None:
        return known
    loader = conn.adapters.get_loader(oid, pq.Format.TEXT)
    if loader is None:
        raise psycopg.InterfaceError(f"no loader for a column of type oid {oid}")
    return loader(oid, conn).load


async def _results(pgconn: pq.abc.PGconn) -> list[pq.abc.PGresult]:
    """Send what is buffered and read every result of the query sent."""
    loop = asyncio.get_running_loop()
    fd = pgconn.socket
    while pgconn.flush():  # 1: more to send once the socket takes it
        await _ready(loop, fd, loop.add_writer, loop.remove_writer)
    results: list[pq.abc.PGresult] = []
    while True:
        if pgconn.is_busy():
            await _ready(loop, fd, loop.add_reader, loop.remove_reader)
            pgconn.consume_input()
            continue
        result = pgconn.get_result()
        if result is None:
            return results
        results.append(result)


async def _ready(loop: asyncio.AbstractEventLoop, fd: int, add: Callable[..., None],
                 remove: Callable[[int], Any]) -> None:
    ready = loop.create_future()
    add(fd, _set, ready)
    try:
        await ready
    finally:
        remove(fd)


def _set(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)
