"""Versioned schema migrations, one list per dialect.

A migration is applied once, in order, inside a transaction, at start-up.
Never edit a released migration: append a new one.
"""

from __future__ import annotations

# Each entry: (version, statements). Types differ only where the dialects do.
SQLITE: list[tuple[int, list[str]]] = [
    (
        1,
        [
            """CREATE TABLE workflows (
                workflow_id     TEXT PRIMARY KEY,
                name            TEXT NOT NULL,
                status          TEXT NOT NULL,
                input_encoding  TEXT NOT NULL,
                input           BLOB NOT NULL,
                output_encoding TEXT,
                output          BLOB,
                error_type      TEXT,
                error_message   TEXT,
                error_details   TEXT,
                created_at      INTEGER NOT NULL,
                updated_at      INTEGER NOT NULL,
                epoch           INTEGER NOT NULL DEFAULT 0,
                step_seq        INTEGER NOT NULL DEFAULT 0,
                deadline_at     INTEGER,
                owner           TEXT,
                lease_until     INTEGER
            )""",
            "CREATE INDEX workflows_pending ON workflows (created_at) WHERE status = 'PENDING'",
            "CREATE INDEX workflows_owner ON workflows (owner) WHERE status = 'PENDING'",
            """CREATE INDEX workflows_deadline ON workflows (deadline_at)
                WHERE status = 'PENDING' AND deadline_at IS NOT NULL""",
            "CREATE INDEX workflows_created ON workflows (created_at)",
            """CREATE TABLE steps (
                workflow_id        TEXT NOT NULL,
                step_number        INTEGER NOT NULL,
                name               TEXT NOT NULL,
                kind               TEXT NOT NULL,
                output_encoding    TEXT,
                output             BLOB,
                error_type         TEXT,
                error_message      TEXT,
                error_details      TEXT,
                attempt            INTEGER NOT NULL,
                epoch              INTEGER NOT NULL,
                started_at         INTEGER NOT NULL,
                completed_at       INTEGER NOT NULL,
                completion_seq     INTEGER NOT NULL,
                select_index       INTEGER,
                select_step_number INTEGER,
                PRIMARY KEY (workflow_id, step_number)
            ) WITHOUT ROWID""",
        ],
    ),
]

POSTGRES: list[tuple[int, list[str]]] = [
    (
        1,
        [
            """CREATE TABLE workflows (
                workflow_id     TEXT PRIMARY KEY,
                name            TEXT NOT NULL,
                status          TEXT NOT NULL,
                input_encoding  TEXT NOT NULL,
                input           BYTEA NOT NULL,
                output_encoding TEXT,
                output          BYTEA,
                error_type      TEXT,
                error_message   TEXT,
                error_details   TEXT,
                created_at      BIGINT NOT NULL,
                updated_at      BIGINT NOT NULL,
                epoch           BIGINT NOT NULL DEFAULT 0,
                step_seq        BIGINT NOT NULL DEFAULT 0,
                deadline_at     BIGINT,
                owner           TEXT,
                lease_until     BIGINT
            )""",
            "CREATE INDEX workflows_pending ON workflows (created_at) WHERE status = 'PENDING'",
            "CREATE INDEX workflows_owner ON workflows (owner) WHERE status = 'PENDING'",
            """CREATE INDEX workflows_deadline ON workflows (deadline_at)
                WHERE status = 'PENDING' AND deadline_at IS NOT NULL""",
            "CREATE INDEX workflows_created ON workflows (created_at)",
            """CREATE TABLE steps (
                workflow_id        TEXT NOT NULL,
                step_number        INTEGER NOT NULL,
                name               TEXT NOT NULL,
                kind               TEXT NOT NULL,
                output_encoding    TEXT,
                output             BYTEA,
                error_type         TEXT,
                error_message      TEXT,
                error_details      TEXT,
                attempt            INTEGER NOT NULL,
                epoch              BIGINT NOT NULL,
                started_at         BIGINT NOT NULL,
                completed_at       BIGINT NOT NULL,
                completion_seq     BIGINT NOT NULL,
                select_index       INTEGER,
                select_step_number INTEGER,
                PRIMARY KEY (workflow_id, step_number)
            )""",
        ],
    ),
]

VERSION_TABLE = "CREATE TABLE IF NOT EXISTS keel_schema (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)"
