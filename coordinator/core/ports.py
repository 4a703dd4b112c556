"""The ports of the core: the store it persists through and the worker links
it dispatches to. Adapters implement them (coordinator/store, coordinator/api)."""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .records import (
    Effect,
    EnqueueResult,
    EventRecord,
    NewMessage,
    NewQueued,
    NewStep,
    NewTask,
    NewWorkflow,
    NodeRecord,
    Note,
    Outcome,
    QueueRecord,
    QueueState,
    RecordResult,
    ScheduleRecord,
    SetEvent,
    StepRecord,
    TaskRecord,
    Tick,
    TokenRecord,
    Wait,
    WorkflowRecord,
    WorkflowStatus,
)

if TYPE_CHECKING:
    from .dispatch import StepTask


@dataclass(frozen=True, slots=True)
class SchemaState:
    """The schema version a database is at, and the one this code expects."""

    current: int  # highest migration applied; 0 for an empty database
    latest: int  # highest migration this version knows

    @property
    def up_to_date(self) -> bool:
        return self.current == self.latest


class WorkerLink(Protocol):
    """How the core talks to one connected worker (its stream, in the API)."""

    def send_workflow(self, wf: WorkflowRecord) -> None: ...
    def send_step(self, task: StepTask) -> None: ...
    def send_revoke(self, workflow_id: str, epoch: int, reason: str) -> None: ...
    def close(self, reason: str) -> None: ...

    @property
    def congested(self) -> bool:
        """Whether too much sent to the worker is not yet written to it (flow
        control): nothing new is assigned to it until it catches up."""
        ...


class Store(abc.ABC):
    """Durable state of all workflows. Safe to share between coordinators."""

    @abc.abstractmethod
    async def open(self, migrate: bool = True) -> None:
        """Connect, and apply pending migrations unless `migrate` is False."""

    @abc.abstractmethod
    async def schema_state(self) -> SchemaState:
        """Which migrations the database has, changing nothing."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    # -- workflows -----------------------------------------------------------

    @abc.abstractmethod
    async def create_workflow(self, wf: NewWorkflow) -> tuple[WorkflowRecord, bool]:
        """Insert a PENDING workflow; if the ID exists return it and False."""

    @abc.abstractmethod
    async def get_workflow(self, workflow_id: str) -> WorkflowRecord | None: ...

    @abc.abstractmethod
    async def list_workflows(
        self, status: WorkflowStatus | None, name: str | None, limit: int, *,
        created_after: int | None = None, created_before: int | None = None,
        after: tuple[int, str] | None = None,
    ) -> list[WorkflowRecord]:
        """Newest first (by created_at, then workflow ID, both descending),
        created at or after `created_after` and before `created_before`, and
        only those after the cursor `after` (the (created_at, workflow_id) of
        the last one of the previous page). Without payloads: each record's input and output have
        their encoding but empty data, an error has no details and at most the
        start of its message (800 bytes or characters). Reading payloads is
        get_workflow's job, one workflow at a time."""

    @abc.abstractmethod
    async def claim_workflows(
        self, owner: str, names: list[str], limit: int, now: int, lease_until: int, leases: bool = True
    ) -> list[WorkflowRecord]:
        """Take up to `limit` PENDING workflows with one of `names` that nobody
        holds (or whose lease expired: only if `leases`, but for the parked
        and due), oldest first; bump their epoch."""

    @abc.abstractmethod
    async def has_claimable(self, names: list[str], now: int) -> bool:
        """Whether a PENDING workflow with one of `names` waits unowned, or
        parked and due: asked after a claim took as many as it could hold.
        Run-out leases are not looked for; a row another claim is taking may
        count."""

    @abc.abstractmethod
    async def release_workflows(self, owner: str, workflow_ids: list[str] | None) -> None:
        """Give up the leases on these workflows (all of the owner's if None)."""

    @abc.abstractmethod
    async def renew_leases(self, owner: str, workflow_ids: list[str], lease_until: int) -> int:
        """Extend the owner's leases on these workflows (the ones it runs);
        returns how many. A lease the owner holds but no longer runs (an
        answer lost after a claim committed, say) is left to expire, so no
        workflow stays stuck with an owner that forgot it."""

    @abc.abstractmethod
    async def finish_workflow(
        self, workflow_id: str, epoch: int | None, status: WorkflowStatus, outcome: Outcome, now: int
    ) -> WorkflowRecord | None:
        """Make a PENDING workflow final. With an epoch, only if it still matches.
        Returns the updated record, or None if nothing changed."""

    @abc.abstractmethod
    async def expire_deadlines(self, now: int) -> list[WorkflowRecord]:
        """Cancel every PENDING workflow whose deadline passed; return them."""

    # -- steps ---------------------------------------------------------------

    @abc.abstractmethod
    async def record_step(
        self, step: NewStep, effect: Effect | None = None
    ) -> tuple[RecordResult, StepRecord | None]:
        """Commit a step outcome if the workflow is PENDING on `step.epoch` and the
        step number is free, together with its effect if any (all or nothing).
        On DUPLICATE returns the record that won. With Recv, the recorded output
        is the consumed message's value (EMPTY if there is none). With Send, a
        missing destination gives NOT_FOUND."""

    async def set_event(
        self, step: NewStep, key: str
    ) -> tuple[RecordResult, StepRecord | None, EventRecord | None, bool]:
        """record_step(step, SetEvent(key)), and the event it appended when
        RECORDED, so readers woken here are answered without reading it again;
        last, whether a workflow parked on the event (in a get_event, or a
        select over it) may have been woken, so the coordinator claims only
        then. The default cannot tell the event (None: readers read it) nor
        who was woken (True)."""
        result, record = await self.record_step(step, SetEvent(key))
        return result, record, None, True

    # -- events, messages, waits ---------------------------------------------

    @abc.abstractmethod
    async def send_message(self, message: NewMessage) -> RecordResult:
        """Deliver a message from outside any workflow: RECORDED, DUPLICATE (the
        idempotency key was used before), NOT_FOUND (no such workflow) or
        STALE (the workflow is final: nothing was written)."""

    async def send_and_claim(self, message: NewMessage, owner: str, lease_until: int,
                             names: Collection[str]) -> tuple[RecordResult, WorkflowRecord | None]:
        """send_message; and if the message is RECORDED and wakes its
        destination parked in a recv of its topic (not on a queue), a
        workflow of one of `names`, claim it for `owner` in the same commit,
        as claim_workflows would: the claimed record (None if not claimed:
        then it is due, as after send_message)."""
        return await self.send_message(message), None

    @abc.abstractmethod
    async def get_event(self, workflow_id: str, key: str) -> EventRecord | None:
        """The latest value of the key."""

    @abc.abstractmethod
    async def list_events(self, workflow_id: str, after_seq: int, limit: int) -> list[EventRecord]:
        """Events with seq > after_seq, in order."""

    @abc.abstractmethod
    async def wait_deadline(self, workflow_id: str, step_number: int, deadline_at: int) -> int:
        """The deadline of the wait at this step: stored on first call, then kept,
        so a replay waits only what is left."""

    async def listen(self, callback: Callable[[Note], None]) -> None:
        """Call `callback(note)` for changes committed by other processes sharing
        the database, where the store can tell (PostgreSQL LISTEN/NOTIFY). Best
        effort: callers still poll now and then. The default does nothing (one
        process per SQLite file)."""
        return None

    @abc.abstractmethod
    async def park(
        self, workflow_id: str, epoch: int, resume_at: int, wait: Wait, now: int
    ) -> bool:
        """Release a PENDING workflow (execution `epoch`) until `resume_at`, or
        until what it waits for arrives (then at once, also if it arrived
        already). False if the execution is stale."""

    @abc.abstractmethod
    async def get_step(self, workflow_id: str, step_number: int) -> StepRecord | None: ...

    @abc.abstractmethod
    async def get_steps(self, workflow_id: str, step_numbers: list[int]) -> list[StepRecord]:
        """Those of these steps that are recorded, in step-number order."""

    @abc.abstractmethod
    async def list_steps(
        self, workflow_id: str, after_step_number: int = -1, limit: int | None = None
    ) -> list[StepRecord]:
        """Recorded steps in step-number order."""

    async def list_histories(self, workflow_ids: list[str]) -> dict[str, list[StepRecord]]:
        """Every recorded step of each of these workflows, in step-number order
        (one read where the store can: the histories of a claimed batch)."""
        return {wid: await self.list_steps(wid) for wid in workflow_ids}

    # -- step tasks: steps any coordinator may run ---------------------------

    @abc.abstractmethod
    async def create_task(self, task: NewTask) -> tuple[TaskRecord | None, StepRecord | None]:
        """Queue a step for the coordinators, unless its outcome is recorded
        (then `(None, record)`) or it is queued already (then the queued task,
        as it is). With `task.owner`, it is created claimed: attempt 1."""

    @abc.abstractmethod
    async def claim_tasks(
        self, owner: str, names: list[str], limit: int, now: int, lease_until: int
    ) -> list[TaskRecord]:
        """Take up to `limit` tasks with one of `names` that nobody holds (or
        whose lease expired), of PENDING workflows, whose step is not recorded,
        oldest first; each claim bumps the attempt."""

    @abc.abstractmethod
    async def release_tasks(self, owner: str, keys: list[tuple[str, int]] | None) -> None:
        """Give up these tasks (all of the owner's if None) for any node to claim."""

    @abc.abstractmethod
    async def renew_task_leases(self, owner: str, keys: list[tuple[str, int]], lease_until: int) -> int:
        """Extend the owner's leases on these tasks; returns how many."""

    @abc.abstractmethod
    async def complete_task(self, step: NewStep) -> tuple[RecordResult, StepRecord | None]:
        """Commit an assigned step's outcome and remove its task, if the task is
        on `step.attempt` and the workflow PENDING (whatever its epoch now: the
        outcome of a step does not depend on which execution asked for it).
        DUPLICATE with the record if this attempt's outcome was recorded already
        (a retry); STALE if this attempt was fenced off (another attempt is
        current or won) or the workflow is final."""

    @abc.abstractmethod
    async def get_task(self, workflow_id: str, step_number: int) -> TaskRecord | None: ...

    # -- coordinators sharing the store --------------------------------------

    @abc.abstractmethod
    async def register_node(self, node_id: str, incarnation: str, now: int) -> None:
        """Announce this coordinator (replacing a previous life of the same node ID)."""

    @abc.abstractmethod
    async def heartbeat_node(self, node_id: str, incarnation: str, now: int) -> bool:
        """Say this node is alive; False if it was presumed dead meanwhile (its
        row is gone or belongs to a newer life): it holds nothing any more."""

    @abc.abstractmethod
    async def reap_nodes(self, silent_since: int) -> list[str]:
        """Forget the nodes that have not heartbeated since `silent_since` and
        release their workflow leases and step tasks at once; their IDs."""

    @abc.abstractmethod
    async def remove_node(self, node_id: str, incarnation: str) -> None:
        """A clean stop: forget this node."""

    @abc.abstractmethod
    async def list_nodes(self) -> list[NodeRecord]: ...

    @abc.abstractmethod
    async def clock_ms(self) -> int:
        """The store's own clock, in ms since the epoch: the one clock that
        coordinators sharing the store compare deadlines and leases against."""
    # -- tokens (hashes only: a store never sees a secret) ---------------------

    @abc.abstractmethod
    async def create_token(self, token: TokenRecord) -> bool:
        """Insert it; False (nothing written) if a token with its name exists,
        revoked or not: a name stays unique, so audit records stay unambiguous."""

    @abc.abstractmethod
    async def find_token(self, secret_hash: str) -> TokenRecord | None:
        """The token whose secret hashes to this, revoked and expired ones too."""

    @abc.abstractmethod
    async def list_tokens(self) -> list[TokenRecord]:
        """Every token, by name."""

    @abc.abstractmethod
    async def revoke_token(self, name: str, now: int) -> bool:
        """Mark it revoked at `now` (kept, for audit); False if no such token
        or already revoked."""

    @abc.abstractmethod
    async def touch_token(self, name: str, now: int) -> None:
        """Note that the token was used at `now` (only ever moves forward)."""

    # -- operating: resume, fork, retention, schedules -------------------------

    @abc.abstractmethod
    async def resume_workflow(self, workflow_id: str, now: int) -> tuple[WorkflowRecord | None, bool]:
        """Make a CANCELLED or ERROR workflow PENDING again, unclaimed, on a new
        epoch (fencing whatever still runs under the old one), with no outcome
        and no deadline. Its recorded steps after the last successful one (the
        failed ones) are deleted with their waits, so they run again; its step
        tasks are released for any coordinator to claim under a new attempt.
        Returns the record (None if unknown) and whether it was resumed (False:
        it was not CANCELLED or ERROR; the record is as it is)."""

    @abc.abstractmethod
    async def fork_workflow(
        self, source_id: str, start_step: int, workflow_id: str, now: int
    ) -> tuple[WorkflowRecord | None, bool]:
        """Create PENDING workflow `workflow_id` with the source's name and input,
        `forked_from` the source, holding copies of the source's step records
        numbered below `start_step` (and the events those steps set). Returns
        (None, False) if the source is unknown; (the existing record, False) if
        `workflow_id` exists; (the new record, True) else."""

    @abc.abstractmethod
    async def collect_workflows(self, finished_before: int, limit: int, dry_run: bool = False) -> int:
        """Delete up to `limit` final workflows last updated before
        `finished_before`, with their steps, events, messages, waits and step
        tasks, in one transaction; returns how many. With `dry_run`, delete
        nothing and count all of them."""

    @abc.abstractmethod
    async def put_schedule(self, schedule: ScheduleRecord) -> ScheduleRecord:
        """Create or replace the schedule of this name (keeping its created_at
        and last tick when replaced); returns it as stored."""

    @abc.abstractmethod
    async def delete_schedule(self, name: str) -> bool:
        """False if there was no such schedule."""

    @abc.abstractmethod
    async def list_schedules(self) -> list[ScheduleRecord]:
        """Every schedule, by name."""

    @abc.abstractmethod
    async def get_schedule(self, name: str) -> ScheduleRecord | None: ...

    @abc.abstractmethod
    async def pause_schedule(
        self, name: str, paused: bool, next_tick_at: int, now: int
    ) -> ScheduleRecord | None:
        """Pause it, or resume it with its next tick at `next_tick_at`; None if unknown."""

    @abc.abstractmethod
    async def fire_schedules(
        self, now: int, limit: int, plan: Callable[[ScheduleRecord], Tick]
    ) -> list[WorkflowRecord]:
        """Fire up to `limit` unpaused schedules whose next tick has passed: each
        is claimed with a row lock (skipping those another coordinator holds),
        `plan(schedule)` says what its tick starts and when it ticks next, and
        the workflow (created unless its ID exists) and the new next tick commit
        together. Returns the workflows created."""
    # -- queues: limits kept in the store, so they hold across coordinators ------

    @abc.abstractmethod
    async def set_queue(self, queue: QueueRecord) -> QueueRecord:
        """Create or replace the queue's limits (created_at kept); the record."""

    @abc.abstractmethod
    async def get_queue(self, name: str) -> QueueState | None: ...

    @abc.abstractmethod
    async def list_queues(self) -> list[QueueState]:
        """Every queue, by name."""

    @abc.abstractmethod
    async def enqueue_workflow(self, new: NewQueued) -> tuple[EnqueueResult, WorkflowRecord | None]:
        """Create the workflow ENQUEUED on its queue (CREATED, or CREATED_WAITING
        if the queue was at its concurrency then), unless the queue does not
        exist (NO_QUEUE, None), the ID exists (EXISTS and that workflow), or its
        deduplication ID is held by a workflow of the queue that is ENQUEUED or
        PENDING (DUPLICATE and that one)."""

    @abc.abstractmethod
    async def dequeue_workflows(
        self, owner: str, names: list[str], limit: int, now: int, lease_until: int,
        on_worker: dict[str, int],
    ) -> tuple[list[WorkflowRecord], int | None]:
        """Start up to `limit` ENQUEUED workflows with one of `names`, claimed by
        `owner` (PENDING, epoch bumped, started_at = now, deadline from their
        timeout), within every limit of their queues, atomically with respect
        to every other caller: per queue, lower priority first, then enqueue
        order. `on_worker` counts the workflows of each queue running on the
        worker they are for (worker_concurrency). Also returns when a rate
        limit that held work back allows the next start (None if none did)."""

    # -- step timeouts (issue 15) --------------------------------------------

    @abc.abstractmethod
    async def expire_task_attempts(
        self, now: int, failure: Callable[[TaskRecord], NewStep]
    ) -> list[tuple[TaskRecord, StepRecord | None]]:
        """Deal with claimed attempts past their `attempt_deadline` (of PENDING
        workflows, at most 100 a call): one that may be retried (attempt <
        max_attempts) is released for any node to claim, its attempt still
        fenced off; the last one's step is recorded as `failure(task)` and its
        task removed. Returns each task as it was, with the record if failed."""
    # -- the console's reads (issue 16) ------------------------------------------

    @abc.abstractmethod
    async def list_workflows_page(
        self, status: WorkflowStatus | None, name: str | None, before: tuple[int, str] | None,
        limit: int,
    ) -> list[WorkflowRecord]:
        """Like list_workflows, from just after `before` = (created_at,
        workflow_id) of the last one of the previous page (newest first,
        ties by ID): a page costs the same however deep it is."""

    @abc.abstractmethod
    async def count_pending(self) -> tuple[int, int]:
        """(PENDING workflows, those of them parked: waiting for a time, an
        event or a message, on no worker)."""
    # -- select over anything (issue 11) ---------------------------------------

    @abc.abstractmethod
    async def list_children(self, parent_workflow_id: str, limit: int) -> list[WorkflowRecord]:
        """The workflows this one started (start_workflow), newest first,
        without payloads as list_workflows lists them."""

    @abc.abstractmethod
    async def oldest_message_at(self, workflow_id: str, topic: str) -> int | None:
        """When the oldest unconsumed message of the topic was sent; None if none."""

    @abc.abstractmethod
    async def park_select(
        self, workflow_id: str, epoch: int, resume_at: int, wait_keys: list[str], now: int
    ) -> bool:
        """Park like `park`, until `resume_at` or until any of `wait_keys`
        ("msg:<topic>" of this workflow, event_wait_key, done_wait_key) is
        committed: then at that commit's time, in the same transaction. What
        arrived before the park does not wake it: the caller looks after
        parking (and calls resume_parked). False if the execution is stale."""

    @abc.abstractmethod
    async def resume_parked(self, workflow_id: str, at: int) -> bool:
        """Make a parked workflow claimable at `at` (if it would resume later)."""
