"""The named queries of both SQL stores, written once.

Statements are written with `?` placeholders and rendered per dialect (`?` for
sqlite3, `%s` for psycopg). Text differs only where the dialects do: a list
parameter (`json_each` or `= ANY`), row locks (`FOR UPDATE SKIP LOCKED`), the
shape of the claim UPDATE, and how a table's existence is asked. What only
PostgreSQL has (NOTIFY, advisory locks, the one-statement step record) is in
coordinator/store/postgres."""

from __future__ import annotations

import json
from typing import Any

from ...core.records import NewTask, NewWorkflow, Wait, WaitKind, WorkflowStatus
from .claims import claim_statements
from .rows import EVENT, MESSAGE, NODE, SCHEDULE, STEP, STEP_INSERT, TASK, TOKEN, WORKFLOW


class Dialect:
    """How a dialect spells what differs."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.postgres = name == "postgres"
        # LIMIT for "no limit": -1 in SQLite, NULL in PostgreSQL.
        self.no_limit: int | None = None if self.postgres else -1
        self.empty_bytes = "''::bytea" if self.postgres else "X''"

    def render(self, sql: str) -> str:
        """`sql` with `?` placeholders, in this dialect's paramstyle."""
        return sql.replace("%", "%%").replace("?", "%s") if self.postgres else sql

    def in_list(self, column: str) -> str:
        """A condition: `column` is one of a list parameter (see list_param)."""
        return f"{column} = ANY(?)" if self.postgres else f"{column} IN (SELECT value FROM json_each(?))"

    def list_param(self, values: list[Any]) -> Any:
        return list(values) if self.postgres else json.dumps(values)

    def indexed_by(self, index: str) -> str:
        """After a table name: SQLite must use this index (an error if it cannot).
        Its planner, given ANALYZE statistics of skewed columns (every parked
        workflow has no owner; thousands wait on "msg:go"), can pick an index
        that walks every parked row. PostgreSQL's statistics see the skew."""
        return "" if self.postgres else f" INDEXED BY {index}"


SQLITE = Dialect("sqlite")
POSTGRES = Dialect("postgres")

# A listed workflow's error message: at most this many bytes (or characters) of it.
LIST_MESSAGE_BYTES = 800

_WAKE = "resume_at = ? WHERE {where} AND status = 'PENDING' AND resume_at > ?"


class Queries:
    """Every statement both stores run, as text in one dialect."""

    def __init__(self, d: Dialect) -> None:
        r = d.render
        wf, step = WORKFLOW.sql, STEP.sql
        self.dialect = d

        # -- workflows -------------------------------------------------------
        self.create_workflow = r(
            "INSERT INTO workflows (workflow_id, name, status, input_encoding, input, created_at, "
            "updated_at, deadline_at, owner, lease_until, epoch, parent_workflow_id) "
            "VALUES (?, ?, 'PENDING', ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            f"ON CONFLICT (workflow_id) DO NOTHING RETURNING {wf}")
        self.get_workflow = r(f"SELECT {wf} FROM workflows WHERE workflow_id = ?")
        # A listing reads no payloads: input and output come empty, error
        # details too, and the message cut short. See list_workflows_sql.
        cut = {"input": f"{d.empty_bytes} AS input", "output": f"{d.empty_bytes} AS output",
               "error_message": f"substr(error_message, 1, {LIST_MESSAGE_BYTES}) AS error_message",
               "error_details": "NULL AS error_details"}
        self._summary = ", ".join(cut.get(name, name) for name in WORKFLOW.names)
        self._lists: dict[tuple[bool, ...], str] = {}
        self.claim_workflows, self.has_claimable = claim_statements(d)
        self.release_all = r(
            f"UPDATE workflows{d.indexed_by('workflows_owned')} SET owner = NULL, lease_until = NULL "
            "WHERE owner = ? AND status = 'PENDING'")
        # Many rows at once: on PostgreSQL locked in workflow_id order first, the
        # order every group commit takes its rows in (batcher.py). Locked in
        # scan order, a renewal and a batch of step records and ends
        # deadlocked now and then (a second's wait for PostgreSQL to notice).
        def ordered(where: str) -> str:
            if not d.postgres:
                return f"WHERE {where}"
            return (f"FROM (SELECT workflow_id FROM workflows WHERE {where} ORDER BY workflow_id "
                    "FOR UPDATE) locked WHERE workflows.workflow_id = locked.workflow_id")

        self.release_some = r(
            "UPDATE workflows SET owner = NULL, lease_until = NULL "
            + ordered(f"owner = ? AND {d.in_list('workflow_id')}"))
        self.renew_leases = r(
            "UPDATE workflows SET lease_until = ? "
            + ordered(f"owner = ? AND status = 'PENDING' AND {d.in_list('workflow_id')}"))
        # Keyed by "with an epoch"; parameters: status, the five outcome
        # columns, now, workflow_id[, epoch].
        # Without an epoch (a cancel) an ENQUEUED workflow may end too.
        finish = (
            "UPDATE workflows SET status = ?, output_encoding = ?, output = ?, error_type = ?, "
            "error_message = ?, error_details = ?, updated_at = ?, owner = NULL, lease_until = NULL "
            "WHERE workflow_id = ? AND status ")
        self.finish_workflow = {
            False: r(f"{finish}IN ('PENDING', 'ENQUEUED') RETURNING {wf}"),
            True: r(f"{finish}= 'PENDING' AND epoch = ? RETURNING {wf}"),
        }
        # Error texts are bytes in PostgreSQL (schema version 5), TEXT in SQLite.
        timeout_message = "'workflow ' || workflow_id || ' passed its deadline'"
        if d.postgres:
            timeout_message = f"convert_to({timeout_message}, 'UTF8')"
        self.expire_deadlines = r(
            "UPDATE workflows SET status = 'CANCELLED', error_type = 'WorkflowTimeout', "
            f"error_message = {timeout_message}, "
            "error_details = '', updated_at = ?, owner = NULL, lease_until = NULL "
            "WHERE status = 'PENDING' AND deadline_at IS NOT NULL AND deadline_at <= ? "
            f"RETURNING {wf}")

        # -- steps -----------------------------------------------------------
        # Takes the workflow's next completion_seq, if it is PENDING on the
        # epoch; in PostgreSQL also its row lock, until commit.
        self.next_step_seq = r(
            "UPDATE workflows SET step_seq = step_seq + 1 "
            "WHERE workflow_id = ? AND epoch = ? AND status = 'PENDING' RETURNING step_seq")
        marks = ", ".join("?" * len(STEP_INSERT.names))
        self.insert_step = r(
            f"INSERT INTO steps ({STEP_INSERT.sql}) VALUES ({marks}) "
            "ON CONFLICT (workflow_id, step_number) DO NOTHING RETURNING 1")
        self.step_exists = r("SELECT 1 FROM steps WHERE workflow_id = ? AND step_number = ?")
        self.get_step = r(f"SELECT {step} FROM steps WHERE workflow_id = ? AND step_number = ?")
        self.get_steps = r(
            f"SELECT {step} FROM steps WHERE workflow_id = ? AND {d.in_list('step_number')} "
            "ORDER BY step_number")
        self.list_histories = r(
            f"SELECT {step} FROM steps WHERE {d.in_list('workflow_id')} ORDER BY workflow_id, step_number")
        # The limit is a parameter: dialect.no_limit for none.
        self.list_steps = r(
            f"SELECT {step} FROM steps WHERE workflow_id = ? AND step_number > ? "
            "ORDER BY step_number LIMIT ?")

        # -- messages --------------------------------------------------------
        self.workflow_exists = r("SELECT 1 FROM workflows WHERE workflow_id = ?")
        self.workflow_status = r("SELECT status, name FROM workflows WHERE workflow_id = ?")
        self.insert_message = r(
            "INSERT INTO messages (workflow_id, topic, encoding, data, idempotency_key, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING 1")
        # The oldest message of a topic. SKIP LOCKED never hands out a message
        # another transaction is consuming.
        self.oldest_message = r(
            f"SELECT {MESSAGE.sql} FROM messages WHERE workflow_id = ? AND topic = ? "
            "AND consumed_at IS NULL ORDER BY message_id LIMIT 1"
            + (" FOR UPDATE SKIP LOCKED" if d.postgres else ""))
        self.consume_message = r(
            "UPDATE messages SET consumed_at = ?, consumed_step = ? WHERE message_id = ?")
        # Parameters: created_at, workflow_id, wait key, created_at.
        self.wake_message_waiter = r(
            "UPDATE workflows SET " + _WAKE.format(where="workflow_id = ? AND wait_key = ?"))

        # Parameters: owner, lease_until, created_at, workflow_id, wait key,
        # created_at. The wake-up above, claiming the woken workflow at once.
        self.claim_message_waiter = r(
            "UPDATE workflows SET owner = ?, lease_until = ?, epoch = epoch + 1, updated_at = ?, "
            "resume_at = NULL, wait_key = NULL WHERE workflow_id = ? AND wait_key = ? "
            f"AND status = 'PENDING' AND resume_at > ? AND queue_name IS NULL RETURNING {wf}")

        # -- events ----------------------------------------------------------
        # seq: the workflow's row lock (next_step_seq) keeps its set_events apart.
        self.insert_event = r(
            f"INSERT INTO events ({EVENT.sql}) "
            "SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ? FROM events WHERE workflow_id = ?")
        # Parameters: now, wait key, now.
        # After a set_event's wake-ups: whether they woke anyone (a reader's
        # resume_at is now the event's time; a select waits on its key).
        self.event_woke = r(
            "SELECT EXISTS (SELECT 1 FROM select_waits WHERE wait_key = ?) OR EXISTS (SELECT 1 FROM "
            f"workflows{d.indexed_by('workflows_wait_key')} WHERE wait_key = ? AND status = 'PENDING' "
            "AND resume_at = ?)")
        self.wake_event_waiters = r(
            f"UPDATE workflows{d.indexed_by('workflows_wait_key')} SET " + _WAKE.format(where="wait_key = ?"))
        self.get_event = r(
            f"SELECT {EVENT.sql} FROM events WHERE workflow_id = ? AND key = ? ORDER BY seq DESC LIMIT 1")
        self.list_events = r(
            f"SELECT {EVENT.sql} FROM events WHERE workflow_id = ? AND seq > ? ORDER BY seq LIMIT ?")

        # -- waits -----------------------------------------------------------
        self.insert_wait = r(
            "INSERT INTO waits (workflow_id, step_number, deadline_at) VALUES (?, ?, ?) "
            "ON CONFLICT (workflow_id, step_number) DO NOTHING RETURNING deadline_at")
        self.get_wait = r("SELECT deadline_at FROM waits WHERE workflow_id = ? AND step_number = ?")
        # Parks a workflow (see park_params). What it waits for may have
        # arrived already: then it resumes at once.
        ready = {
            WaitKind.RECV: "EXISTS (SELECT 1 FROM messages WHERE workflow_id = ? AND topic = ? "
                           "AND consumed_at IS NULL)",
            WaitKind.EVENT: "EXISTS (SELECT 1 FROM events WHERE workflow_id = ? AND key = ?)",
            WaitKind.SLEEP: "1 = 0",
        }
        self.park = {
            kind: r(
                "UPDATE workflows SET owner = NULL, lease_until = NULL, wait_key = ?, "
                f"epoch = epoch + 1, resume_at = CASE WHEN {exists} THEN CAST(? AS BIGINT) "
                "ELSE CAST(? AS BIGINT) END "
                "WHERE workflow_id = ? AND epoch = ? AND status = 'PENDING' RETURNING resume_at")
            for kind, exists in ready.items()
        }

        # -- step tasks -------------------------------------------------------
        task, task_key = TASK.sql, "workflow_id = ? AND step_number = ?"
        self.create_task = r(
            "INSERT INTO step_tasks (workflow_id, step_number, name, input_encoding, input, epoch, "
            "attempt, owner, lease_until, created_at, timeout_ms, max_attempts, attempt_deadline) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            f"ON CONFLICT (workflow_id, step_number) DO NOTHING RETURNING {task}")
        self.get_task = r(f"SELECT {task} FROM step_tasks WHERE {task_key}")
        # Parameters: names, now, limit, owner, lease_until, now. Tasks of final
        # workflows or of recorded steps are left (and collected by delete_dead_tasks).
        picked_tasks = (
            "SELECT t.workflow_id, t.step_number FROM step_tasks t "
            "JOIN workflows w ON w.workflow_id = t.workflow_id "
            f"WHERE w.status = 'PENDING' AND {d.in_list('t.name')} "
            "AND (t.owner IS NULL OR t.lease_until < ?) "
            "AND NOT EXISTS (SELECT 1 FROM steps s WHERE s.workflow_id = t.workflow_id "
            "AND s.step_number = t.step_number) "
            "ORDER BY t.created_at, t.workflow_id, t.step_number LIMIT ?"
            + (" FOR UPDATE OF t SKIP LOCKED" if d.postgres else ""))
        claim_tasks = (
            f"WITH picked AS ({picked_tasks}) UPDATE step_tasks SET owner = ?, lease_until = ?, "
            "attempt_deadline = CAST(? AS BIGINT) + timeout_ms, attempt = attempt + 1 ")
        self.claim_tasks = r(
            claim_tasks + "FROM picked WHERE step_tasks.workflow_id = picked.workflow_id "
            f"AND step_tasks.step_number = picked.step_number RETURNING {TASK.of('step_tasks')}"
            if d.postgres else
            claim_tasks + "WHERE (workflow_id, step_number) IN (SELECT workflow_id, step_number FROM picked) "
            f"RETURNING {task}")
        self.release_all_tasks = r(
            "UPDATE step_tasks SET owner = NULL, lease_until = NULL WHERE owner = ?")
        self.release_task = r(
            f"UPDATE step_tasks SET owner = NULL, lease_until = NULL WHERE owner = ? AND {task_key}")
        self.renew_task = r(f"UPDATE step_tasks SET lease_until = ? WHERE owner = ? AND {task_key}")
        # An outcome may be recorded only for the task's current attempt, before
        # its deadline. Parameters: workflow_id, step_number, attempt, now.
        self.take_task = r(
            f"DELETE FROM step_tasks WHERE {task_key} AND attempt = ? "
            "AND (attempt_deadline IS NULL OR attempt_deadline > ?) RETURNING 1")
        # Parameters: workflow_id. Any epoch.
        self.next_step_seq_any_epoch = r(
            "UPDATE workflows SET step_seq = step_seq + 1 "
            "WHERE workflow_id = ? AND status = 'PENDING' RETURNING step_seq")
        self.delete_dead_tasks = r(
            "DELETE FROM step_tasks WHERE EXISTS (SELECT 1 FROM workflows w "
            "WHERE w.workflow_id = step_tasks.workflow_id AND w.status <> 'PENDING') "
            "OR EXISTS (SELECT 1 FROM steps s "
            "WHERE s.workflow_id = step_tasks.workflow_id AND s.step_number = step_tasks.step_number)")

        # -- nodes ------------------------------------------------------------
        self.register_node = r(
            "INSERT INTO nodes (node_id, incarnation, started_at, heartbeat_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (node_id) DO UPDATE SET incarnation = excluded.incarnation, "
            "started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at")
        self.heartbeat_node = r(
            "UPDATE nodes SET heartbeat_at = ? WHERE node_id = ? AND incarnation = ? RETURNING 1")
        self.dead_nodes = r("DELETE FROM nodes WHERE heartbeat_at < ? RETURNING node_id")
        self.remove_node = r("DELETE FROM nodes WHERE node_id = ? AND incarnation = ?")
        self.list_nodes = r(f"SELECT {NODE.sql} FROM nodes ORDER BY node_id")

        # -- tokens ----------------------------------------------------------
        self.create_token = r(
            f"INSERT INTO tokens ({TOKEN.sql}) VALUES ({', '.join('?' * len(TOKEN.names))}) "
            "ON CONFLICT DO NOTHING RETURNING 1")
        self.find_token = r(f"SELECT {TOKEN.sql} FROM tokens WHERE secret_hash = ?")
        self.list_tokens = r(f"SELECT {TOKEN.sql} FROM tokens ORDER BY name")
        self.revoke_token = r(
            "UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL RETURNING 1")
        # Parameters: now, name, now.
        self.touch_token = r(
            "UPDATE tokens SET last_used_at = ? WHERE name = ? "
            "AND (last_used_at IS NULL OR last_used_at < ?)")

        # -- step timeouts (issue 15) ------------------------------------------
        # Claimed attempts past their deadline, of PENDING workflows. Parameter: now.
        self.expired_tasks = r(
            f"SELECT {TASK.of('t')} FROM step_tasks t JOIN workflows w ON w.workflow_id = t.workflow_id "
            "WHERE t.owner IS NOT NULL AND t.attempt_deadline IS NOT NULL AND t.attempt_deadline <= ? "
            "AND w.status = 'PENDING' ORDER BY t.attempt_deadline LIMIT 100"
            + (" FOR UPDATE OF t SKIP LOCKED" if d.postgres else ""))
        # Another attempt may claim it; the timed-out one stays fenced off (its
        # deadline has passed). Parameters: workflow_id, step_number, attempt.
        self.release_expired = r(
            f"UPDATE step_tasks SET owner = NULL, lease_until = NULL WHERE {task_key} AND attempt = ?")
        self.drop_task = r(f"DELETE FROM step_tasks WHERE {task_key} AND attempt = ? RETURNING 1")

        # -- the console's reads (issue 16) ----------------------------------
        # Keyed like list_workflows and by "after a cursor"; parameters: status,
        # name (each if filtered), then created_at, created_at, workflow_id of
        # the cursor, then the limit. Newest first, ties by ID, as listed.
        self.list_workflows_page = {
            (status, name, after): r(
                f"SELECT {self._summary} FROM workflows WHERE 1 = 1"
                + (" AND status = ?" if status else "") + (" AND name = ?" if name else "")
                + (" AND (created_at < ? OR (created_at = ? AND workflow_id > ?))" if after else "")
                + " ORDER BY created_at DESC, workflow_id LIMIT ?")
            for status in (False, True) for name in (False, True) for after in (False, True)
        }
        # Two counts, each of an index (the parked: workflows_resume), not
        # one pass that reads every PENDING row.
        self.count_pending = r(
            "SELECT (SELECT COUNT(*) FROM workflows WHERE status = 'PENDING'), "
            "(SELECT COUNT(*) FROM workflows WHERE status = 'PENDING' AND resume_at IS NOT NULL)")

        # -- select over anything (issue 11) ---------------------------------
        # Parameters: parent, then the limit; newest first, listed like list_workflows.
        self.list_children = r(
            f"SELECT {self._summary} FROM workflows WHERE parent_workflow_id = ? "
            "ORDER BY created_at DESC, workflow_id LIMIT ?")
        self.oldest_message_at = r(
            "SELECT created_at FROM messages WHERE workflow_id = ? AND topic = ? "
            "AND consumed_at IS NULL ORDER BY message_id LIMIT 1")
        self.clear_select_waits = r("DELETE FROM select_waits WHERE workflow_id = ?")
        self.insert_select_wait = r(
            "INSERT INTO select_waits (workflow_id, wait_key) VALUES (?, ?) ON CONFLICT DO NOTHING")
        # Parameters: resume_at, workflow_id, epoch. The wait key "select"
        # says the keys are in select_waits (woken by triggers, schema v6).
        self.park_select = r(
            "UPDATE workflows SET owner = NULL, lease_until = NULL, wait_key = 'select', "
            "epoch = epoch + 1, resume_at = ? "
            "WHERE workflow_id = ? AND epoch = ? AND status = 'PENDING' RETURNING 1")
        # Parameters: at, workflow_id, at. Only a parked workflow.
        self.resume_parked = r(
            "UPDATE workflows SET resume_at = ? WHERE workflow_id = ? AND status = 'PENDING' "
            "AND owner IS NULL AND resume_at > ? RETURNING 1")

        # -- operating: resume, fork, retention, schedules --------------------
        lock = " FOR UPDATE" if d.postgres else ""
        skip = " FOR UPDATE SKIP LOCKED" if d.postgres else ""
        self.lock_workflow = r(f"SELECT {wf} FROM workflows WHERE workflow_id = ?{lock}")
        self.last_good_step = r(
            "SELECT COALESCE(MAX(step_number), -1) FROM steps WHERE workflow_id = ? AND error_type IS NULL")
        self.delete_steps_after = r("DELETE FROM steps WHERE workflow_id = ? AND step_number > ?")
        self.delete_waits_after = r("DELETE FROM waits WHERE workflow_id = ? AND step_number > ?")
        self.release_workflow_tasks = r(
            "UPDATE step_tasks SET owner = NULL, lease_until = NULL WHERE workflow_id = ?")
        self.resume_workflow = r(
            "UPDATE workflows SET status = 'PENDING', output_encoding = NULL, output = NULL, "
            "error_type = NULL, error_message = NULL, error_details = NULL, owner = NULL, "
            "lease_until = NULL, epoch = epoch + 1, resume_at = NULL, wait_key = NULL, "
            "deadline_at = NULL, updated_at = ? "
            f"WHERE workflow_id = ? AND status IN ('CANCELLED', 'ERROR') RETURNING {wf}")
        # Parameters: new ID, now, now, source ID.
        self.fork_workflow = r(
            "INSERT INTO workflows (workflow_id, name, status, input_encoding, input, created_at, "
            "updated_at, epoch, forked_from) SELECT ?, name, 'PENDING', input_encoding, input, ?, ?, 0, "
            "workflow_id FROM workflows WHERE workflow_id = ? "
            "ON CONFLICT (workflow_id) DO NOTHING RETURNING 1")
        step_rest = ", ".join(n for n in STEP.names if n != "workflow_id")
        event_rest = ", ".join(n for n in EVENT.names if n != "workflow_id")
        # Parameters: new ID, source ID, start step.
        self.copy_steps = r(
            f"INSERT INTO steps (workflow_id, {step_rest}) SELECT ?, {step_rest} FROM steps "
            "WHERE workflow_id = ? AND step_number < ?")
        self.copy_events = r(
            f"INSERT INTO events (workflow_id, {event_rest}) SELECT ?, {event_rest} FROM events "
            "WHERE workflow_id = ? AND step_number < ?")
        self.fork_step_seq = r(
            "UPDATE workflows SET step_seq = (SELECT COALESCE(MAX(completion_seq), 0) FROM steps "
            f"WHERE workflow_id = ?) WHERE workflow_id = ? RETURNING {wf}")
        finished = "status IN ('SUCCESS', 'ERROR', 'CANCELLED') AND updated_at < ?"
        self.count_finished = r(f"SELECT count(*) FROM workflows WHERE {finished}")
        self.pick_finished = r(
            f"SELECT workflow_id FROM workflows WHERE {finished} ORDER BY updated_at LIMIT ?{skip}")
        self.delete_rows_of = {
            table: r(f"DELETE FROM {table} WHERE {d.in_list('workflow_id')}")
            for table in ("steps", "events", "messages", "waits", "step_tasks", "workflows")
        }
        sched = SCHEDULE.sql
        self.put_schedule = r(
            f"INSERT INTO schedules ({sched}) VALUES ({', '.join('?' * len(SCHEDULE.names))}) "
            "ON CONFLICT (name) DO UPDATE SET workflow_name = excluded.workflow_name, "
            "cron = excluded.cron, timezone = excluded.timezone, "
            "input_encoding = excluded.input_encoding, input = excluded.input, "
            "paused = excluded.paused, next_tick_at = excluded.next_tick_at, "
            f"updated_at = excluded.updated_at RETURNING {sched}")
        self.delete_schedule = r("DELETE FROM schedules WHERE name = ? RETURNING 1")
        self.get_schedule = r(f"SELECT {sched} FROM schedules WHERE name = ?")
        self.list_schedules = r(f"SELECT {sched} FROM schedules ORDER BY name")
        self.pause_schedule = r(
            f"UPDATE schedules SET paused = 1, updated_at = ? WHERE name = ? RETURNING {sched}")
        self.unpause_schedule = r(
            "UPDATE schedules SET paused = 0, next_tick_at = ?, updated_at = ? WHERE name = ? "
            f"RETURNING {sched}")
        self.due_schedules = r(
            f"SELECT {sched} FROM schedules WHERE paused = 0 AND next_tick_at <= ? "
            f"ORDER BY next_tick_at, name LIMIT ?{skip}")
        # Parameters: next tick, tick fired (or NULL), now, name.
        self.schedule_ticked = r(
            "UPDATE schedules SET next_tick_at = ?, last_tick_at = COALESCE(?, last_tick_at), "
            "updated_at = ? WHERE name = ?")

    def list_workflows_sql(self, status: bool, name: bool, created_after: bool, created_before: bool,
                           cursor: bool) -> str:
        """The listing with these filters; parameters in this order (the
        cursor is two: created_at, workflow_id), then the limit. Newest first,
        ties by workflow ID descending, so each filter's index on
        (..., created_at, workflow_id) serves it read backwards."""
        key = (status, name, created_after, created_before, cursor)
        sql = self._lists.get(key)
        if sql is None:
            sql = self._lists[key] = self.dialect.render(
                f"SELECT {self._summary} FROM workflows WHERE 1 = 1"
                + (" AND status = ?" if status else "") + (" AND name = ?" if name else "")
                + (" AND created_at >= ?" if created_after else "")
                + (" AND created_at < ?" if created_before else "")
                + (" AND (created_at, workflow_id) < (?, ?)" if cursor else "")
                + " ORDER BY created_at DESC, workflow_id DESC LIMIT ?")
        return sql

    def list_workflows_params(
        self, status: str | None, name: str | None, limit: int, created_after: int | None,
        created_before: int | None, after: tuple[int, str] | None,
    ) -> tuple[str, tuple[Any, ...]]:
        """The statement and parameters of one listing."""
        sql = self.list_workflows_sql(status is not None, bool(name), created_after is not None,
                                      created_before is not None, after is not None)
        params = (*([status] if status is not None else []), *([name] if name else []),
                  *([created_after] if created_after is not None else []),
                  *([created_before] if created_before is not None else []),
                  *(after if after is not None else ()), limit)
        return sql, params


def workflow_params(wf: NewWorkflow) -> tuple[Any, ...]:
    """The parameters of Queries.create_workflow: one place, so every caller
    (a start, a schedule's tick) gives the columns the statement now has."""
    return (wf.workflow_id, wf.name, wf.input.encoding, wf.input.data, wf.created_at, wf.created_at,
            wf.deadline_at, wf.owner, wf.lease_until, 1 if wf.owner else 0, wf.parent_workflow_id)


def task_params(t: NewTask) -> tuple[Any, ...]:
    """The parameters of Queries.create_task."""
    return (t.workflow_id, t.step_number, t.name, t.input.encoding, t.input.data, t.epoch,
            1 if t.owner else 0, t.owner, t.lease_until, t.created_at, t.timeout_ms, t.max_attempts,
            t.attempt_deadline if t.owner else None)


def park_params(workflow_id: str, epoch: int, resume_at: int, wait: Wait, now: int) -> tuple[Any, ...]:
    """The parameters of Queries.park[wait.kind]."""
    if wait.kind is WaitKind.RECV:
        ready: tuple[str, ...] = (workflow_id, wait.topic)
    elif wait.kind is WaitKind.EVENT:
        ready = (wait.target, wait.key)
    else:
        ready = ()
    return (wait.wait_key, *ready, now, resume_at, workflow_id, epoch)


def page_params(status: WorkflowStatus | None, name: str | None, before: tuple[int, str] | None,
                limit: int) -> tuple[Any, ...]:
    """The parameters of Queries.list_workflows_page[status given, name given, before given]."""
    return (*([status.value] if status is not None else []), *([name] if name else []),
            *([before[0], before[0], before[1]] if before is not None else []), limit)
