"""Several statements in one message: each a prepared statement EXECUTEd with
its arguments bound on our side, joined with semicolons and sent by the simple
query protocol.

PostgreSQL runs such a script as one implicit transaction (all or nothing,
committed at its end, each statement with a fresh snapshot as in any READ
COMMITTED transaction) and answers with one result per statement. Against a
pipeline of the same statements with BEGIN and COMMIT, this is one write
instead of one per statement, so the server wakes once, not once per
statement. EXECUTE keeps the plan the server made once per connection (made
again when the session lost it). A statement that fails rolls back the whole
script; the error is raised as psycopg raises any.
"""

from __future__ import annotations

import hashlib
import re
import weakref
from typing import Any

import psycopg
from psycopg import errors, pq

Statement = tuple[str, tuple[Any, ...]]

# The statements each connection has prepared, by name.
_prepared: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], set[str]] = weakref.WeakKeyDictionary()
_names: dict[str, tuple[str, str]] = {}  # sql -> (name, PREPARE text)


def _prepare(sql: str) -> tuple[str, str]:
    """The statement's name and the PREPARE that makes it ($n for each %s)."""
    known = _names.get(sql)
    if known is None:
        name = "keel_" + hashlib.sha1(sql.encode()).hexdigest()[:16]
        numbers = iter(range(1, sql.count("%s") + 1))
        body = re.sub(r"%%|%s", lambda m: "%" if m.group() == "%%" else f"${next(numbers)}", sql)
        known = _names[sql] = (name, f"PREPARE {name} AS {body}")
    return known


async def prepared(conn: psycopg.AsyncConnection[Any], sql: str) -> bytes:
    """The name `sql` is prepared under on `conn`, prepared now if need be."""
    name, prepare = _prepare(sql)
    ready = _prepared.setdefault(conn, set())
    if name not in ready:
        await conn.execute(prepare.encode())  # once per connection and statement
        ready.add(name)
    return name.encode()


def unprepared(conn: psycopg.AsyncConnection[Any]) -> None:
    """The session lost its prepared statements: make them again when used."""
    _prepared.pop(conn, None)


async def run_script(conn: psycopg.AsyncConnection[Any], statements: list[Statement]) -> list[Any]:
    """Run `statements` as one transaction; each one's first row (None if it
    returned no rows or is not a query)."""
    try:
        return await _run(conn, statements)
    except errors.InvalidSqlStatementName:
        # The session lost them: psycopg sends DEALLOCATE ALL after any
        # ROLLBACK on the connection (a transaction we roll back on purpose,
        # say). Nothing of the script ran: prepare them again and run it.
        unprepared(conn)
        return await _run(conn, statements)


async def _run(conn: psycopg.AsyncConnection[Any], statements: list[Statement]) -> list[Any]:
    binder = psycopg.AsyncClientCursor(conn)
    calls = []
    for sql, params in statements:
        name = (await prepared(conn, sql)).decode()
        args = f"({', '.join(['%s'] * len(params))})" if params else ""
        calls.append(binder.mogrify(f"EXECUTE {name}{args}", params))
    rows: list[Any] = []
    async with conn.cursor() as cur:
        await cur.execute(";\n".join(calls).encode())
        while True:
            result = cur.pgresult
            rows.append(await cur.fetchone()
                        if result is not None and result.status == pq.ExecStatus.TUPLES_OK else None)
            if not cur.nextset():
                break
    if len(rows) != len(statements):
        raise RuntimeError(f"a script of {len(statements)} statements gave {len(rows)} results")
    return rows
