"""One store interface, chosen from a SQLAlchemy-style URL; and the schema
helpers of the CLI (`migrate`, `check`).

The stores: memory.py (in process, for tests), sqlite/ (embedded), postgres/
(shared); the SQL they share is in sql/ and schema/.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from ..core.errors import StoreUnavailable
from ..core.ports import SchemaState, Store
from ..core.records import (
    Effect,
    EventRecord,
    Failure,
    NewMessage,
    NewStep,
    NewWorkflow,
    Note,
    NoteKind,
    Outcome,
    RecordResult,
    Recv,
    Send,
    SetEvent,
    StepKind,
    StepRecord,
    Value,
    Wait,
    WaitKind,
    WorkflowRecord,
    WorkflowStatus,
    event_wait_key,
)

__all__ = [
    "Effect", "EventRecord", "NewMessage", "Note", "NoteKind", "Recv", "Send", "SetEvent", "Wait",
    "WaitKind", "event_wait_key", "Failure", "NewStep", "NewWorkflow", "Outcome", "RecordResult",
    "SchemaState", "StepKind", "StepRecord", "Store", "StoreUnavailable", "Value", "WorkflowRecord",
    "WorkflowStatus", "check", "migrate", "store_from_url",
]


def store_from_url(url: str) -> Store:
    """`sqlite:///relative.db`, `sqlite:////absolute.db`, `postgresql://user@host:port/db`,
    or `memory://` (a private in-memory store; `memory://NAME` is shared in the process)."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme == "memory":
        from .memory import MemoryStore

        return MemoryStore(url[len("memory://"):] if url.startswith("memory://") else "")
    if scheme == "sqlite":
        # SQLAlchemy form: the path after "sqlite:///" is taken as written.
        path = url.split("?")[0][len("sqlite:///"):] if url.startswith("sqlite:///") else ""
        if not path:
            raise ValueError(f"sqlite URL needs a path, as in sqlite:///keel.db: {url!r}")
        options = parse_qs(parts.query)
        synchronous = options.get("synchronous", ["FULL"])[0]
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"unknown sqlite synchronous mode {synchronous!r}")
        from .sqlite import SqliteStore

        return SqliteStore(path, synchronous)
    if scheme in {"postgresql", "postgres"}:
        from .postgres import PostgresStore

        return PostgresStore(url)
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:///PATH, postgresql://... or memory://")


async def migrate(url: str) -> SchemaState:
    """Bring the store at `url` to the current schema; returns its state."""
    store = store_from_url(url)
    await store.open()
    try:
        return await store.schema_state()
    finally:
        await store.close()


async def check(url: str) -> SchemaState:
    """The schema state of the store at `url`, changing nothing (`migrate --check`)."""
    store = store_from_url(url)
    await store.open(migrate=False)
    try:
        return await store.schema_state()
    finally:
        await store.close()
