"""The PostgreSQL schema: versioned migrations, applied in order by
coordinator/store/sql/migrate.py.

Never edit a released migration: append a new one. Types differ from
schema/sqlite.py only where the dialects do.
"""

from __future__ import annotations

# Each entry: (version, statements).
MIGRATIONS: list[tuple[int, list[str]]] = [
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
    (
        2,
        [
            # A parked workflow is not claimed before resume_at; wait_key names
            # what wakes it earlier ("msg:<topic>" or "event:<workflow>:<key>").
            "ALTER TABLE workflows ADD COLUMN resume_at BIGINT",
            "ALTER TABLE workflows ADD COLUMN wait_key TEXT",
            "CREATE INDEX workflows_wait_key ON workflows (wait_key) WHERE wait_key IS NOT NULL",
            """CREATE TABLE events (
                workflow_id    TEXT NOT NULL,
                seq            BIGINT NOT NULL,
                key            TEXT NOT NULL,
                value_encoding TEXT NOT NULL,
                value          BYTEA NOT NULL,
                step_number    INTEGER NOT NULL,
                created_at     BIGINT NOT NULL,
                PRIMARY KEY (workflow_id, seq)
            )""",
            "CREATE INDEX events_key ON events (workflow_id, key, seq)",
            """CREATE TABLE messages (
                message_id      BIGSERIAL PRIMARY KEY,
                workflow_id     TEXT NOT NULL,
                topic           TEXT NOT NULL,
                encoding        TEXT NOT NULL,
                data            BYTEA NOT NULL,
                idempotency_key TEXT,
                created_at      BIGINT NOT NULL,
                consumed_at     BIGINT,
                consumed_step   INTEGER
            )""",
            """CREATE UNIQUE INDEX messages_idempotency ON messages (workflow_id, idempotency_key)
                WHERE idempotency_key IS NOT NULL""",
            """CREATE INDEX messages_queue ON messages (workflow_id, topic, message_id)
                WHERE consumed_at IS NULL""",
            """CREATE TABLE waits (
                workflow_id TEXT NOT NULL,
                step_number INTEGER NOT NULL,
                deadline_at BIGINT NOT NULL,
                PRIMARY KEY (workflow_id, step_number)
            )""",
        ],
    ),
    (
        3,
        [
            # Steps any coordinator may run (issue: several coordinators): a
            # row per step handed to the coordinators, until its outcome is
            # recorded. Each claim bumps the attempt, which fences outcomes.
            """CREATE TABLE step_tasks (
                workflow_id    TEXT NOT NULL,
                step_number    INTEGER NOT NULL,
                name           TEXT NOT NULL,
                input_encoding TEXT NOT NULL,
                input          BYTEA NOT NULL,
                epoch          BIGINT NOT NULL,
                attempt        INTEGER NOT NULL DEFAULT 0,
                owner          TEXT,
                lease_until    BIGINT,
                created_at     BIGINT NOT NULL,
                PRIMARY KEY (workflow_id, step_number)
            )""",
            "CREATE INDEX step_tasks_by_name ON step_tasks (name, created_at)",
            "CREATE INDEX step_tasks_owner ON step_tasks (owner) WHERE owner IS NOT NULL",
            # Coordinators sharing the store, and their heartbeats.
            """CREATE TABLE nodes (
                node_id      TEXT PRIMARY KEY,
                incarnation  TEXT NOT NULL,
                started_at   BIGINT NOT NULL,
                heartbeat_at BIGINT NOT NULL
            )""",
        ],
    ),
    (
        4,
        [
            # Role tokens (issue 13): only a hash of each secret; a revoked token
            # is kept, so the names in steps.worker_token stay meaningful.
            """CREATE TABLE tokens (
                name         TEXT PRIMARY KEY,
                role         TEXT NOT NULL,
                secret_hash  TEXT NOT NULL UNIQUE,
                created_at   BIGINT NOT NULL,
                expires_at   BIGINT,
                revoked_at   BIGINT,
                last_used_at BIGINT
            )""",
            # Audit: the worker token whose call recorded the step ('' without auth).
            "ALTER TABLE steps ADD COLUMN worker_token TEXT NOT NULL DEFAULT ''",
        ],
    ),
    (
        # Version 5. Error texts are any Unicode string, NUL included, which
        # PostgreSQL TEXT cannot hold: they are stored as their UTF-8 bytes.
        5,
        [
            f"ALTER TABLE {table} " + ", ".join(
                f"ALTER COLUMN {column} TYPE BYTEA USING convert_to({column}, 'UTF8')"
                for column in ("error_type", "error_message", "error_details"))
            for table in ("workflows", "steps")
        ],
    ),
    (
        # Version 6 (issue 11, select over anything): children know their
        # parent; a select parks on several wait keys at once (select_waits),
        # and whatever commits one of them (a message, an event, a workflow
        # becoming final) wakes the parked select in the same transaction.
        6,
        [
            "ALTER TABLE workflows ADD COLUMN parent_workflow_id TEXT",
            """CREATE INDEX workflows_parent ON workflows (parent_workflow_id, created_at)
                WHERE parent_workflow_id IS NOT NULL""",
            """CREATE TABLE select_waits (
                workflow_id TEXT NOT NULL,
                wait_key    TEXT NOT NULL,
                PRIMARY KEY (workflow_id, wait_key)
            )""",
            "CREATE INDEX select_waits_key ON select_waits (wait_key)",
            # Wait keys as in core/records.py: "msg:<topic>",
            # "event:<len>:<workflow>:<key>", "done:<workflow>". A woken
            # workflow is claimable: the other coordinators hear "work".
            """CREATE FUNCTION keel_wake_selects(p_key TEXT, p_only TEXT, p_at BIGINT)
                RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE workflows SET resume_at = p_at
                WHERE status = 'PENDING' AND wait_key = 'select' AND resume_at > p_at
                AND workflow_id IN (SELECT s.workflow_id FROM select_waits s
                    WHERE s.wait_key = p_key AND (p_only IS NULL OR s.workflow_id = p_only));
                IF FOUND THEN
                    PERFORM pg_notify('keel', 'work');
                END IF;
            END $$""",
            """CREATE FUNCTION keel_message_wakes() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM keel_wake_selects('msg:' || NEW.topic, NEW.workflow_id, NEW.created_at);
                RETURN NULL;
            END $$""",
            """CREATE TRIGGER messages_wake_selects AFTER INSERT ON messages
                FOR EACH ROW EXECUTE FUNCTION keel_message_wakes()""",
            """CREATE FUNCTION keel_event_wakes() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM keel_wake_selects('event:' || length(NEW.workflow_id) || ':'
                    || NEW.workflow_id || ':' || NEW.key, NULL, NEW.created_at);
                RETURN NULL;
            END $$""",
            """CREATE TRIGGER events_wake_selects AFTER INSERT ON events
                FOR EACH ROW EXECUTE FUNCTION keel_event_wakes()""",
            """CREATE FUNCTION keel_done_wakes() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM keel_wake_selects('done:' || NEW.workflow_id, NULL, NEW.updated_at);
                DELETE FROM select_waits WHERE workflow_id = NEW.workflow_id;
                RETURN NULL;
            END $$""",
            """CREATE TRIGGER workflows_done_wake_selects AFTER UPDATE OF status ON workflows
                FOR EACH ROW WHEN (OLD.status = 'PENDING' AND NEW.status <> 'PENDING')
                EXECUTE FUNCTION keel_done_wakes()""",
        ],
    ),
]
