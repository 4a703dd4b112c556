"""The PostgreSQL schema: versioned migrations, applied in order by
coordinator/store/sql/migrate.py.

Never edit a released migration: append a new one. Types differ from
schema/sqlite.py only where the dialects do.
"""

from __future__ import annotations

from .postgres_set_event import SET_EVENT_V15, SET_EVENT_V16, SET_EVENT_V17

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
                input          BYTEA NOT NULL,
                paused         INTEGER NOT NULL DEFAULT 0,
                next_tick_at   BIGINT NOT NULL,
                created_at     BIGINT NOT NULL,
                updated_at     BIGINT NOT NULL,
                last_tick_at   BIGINT
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
                rate_period_ms        BIGINT,
                partition_concurrency INTEGER,
                created_at            BIGINT NOT NULL,
                updated_at            BIGINT NOT NULL
            )""",
            "ALTER TABLE workflows ADD COLUMN queue_name TEXT",
            "ALTER TABLE workflows ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
            # Enqueue order, for FIFO within a priority.
            "ALTER TABLE workflows ADD COLUMN queue_seq BIGINT",
            "ALTER TABLE workflows ADD COLUMN deduplication_id TEXT",
            "ALTER TABLE workflows ADD COLUMN partition_key TEXT",
            # A queued workflow's timeout, turned into deadline_at when it starts.
            "ALTER TABLE workflows ADD COLUMN timeout_ms BIGINT",
            "ALTER TABLE workflows ADD COLUMN started_at BIGINT",
            "CREATE SEQUENCE workflows_queue_seq",
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
            "ALTER TABLE step_tasks ADD COLUMN timeout_ms BIGINT",
            "ALTER TABLE step_tasks ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 1",
            "ALTER TABLE step_tasks ADD COLUMN attempt_deadline BIGINT",
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
        # Version 13 (issue 17; as SQLite's 13): the select wake-ups of
        # version 6, driven by select_waits. Its one UPDATE for every kind of
        # key let the planner, without statistics, read the workflows through
        # workflows_resume (resume_at > p_at): every parked workflow walked at
        # each message sent and each workflow's end (665 us a call with 3,000
        # parked, two calls a wake). Now a message looks up its own
        # workflow's waits by primary key, the others by select_waits_key,
        # and nobody waiting (the usual case) costs one index probe.
        13,
        [
            """CREATE OR REPLACE FUNCTION keel_wake_selects(p_key TEXT, p_only TEXT, p_at BIGINT)
                RETURNS void LANGUAGE plpgsql AS $$
            DECLARE
                waiter TEXT;
                woken BOOLEAN := FALSE;
            BEGIN
                FOR waiter IN SELECT s.workflow_id FROM select_waits s
                    WHERE s.wait_key = p_key AND p_only IS NULL
                    UNION ALL
                    SELECT s.workflow_id FROM select_waits s
                    WHERE s.workflow_id = p_only AND s.wait_key = p_key
                LOOP
                    UPDATE workflows SET resume_at = p_at
                    WHERE workflow_id = waiter AND status = 'PENDING' AND wait_key = 'select'
                    AND resume_at > p_at;
                    woken := woken OR FOUND;
                END LOOP;
                IF woken THEN
                    PERFORM pg_notify('keel', 'work');
                END IF;
            END $$""",
        ],
    ),
    (
        # Version 14 (issue 17): the claim's unowned workflows, oldest first,
        # read in this index's order. Ordered by plain created_at, the claim
        # could also be served in order by workflows_by_status (status,
        # created_at, ...), and the planner took that on a store of parked
        # workflows (it cannot see how few PENDING rows are unowned and not
        # parked): every parked row walked, 113 ms a claim with 100,000.
        # Ordered by created_at + 0 (version 11's way out), no index gave the
        # order and every unowned row was read and sorted: 57 ms a claim with
        # 50,000 started and waiting for a slot. Only this index orders by
        # created_at + 0, so the claim reads `limit` entries of it.
        14,
        [
            """CREATE INDEX workflows_claimable_order ON workflows ((created_at + 0), workflow_id)
                WHERE status = 'PENDING' AND owner IS NULL AND resume_at IS NULL""",
            "DROP INDEX workflows_claimable",
        ],
    ),
    (
        # Version 15 (issue 17, event delivery): set_event as one call of a
        # function (postgres_set_event.py).
        15,
        [SET_EVENT_V15],
    ),
    (
        # Version 16 (issue 17, event delivery): the function takes the wait
        # lock before it writes the event and wakes parked selects itself;
        # the events' trigger of version 6 goes (postgres_set_event.py).
        16,
        [
            SET_EVENT_V16,
            "DROP TRIGGER events_wake_selects ON events",
            "DROP FUNCTION keel_event_wakes()",
        ],
    ),
    (
        # Version 17 (issue 17, event delivery): the function says whether it
        # woke a parked workflow (postgres_set_event.py).
        17,
        [
            "DROP FUNCTION keel_set_event(TEXT, BIGINT, INTEGER, TEXT, TEXT, TEXT, BYTEA, INTEGER, "
            "BIGINT, BIGINT, TEXT, TEXT, TEXT, BIGINT, TEXT, BOOLEAN)",
            SET_EVENT_V17,
        ],
    ),
]
