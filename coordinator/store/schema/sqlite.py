"""The SQLite schema: versioned migrations, applied in order by
coordinator/store/sql/migrate.py.

Never edit a released migration: append a new one. Types differ from
schema/postgres.py only where the dialects do.
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
    (
        2,
        [
            # A parked workflow is not claimed before resume_at; wait_key names
            # what wakes it earlier ("msg:<topic>" or "event:<workflow>:<key>").
            "ALTER TABLE workflows ADD COLUMN resume_at INTEGER",
            "ALTER TABLE workflows ADD COLUMN wait_key TEXT",
            "CREATE INDEX workflows_wait_key ON workflows (wait_key) WHERE wait_key IS NOT NULL",
            """CREATE TABLE events (
                workflow_id    TEXT NOT NULL,
                seq            INTEGER NOT NULL,
                key            TEXT NOT NULL,
                value_encoding TEXT NOT NULL,
                value          BLOB NOT NULL,
                step_number    INTEGER NOT NULL,
                created_at     INTEGER NOT NULL,
                PRIMARY KEY (workflow_id, seq)
            )""",
            "CREATE INDEX events_key ON events (workflow_id, key, seq)",
            """CREATE TABLE messages (
                message_id      INTEGER PRIMARY KEY AUTOINCREMENT,
                workflow_id     TEXT NOT NULL,
                topic           TEXT NOT NULL,
                encoding        TEXT NOT NULL,
                data            BLOB NOT NULL,
                idempotency_key TEXT,
                created_at      INTEGER NOT NULL,
                consumed_at     INTEGER,
                consumed_step   INTEGER
            )""",
            """CREATE UNIQUE INDEX messages_idempotency ON messages (workflow_id, idempotency_key)
                WHERE idempotency_key IS NOT NULL""",
            """CREATE INDEX messages_queue ON messages (workflow_id, topic, message_id)
                WHERE consumed_at IS NULL""",
            """CREATE TABLE waits (
                workflow_id TEXT NOT NULL,
                step_number INTEGER NOT NULL,
                deadline_at INTEGER NOT NULL,
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
                input          BLOB NOT NULL,
                epoch          INTEGER NOT NULL,
                attempt        INTEGER NOT NULL DEFAULT 0,
                owner          TEXT,
                lease_until    INTEGER,
                created_at     INTEGER NOT NULL,
                PRIMARY KEY (workflow_id, step_number)
            )""",
            "CREATE INDEX step_tasks_by_name ON step_tasks (name, created_at)",
            "CREATE INDEX step_tasks_owner ON step_tasks (owner) WHERE owner IS NOT NULL",
            # Coordinators sharing the store, and their heartbeats.
            """CREATE TABLE nodes (
                node_id      TEXT PRIMARY KEY,
                incarnation  TEXT NOT NULL,
                started_at   INTEGER NOT NULL,
                heartbeat_at INTEGER NOT NULL
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
                created_at   INTEGER NOT NULL,
                expires_at   INTEGER,
                revoked_at   INTEGER,
                last_used_at INTEGER
            )""",
            # Audit: the worker token whose call recorded the step ('' without auth).
            "ALTER TABLE steps ADD COLUMN worker_token TEXT NOT NULL DEFAULT ''",
        ],
    ),
    (
        # Version 8 (issue 14, operating keel): forks remember their source;
        # listing pages by (created_at, workflow_id) under each filter; the
        # retention sweep finds finished workflows by age; cron schedules.
        8,
        [
            "ALTER TABLE workflows ADD COLUMN forked_from TEXT",
            "CREATE INDEX workflows_by_created ON workflows (created_at, workflow_id)",
            "CREATE INDEX workflows_by_status ON workflows (status, created_at, workflow_id)",
            "CREATE INDEX workflows_by_name ON workflows (name, created_at, workflow_id)",
            "DROP INDEX workflows_created",
            "CREATE INDEX workflows_finished ON workflows (updated_at) "
            "WHERE status IN ('SUCCESS', 'ERROR', 'CANCELLED')",
            "CREATE INDEX messages_workflow ON messages (workflow_id)",
            """CREATE TABLE schedules (
                name           TEXT PRIMARY KEY,
                workflow_name  TEXT NOT NULL,
                cron           TEXT NOT NULL,
                timezone       TEXT NOT NULL,
                input_encoding TEXT NOT NULL,
                input          BLOB NOT NULL,
                paused         INTEGER NOT NULL DEFAULT 0,
                next_tick_at   INTEGER NOT NULL,
                created_at     INTEGER NOT NULL,
                updated_at     INTEGER NOT NULL,
                last_tick_at   INTEGER
            )""",
            "CREATE INDEX schedules_due ON schedules (next_tick_at) WHERE paused = 0",
        ],
    ),
    (
        7,
        [
            # Queues (issue 12): named limits kept in the store, so that they
            # hold across every coordinator sharing it. A queued workflow is
            # ENQUEUED until a dequeue starts it (PENDING, started_at set).
            """CREATE TABLE queues (
                name                  TEXT PRIMARY KEY,
                concurrency           INTEGER,
                worker_concurrency    INTEGER,
                rate_limit            INTEGER,
                rate_period_ms        INTEGER,
                partition_concurrency INTEGER,
                created_at            INTEGER NOT NULL,
                updated_at            INTEGER NOT NULL
            )""",
            "ALTER TABLE workflows ADD COLUMN queue_name TEXT",
            "ALTER TABLE workflows ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
            # Enqueue order, for FIFO within a priority.
            "ALTER TABLE workflows ADD COLUMN queue_seq INTEGER",
            "ALTER TABLE workflows ADD COLUMN deduplication_id TEXT",
            "ALTER TABLE workflows ADD COLUMN partition_key TEXT",
            # A queued workflow's timeout, turned into deadline_at when it starts.
            "ALTER TABLE workflows ADD COLUMN timeout_ms INTEGER",
            "ALTER TABLE workflows ADD COLUMN started_at INTEGER",
            "CREATE INDEX workflows_queue_seq ON workflows (queue_seq) WHERE queue_seq IS NOT NULL",
            """CREATE INDEX workflows_enqueued ON workflows (queue_name, priority, queue_seq)
                WHERE status = 'ENQUEUED'""",
            """CREATE INDEX workflows_queue_running ON workflows (queue_name, partition_key)
                WHERE status = 'PENDING' AND queue_name IS NOT NULL""",
            """CREATE INDEX workflows_queue_starts ON workflows (queue_name, started_at)
                WHERE queue_name IS NOT NULL AND started_at IS NOT NULL""",
            # While one holds it, a deduplication ID cannot be enqueued again.
            """CREATE UNIQUE INDEX workflows_deduplication ON workflows (queue_name, deduplication_id)
                WHERE deduplication_id IS NOT NULL AND status IN ('ENQUEUED', 'PENDING')""",
        ],
    ),
    (
        # Version 9. Step timeouts (issue 15): how long each attempt of a step
        # task may run, how many may time out, and when the current attempt is
        # fenced off (set when it is claimed; an attempt past it cannot record).
        9,
        [
            "ALTER TABLE step_tasks ADD COLUMN timeout_ms INTEGER",
            "ALTER TABLE step_tasks ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 1",
            "ALTER TABLE step_tasks ADD COLUMN attempt_deadline INTEGER",
            "CREATE INDEX step_tasks_deadline ON step_tasks (attempt_deadline) "
            "WHERE owner IS NOT NULL AND attempt_deadline IS NOT NULL",
        ],
    ),
    (
        # Version 10 (the console, issue 16): which worker ran each step, and
        # indexes that keep the console's filtered, paged listing fast on a
        # large store (newest first within a status, or within a name).
        10,
        [
            "ALTER TABLE steps ADD COLUMN worker_id TEXT NOT NULL DEFAULT ''",
            "CREATE INDEX workflows_status_created ON workflows (status, created_at, workflow_id)",
            "CREATE INDEX workflows_name_created ON workflows (name, created_at, workflow_id)",
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
            # "event:<len>:<workflow>:<key>", "done:<workflow>".
            """CREATE TRIGGER messages_wake_selects AFTER INSERT ON messages BEGIN
                UPDATE workflows SET resume_at = NEW.created_at
                WHERE workflow_id = NEW.workflow_id AND status = 'PENDING' AND wait_key = 'select'
                AND resume_at > NEW.created_at AND EXISTS (SELECT 1 FROM select_waits s
                WHERE s.workflow_id = NEW.workflow_id AND s.wait_key = 'msg:' || NEW.topic);
            END""",
            """CREATE TRIGGER events_wake_selects AFTER INSERT ON events BEGIN
                UPDATE workflows SET resume_at = NEW.created_at
                WHERE status = 'PENDING' AND wait_key = 'select' AND resume_at > NEW.created_at
                AND workflow_id IN (SELECT workflow_id FROM select_waits WHERE wait_key =
                'event:' || length(NEW.workflow_id) || ':' || NEW.workflow_id || ':' || NEW.key);
            END""",
            """CREATE TRIGGER workflows_done_wake_selects AFTER UPDATE OF status ON workflows
                WHEN OLD.status = 'PENDING' AND NEW.status <> 'PENDING' BEGIN
                UPDATE workflows SET resume_at = NEW.updated_at
                WHERE status = 'PENDING' AND wait_key = 'select' AND resume_at > NEW.updated_at
                AND workflow_id IN (SELECT workflow_id FROM select_waits
                WHERE wait_key = 'done:' || NEW.workflow_id);
                DELETE FROM select_waits WHERE workflow_id = NEW.workflow_id;
            END""",
        ],
    ),
    (
        # Version 11 (issue 17, flat with store size): what the claim looks
        # for, each in a partial index of its own, so that it walks neither
        # the parked rows nor the finished ones: PENDING and neither owned nor
        # parked (by age); parked (by resume_at); owned (by owner, then
        # lease_until: a lease run out). The last replaces workflows_owner,
        # which held every PENDING row (the parked ones too, under NULL), and
        # the claim no longer reads workflows_pending.
        11,
        [
            """CREATE INDEX workflows_claimable ON workflows (created_at, workflow_id)
                WHERE status = 'PENDING' AND owner IS NULL AND resume_at IS NULL""",
            # status too: SQLite then counts the parked from this index alone.
            """CREATE INDEX workflows_resume ON workflows (resume_at, status)
                WHERE status = 'PENDING' AND resume_at IS NOT NULL""",
            """CREATE INDEX workflows_owned ON workflows (owner, lease_until)
                WHERE status = 'PENDING' AND owner IS NOT NULL""",
            "DROP INDEX workflows_owner",
            "DROP INDEX workflows_pending",
        ],
    ),
    (
        # Version 12 (issue 17): version 10 built two indexes version 8 had
        # already built under other names (status, created_at, workflow_id and
        # name, created_at, workflow_id); every workflow written paid for both.
        12,
        [
            "DROP INDEX workflows_status_created",
            "DROP INDEX workflows_name_created",
        ],
    ),
    (
        # Version 13 (issue 17; SQLite only): the select wake-ups of version 6
        # on an event and on a workflow's end, driven by select_waits: without
        # statistics SQLite read them through the status index, walking every
        # PENDING workflow (every parked one) at each finish, 30 ms with
        # 100,000 parked. "+" keeps a column's index unused.
        13,
        [
            "DROP TRIGGER events_wake_selects",
            """CREATE TRIGGER events_wake_selects AFTER INSERT ON events BEGIN
                UPDATE workflows SET resume_at = NEW.created_at
                WHERE workflow_id IN (SELECT workflow_id FROM select_waits WHERE wait_key =
                'event:' || length(NEW.workflow_id) || ':' || NEW.workflow_id || ':' || NEW.key)
                AND +status = 'PENDING' AND +wait_key = 'select' AND +resume_at > NEW.created_at;
            END""",
            "DROP TRIGGER workflows_done_wake_selects",
            """CREATE TRIGGER workflows_done_wake_selects AFTER UPDATE OF status ON workflows
                WHEN OLD.status = 'PENDING' AND NEW.status <> 'PENDING' BEGIN
                UPDATE workflows SET resume_at = NEW.updated_at
                WHERE workflow_id IN (SELECT workflow_id FROM select_waits
                WHERE wait_key = 'done:' || NEW.workflow_id)
                AND +status = 'PENDING' AND +wait_key = 'select' AND +resume_at > NEW.updated_at;
                DELETE FROM select_waits WHERE workflow_id = NEW.workflow_id;
            END""",
        ],
    ),
]
