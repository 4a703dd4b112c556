"""keel_set_event, the PostgreSQL function that records a set_event (see
store/postgres/effects.py), as each migration of schema/postgres.py creates
it. Never edit one: a new version replaces the function in full."""

from __future__ import annotations

# Version 15 (issue 17, event delivery): set_event as one call. Its
# statements ran as a script of four (the step, the wait lock, the
# event, the readers' wake-up), 1.4-1.5 ms paced against 1.0-1.1 for
# this function: each statement of a script is parsed from its text,
# and each of a function runs a plan it keeps. Each statement here
# still reads a snapshot of its own, taken after the locks before it
# (postgres/wakeups.py): the workflow's row, then the wait lock, then the
# wake-up. The event's trigger (version 6) wakes parked selects.
# OUT matched: the workflow is PENDING on the epoch; completion_seq,
# event_seq: NULL unless this call recorded the step (a duplicate or
# stale one writes nothing).
SET_EVENT_V15 = """CREATE FUNCTION keel_set_event(
                p_workflow_id TEXT, p_epoch BIGINT, p_step_number INTEGER, p_name TEXT, p_kind TEXT,
                p_encoding TEXT, p_value BYTEA, p_attempt INTEGER, p_started_at BIGINT,
                p_completed_at BIGINT, p_worker_token TEXT, p_worker_id TEXT, p_key TEXT,
                p_lock BIGINT, p_wait_key TEXT, p_notify BOOLEAN,
                OUT matched BOOLEAN, OUT completion_seq BIGINT, OUT event_seq BIGINT)
            LANGUAGE plpgsql AS $$
            DECLARE
                v_seq BIGINT;
                v_woken BOOLEAN;
            BEGIN
                SELECT w.step_seq INTO v_seq FROM workflows w
                WHERE w.workflow_id = p_workflow_id AND w.epoch = p_epoch AND w.status = 'PENDING'
                FOR UPDATE;
                matched := FOUND;
                IF NOT matched THEN
                    RETURN;
                END IF;
                INSERT INTO steps (workflow_id, step_number, name, kind, output_encoding, output,
                                   attempt, epoch, started_at, completed_at, worker_token, worker_id,
                                   completion_seq)
                VALUES (p_workflow_id, p_step_number, p_name, p_kind, p_encoding, p_value, p_attempt,
                        p_epoch, p_started_at, p_completed_at, p_worker_token, p_worker_id, v_seq + 1)
                ON CONFLICT (workflow_id, step_number) DO NOTHING;
                IF NOT FOUND THEN
                    RETURN;
                END IF;
                completion_seq := v_seq + 1;
                UPDATE workflows SET step_seq = v_seq + 1 WHERE workflow_id = p_workflow_id;
                INSERT INTO events (workflow_id, seq, key, value_encoding, value, step_number, created_at)
                SELECT p_workflow_id, COALESCE(MAX(e.seq), 0) + 1, p_key, p_encoding, p_value,
                       p_step_number, p_completed_at
                FROM events e WHERE e.workflow_id = p_workflow_id
                RETURNING seq INTO event_seq;
                PERFORM pg_advisory_xact_lock(p_lock);
                UPDATE workflows SET resume_at = p_completed_at
                WHERE wait_key = p_wait_key AND status = 'PENDING' AND resume_at > p_completed_at;
                v_woken := FOUND;
                IF p_notify THEN
                    PERFORM pg_notify('keel', 'event:' || p_workflow_id);
                    IF v_woken THEN
                        PERFORM pg_notify('keel', 'work');
                    END IF;
                END IF;
            END $$"""

# Version 16 (issue 17, event delivery): version 15 inserted the event
# before it took the wait lock, so the events' trigger (version 6)
# looked for parked selects before the lock a select parks under
# (postgres/selects.py), and a select parking meanwhile could miss the event
# until it polled. The lock now comes before the event, and the
# function wakes parked selects itself, after one probe of
# select_waits: the trigger, a plpgsql call per event even with no
# select parked (0.15 ms of a 0.85 ms insert paced), is dropped, and
# a fork wakes the selects waiting on the events it copies
# (postgres/ops.py).
SET_EVENT_V16 = """CREATE OR REPLACE FUNCTION keel_set_event(
                p_workflow_id TEXT, p_epoch BIGINT, p_step_number INTEGER, p_name TEXT, p_kind TEXT,
                p_encoding TEXT, p_value BYTEA, p_attempt INTEGER, p_started_at BIGINT,
                p_completed_at BIGINT, p_worker_token TEXT, p_worker_id TEXT, p_key TEXT,
                p_lock BIGINT, p_wait_key TEXT, p_notify BOOLEAN,
                OUT matched BOOLEAN, OUT completion_seq BIGINT, OUT event_seq BIGINT)
            LANGUAGE plpgsql AS $$
            DECLARE
                v_seq BIGINT;
                v_woken BOOLEAN;
            BEGIN
                SELECT w.step_seq INTO v_seq FROM workflows w
                WHERE w.workflow_id = p_workflow_id AND w.epoch = p_epoch AND w.status = 'PENDING'
                FOR UPDATE;
                matched := FOUND;
                IF NOT matched THEN
                    RETURN;
                END IF;
                INSERT INTO steps (workflow_id, step_number, name, kind, output_encoding, output,
                                   attempt, epoch, started_at, completed_at, worker_token, worker_id,
                                   completion_seq)
                VALUES (p_workflow_id, p_step_number, p_name, p_kind, p_encoding, p_value, p_attempt,
                        p_epoch, p_started_at, p_completed_at, p_worker_token, p_worker_id, v_seq + 1)
                ON CONFLICT (workflow_id, step_number) DO NOTHING;
                IF NOT FOUND THEN
                    RETURN;
                END IF;
                completion_seq := v_seq + 1;
                UPDATE workflows SET step_seq = v_seq + 1 WHERE workflow_id = p_workflow_id;
                PERFORM pg_advisory_xact_lock(p_lock);
                INSERT INTO events (workflow_id, seq, key, value_encoding, value, step_number, created_at)
                SELECT p_workflow_id, COALESCE(MAX(e.seq), 0) + 1, p_key, p_encoding, p_value,
                       p_step_number, p_completed_at
                FROM events e WHERE e.workflow_id = p_workflow_id
                RETURNING seq INTO event_seq;
                IF EXISTS (SELECT 1 FROM select_waits WHERE wait_key = p_wait_key) THEN
                    PERFORM keel_wake_selects(p_wait_key, NULL, p_completed_at);
                END IF;
                UPDATE workflows SET resume_at = p_completed_at
                WHERE wait_key = p_wait_key AND status = 'PENDING' AND resume_at > p_completed_at;
                v_woken := FOUND;
                IF p_notify THEN
                    PERFORM pg_notify('keel', 'event:' || p_workflow_id);
                    IF v_woken THEN
                        PERFORM pg_notify('keel', 'work');
                    END IF;
                END IF;
            END $$"""


# Version 17 (issue 17, event delivery): OUT woken, whether the call woke a
# workflow parked on the event (a reader's wake-up, or a select waiting on
# it), so the coordinator claims only then: a claim after every set_event
# cost paced delivery 0.15-0.25 ms. A new OUT parameter changes the
# function's type: it is dropped and made again. Callers that name their
# columns (matched, completion_seq, event_seq) read it as before.
SET_EVENT_V17 = """CREATE FUNCTION keel_set_event(
                p_workflow_id TEXT, p_epoch BIGINT, p_step_number INTEGER, p_name TEXT, p_kind TEXT,
                p_encoding TEXT, p_value BYTEA, p_attempt INTEGER, p_started_at BIGINT,
                p_completed_at BIGINT, p_worker_token TEXT, p_worker_id TEXT, p_key TEXT,
                p_lock BIGINT, p_wait_key TEXT, p_notify BOOLEAN,
                OUT matched BOOLEAN, OUT completion_seq BIGINT, OUT event_seq BIGINT,
                OUT woken BOOLEAN)
            LANGUAGE plpgsql AS $$
            DECLARE
                v_seq BIGINT;
                v_woken BOOLEAN;
            BEGIN
                SELECT w.step_seq INTO v_seq FROM workflows w
                WHERE w.workflow_id = p_workflow_id AND w.epoch = p_epoch AND w.status = 'PENDING'
                FOR UPDATE;
                matched := FOUND;
                IF NOT matched THEN
                    RETURN;
                END IF;
                INSERT INTO steps (workflow_id, step_number, name, kind, output_encoding, output,
                                   attempt, epoch, started_at, completed_at, worker_token, worker_id,
                                   completion_seq)
                VALUES (p_workflow_id, p_step_number, p_name, p_kind, p_encoding, p_value, p_attempt,
                        p_epoch, p_started_at, p_completed_at, p_worker_token, p_worker_id, v_seq + 1)
                ON CONFLICT (workflow_id, step_number) DO NOTHING;
                IF NOT FOUND THEN
                    RETURN;
                END IF;
                completion_seq := v_seq + 1;
                UPDATE workflows SET step_seq = v_seq + 1 WHERE workflow_id = p_workflow_id;
                PERFORM pg_advisory_xact_lock(p_lock);
                INSERT INTO events (workflow_id, seq, key, value_encoding, value, step_number, created_at)
                SELECT p_workflow_id, COALESCE(MAX(e.seq), 0) + 1, p_key, p_encoding, p_value,
                       p_step_number, p_completed_at
                FROM events e WHERE e.workflow_id = p_workflow_id
                RETURNING seq INTO event_seq;
                woken := EXISTS (SELECT 1 FROM select_waits WHERE wait_key = p_wait_key);
                IF woken THEN
                    PERFORM keel_wake_selects(p_wait_key, NULL, p_completed_at);
                END IF;
                UPDATE workflows SET resume_at = p_completed_at
                WHERE wait_key = p_wait_key AND status = 'PENDING' AND resume_at > p_completed_at;
                v_woken := FOUND;
                woken := woken OR v_woken;
                IF p_notify THEN
                    PERFORM pg_notify('keel', 'event:' || p_workflow_id);
                    IF v_woken THEN
                        PERFORM pg_notify('keel', 'work');
                    END IF;
                END IF;
            END $$"""
