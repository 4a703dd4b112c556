"""The one migration runner of both SQL stores, and the schema-state check.

The logic is written once, free of I/O, as a generator: it yields each
statement as (sql, params) and is sent back the statement's rows. Each store
drives it with its own connection (`run_sync` on SQLite's writer thread,
`run_async` on a psycopg connection), inside a transaction of its own.
Migrations are applied once, in order, each recorded in keel_schema.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ...core.ports import SchemaState
from .queries import Dialect

T = TypeVar("T")
Statement = tuple[str, tuple[Any, ...]]
Rows = Sequence[Sequence[Any]]
Plan = Generator[Statement, Rows, T]

VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS keel_schema (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)"
)


@dataclass(frozen=True)
class Schema:
    """A dialect's migrations and how to run them."""

    dialect: Dialect
    migrations: list[tuple[int, list[str]]]
    # A query whose first row's first value is true if keel_schema exists
    # (no row also means it does not).
    version_table_exists: str
    # Run first in the migration transaction: serialises coordinators that
    # start at once (PostgreSQL's advisory lock); None where the transaction
    # itself does (SQLite's BEGIN IMMEDIATE).
    lock: Statement | None = None

    @property
    def latest(self) -> int:
        return max(version for version, _ in self.migrations)


def migrate(schema: Schema) -> Plan[SchemaState]:
    """Apply the pending migrations; run it inside one transaction."""
    if schema.lock is not None:
        yield schema.lock
    yield VERSION_TABLE, ()
    done = {int(row[0]) for row in (yield "SELECT version FROM keel_schema", ())}
    record = schema.dialect.render("INSERT INTO keel_schema (version, applied_at) VALUES (?, ?)")
    for version, statements in schema.migrations:
        if version in done:
            continue
        for sql in statements:
            yield sql, ()
        yield record, (version, int(time.time() * 1000))
        done.add(version)
    return SchemaState(max(done, default=0), schema.latest)


def read_state(schema: Schema) -> Plan[SchemaState]:
    """Which migrations the database has; creates nothing."""
    rows = yield schema.version_table_exists, ()
    if not rows or not rows[0][0]:
        return SchemaState(0, schema.latest)
    rows = yield "SELECT COALESCE(MAX(version), 0) FROM keel_schema", ()
    return SchemaState(int(rows[0][0]), schema.latest)


def run_sync(plan: Plan[T], execute: Callable[[str, tuple[Any, ...]], Rows]) -> T:
    """Drive `plan`, running each statement with `execute` (returns its rows)."""
    statement = next(plan)
    while True:
        rows = execute(*statement)
        try:
            statement = plan.send(rows)
        except StopIteration as done:
            result: T = done.value
            return result


async def run_async(plan: Plan[T], execute: Callable[[str, tuple[Any, ...]], Awaitable[Rows]]) -> T:
    """Drive `plan`, awaiting `execute` for each statement (returns its rows)."""
    statement = next(plan)
    while True:
        rows = await execute(*statement)
        try:
            statement = plan.send(rows)
        except StopIteration as done:
            result: T = done.value
            return result
