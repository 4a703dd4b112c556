"""The in-memory store: the whole Store port in plain Python, for unit tests of
the core (no database, no threads).

Every method runs to completion without awaiting, so on one event loop each
call is atomic, as a transaction is in the SQL stores. Records are frozen, so
they are kept and handed out as they are. `listen` delivers nothing: there is
no other process to hear from.

`memory://` is a private, empty store; `memory://NAME` is shared by every
store opened on that name in this process (and outlives them), the way a
database file outlives its connections.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field

from ..core.ports import SchemaState
from ..core.records import (
    Effect,
    EventRecord,
    Failure,
    NewMessage,
    NewStep,
    NewWorkflow,
    NodeRecord,
    Outcome,
    QueueRecord,
    RecordResult,
    Recv,
    ScheduleRecord,
    Send,
    SetEvent,
    StepRecord,
    TaskRecord,
    TokenRecord,
    Value,
    Wait,
    WaitKind,
    WorkflowRecord,
    WorkflowStatus,
    done_wait_key,
    event_wait_key,
    message_wait_key,
)
from .memory_ops import MemoryOperations
from .memory_queues import MemoryQueues
from .memory_tasks import MemoryTasks

# A listed workflow's error message: at most this many characters of it.
LIST_MESSAGE_CHARS = 800

# The memory store is always at the newest schema: it has none to migrate.
_SCHEMA = SchemaState(current=1, latest=1)


@dataclass(slots=True)
class _Workflow:
    """A workflow row: the record, and the columns a record does not show."""

    record: WorkflowRecord
    lease_until: int | None = None
    resume_at: int | None = None
    wait_key: str | None = None
    # On a queue (record.queue set): its place, and its timeout until it starts.
    priority: int = 0
    queue_seq: int = 0
    deduplication_id: str | None = None
    partition_key: str | None = None
    timeout_ms: int | None = None


@dataclass(slots=True)
class _Database:
    workflows: dict[str, _Workflow] = field(default_factory=dict)
    steps: dict[str, dict[int, StepRecord]] = field(default_factory=dict)
    events: dict[str, list[EventRecord]] = field(default_factory=dict)
    # Unconsumed messages per (destination, topic), oldest first.
    queues: dict[tuple[str, str], collections.deque[Value]] = field(default_factory=dict)
    # Idempotency keys ever used, per destination (consumed messages too).
    message_keys: set[tuple[str, str]] = field(default_factory=set)
    waits: dict[tuple[str, int], int] = field(default_factory=dict)
    tasks: dict[tuple[str, int], TaskRecord] = field(default_factory=dict)
    nodes: dict[str, NodeRecord] = field(default_factory=dict)
    tokens: dict[str, TokenRecord] = field(default_factory=dict)
    schedules: dict[str, ScheduleRecord] = field(default_factory=dict)  # memory_ops.py
    workflow_queues: dict[str, QueueRecord] = field(default_factory=dict)
    queue_seq: int = 0
    # When each queued message was sent, in the same order as `queues`.
    queue_times: dict[tuple[str, str], collections.deque[int]] = field(default_factory=dict)
    # Selects parked on several wait keys: workflow ID -> its keys.
    select_waits: dict[str, set[str]] = field(default_factory=dict)


_NAMED: dict[str, _Database] = {}


class MemoryStore(MemoryTasks, MemoryQueues, MemoryOperations):
    def __init__(self, name: str = "", clock: Callable[[], int] | None = None) -> None:
        """A private store, or (with a name) the process-wide one of that name;
        `clock` (ms) stands for the database server's clock (default: this host's)."""
        self._db = _NAMED.setdefault(name, _Database()) if name else _Database()
        self._clock = clock or (lambda: int(time.time() * 1000))

    async def open(self, migrate: bool = True) -> None:
        return None

    async def schema_state(self) -> SchemaState:
        return _SCHEMA

    async def close(self) -> None:
        return None

    # -- workflows -----------------------------------------------------------

    async def create_workflow(self, wf: NewWorkflow) -> tuple[WorkflowRecord, bool]:
        existing = self._db.workflows.get(wf.workflow_id)
        if existing is not None:
            return existing.record, False
        record = WorkflowRecord(
            workflow_id=wf.workflow_id, name=wf.name, status=WorkflowStatus.PENDING, input=wf.input,
            outcome=None, created_at=wf.created_at, updated_at=wf.created_at,
            epoch=1 if wf.owner else 0, step_seq=0, deadline_at=wf.deadline_at, owner=wf.owner,
            parent_workflow_id=wf.parent_workflow_id,
        )
        self._db.workflows[wf.workflow_id] = _Workflow(record, lease_until=wf.lease_until)
        return record, True

    async def get_workflow(self, workflow_id: str) -> WorkflowRecord | None:
        row = self._db.workflows.get(workflow_id)
        return row.record if row else None

    async def list_workflows(
        self, status: WorkflowStatus | None, name: str | None, limit: int, *,
        created_after: int | None = None, created_before: int | None = None,
        after: tuple[int, str] | None = None,
    ) -> list[WorkflowRecord]:
        found = [
            w for row in self._db.workflows.values() if (w := row.record)
            and (status is None or w.status is status) and (not name or w.name == name)
            and (created_after is None or w.created_at >= created_after)
            and (created_before is None or w.created_at < created_before)
            and (after is None or (w.created_at, w.workflow_id) < after)
        ]
        found.sort(key=lambda w: (w.created_at, w.workflow_id), reverse=True)
        return [_summary(w) for w in found[:max(limit, 0)]]

    def _claimable(self, names: list[str], now: int, leases: bool) -> Iterator[_Workflow]:
        wanted = set(names)
        return (row for row in self._db.workflows.values()
                if row.record.status is WorkflowStatus.PENDING and row.record.name in wanted
                and (row.record.owner is None or (row.lease_until is not None and row.lease_until < now
                                                  and (leases or row.resume_at is not None)))
                and (row.resume_at is None or row.resume_at <= now))

    async def claim_workflows(
        self, owner: str, names: list[str], limit: int, now: int, lease_until: int, leases: bool = True
    ) -> list[WorkflowRecord]:
        if not names or limit <= 0:
            return []
        free = sorted(self._claimable(names, now, leases),
                      key=lambda row: (row.record.created_at, row.record.workflow_id))[:limit]
        for row in free:
            row.record = dataclasses.replace(
                row.record, owner=owner, epoch=row.record.epoch + 1, updated_at=now)
            row.lease_until, row.resume_at, row.wait_key = lease_until, None, None
        return [row.record for row in free]

    async def has_claimable(self, names: list[str], now: int) -> bool:
        return next(self._claimable(names, now, leases=False), None) is not None

    async def release_workflows(self, owner: str, workflow_ids: list[str] | None) -> None:
        if workflow_ids is None:
            rows = [row for row in self._db.workflows.values()
                    if row.record.owner == owner and row.record.status is WorkflowStatus.PENDING]
        else:
            rows = [row for wid in workflow_ids if (row := self._db.workflows.get(wid)) is not None
                    and row.record.owner == owner]
        for row in rows:
            row.record = dataclasses.replace(row.record, owner=None)
            row.lease_until = None

    async def renew_leases(self, owner: str, workflow_ids: list[str], lease_until: int) -> int:
        renewed = 0
        for wid in set(workflow_ids):
            row = self._db.workflows.get(wid)
            if row and row.record.owner == owner and row.record.status is WorkflowStatus.PENDING:
                row.lease_until = lease_until
                renewed += 1
        return renewed

    async def finish_workflow(
        self, workflow_id: str, epoch: int | None, status: WorkflowStatus, outcome: Outcome, now: int
    ) -> WorkflowRecord | None:
        row = self._db.workflows.get(workflow_id)
        if row is None or row.record.status not in (WorkflowStatus.PENDING, WorkflowStatus.ENQUEUED):
            return None
        if epoch is not None and (row.record.epoch != epoch
                                  or row.record.status is not WorkflowStatus.PENDING):
            return None
        self._finish(row, status, outcome, now)
        return row.record

    async def expire_deadlines(self, now: int) -> list[WorkflowRecord]:
        expired = []
        for row in self._db.workflows.values():
            w = row.record
            if w.status is WorkflowStatus.PENDING and w.deadline_at is not None and w.deadline_at <= now:
                failure = Failure("WorkflowTimeout", f"workflow {w.workflow_id} passed its deadline", "")
                self._finish(row, WorkflowStatus.CANCELLED, Outcome(error=failure), now)
                expired.append(row.record)
        return expired

    def _finish(self, row: _Workflow, status: WorkflowStatus, outcome: Outcome, now: int) -> None:
        row.record = dataclasses.replace(
            row.record, status=status, outcome=outcome, updated_at=now, owner=None)
        row.lease_until = None
        self._wake_selects(done_wait_key(row.record.workflow_id), now)
        self._db.select_waits.pop(row.record.workflow_id, None)

    # -- steps ---------------------------------------------------------------

    async def set_event(
        self, step: NewStep, key: str
    ) -> tuple[RecordResult, StepRecord | None, EventRecord | None, bool]:
        result, record = await self.record_step(step, SetEvent(key))
        if result is not RecordResult.RECORDED:
            return result, record, None, True
        # As SQLite does: a reader woken now resumes at the event's time.
        db, wait_key = self._db, event_wait_key(step.workflow_id, key)
        woken = any(wait_key in keys for keys in db.select_waits.values()) or any(
            row.wait_key == wait_key and row.record.status is WorkflowStatus.PENDING
            and row.resume_at == step.completed_at for row in db.workflows.values())
        return result, record, db.events[step.workflow_id][-1], woken

    async def record_step(
        self, step: NewStep, effect: Effect | None = None
    ) -> tuple[RecordResult, StepRecord | None]:
        db = self._db
        row = db.workflows.get(step.workflow_id)
        if row is None or row.record.status is not WorkflowStatus.PENDING or row.record.epoch != step.epoch:
            return RecordResult.STALE, await self.get_step(step.workflow_id, step.step_number)
        steps = db.steps.setdefault(step.workflow_id, {})
        if step.step_number in steps:
            return RecordResult.DUPLICATE, steps[step.step_number]
        # Check everything first: nothing is written unless all of it is.
        queue = None
        if isinstance(effect, Recv):
            queue = db.queues.get((step.workflow_id, effect.topic))
            if not queue:
                return RecordResult.EMPTY, None
            step = dataclasses.replace(step, outcome=Outcome(output=queue[0]))
        elif isinstance(effect, Send):
            refused = self._refuse(effect.message, to_final=True)
            if refused is not None:
                return refused, None
        elif isinstance(effect, SetEvent):
            assert step.outcome.output is not None, "set_event records a value"
        seq = row.record.step_seq + 1
        row.record = dataclasses.replace(row.record, step_seq=seq)
        record = step.recorded(seq)
        steps[step.step_number] = record
        if queue is not None:
            queue.popleft()
            db.queue_times[(step.workflow_id, effect.topic)].popleft()  # type: ignore[union-attr]
        elif isinstance(effect, Send):
            self._deliver(effect.message)
        elif isinstance(effect, SetEvent):
            assert step.outcome.output is not None
            events = db.events.setdefault(step.workflow_id, [])
            events.append(EventRecord(step.workflow_id, len(events) + 1, effect.key, step.outcome.output,
                                      step.step_number, step.completed_at))
            wait_key = event_wait_key(step.workflow_id, effect.key)
            for waiter in db.workflows.values():
                _wake(waiter, wait_key, step.completed_at)
            self._wake_selects(wait_key, step.completed_at)
        return RecordResult.RECORDED, record

    # -- events, messages, waits ---------------------------------------------

    async def send_message(self, message: NewMessage) -> RecordResult:
        refused = self._refuse(message)
        if refused is not None:
            return refused
        self._deliver(message)
        return RecordResult.RECORDED

    async def send_and_claim(self, message: NewMessage, owner: str, lease_until: int,
                             names: Collection[str]) -> tuple[RecordResult, WorkflowRecord | None]:
        refused = self._refuse(message)
        if refused is not None:
            return refused, None
        row = self._db.workflows[message.workflow_id]
        at = message.created_at
        if not (row.wait_key == message_wait_key(message.topic) and row.record.queue is None
                and row.record.name in names
                and row.record.status is WorkflowStatus.PENDING and row.resume_at is not None
                and row.resume_at > at):
            self._deliver(message)
            return RecordResult.RECORDED, None
        self._deliver(message)
        row.record = dataclasses.replace(row.record, owner=owner, epoch=row.record.epoch + 1, updated_at=at)
        row.lease_until, row.resume_at, row.wait_key = lease_until, None, None
        return RecordResult.RECORDED, row.record

    def _refuse(self, m: NewMessage, to_final: bool = False) -> RecordResult | None:
        """Why `m` cannot be delivered (NOT_FOUND, STALE: final, unless
        `to_final`; DUPLICATE), or None."""
        if m.workflow_id not in self._db.workflows:
            return RecordResult.NOT_FOUND
        if self._db.workflows[m.workflow_id].record.status.final and not to_final:
            return RecordResult.STALE
        if m.idempotency_key is not None and (m.workflow_id, m.idempotency_key) in self._db.message_keys:
            return RecordResult.DUPLICATE
        return None

    def _deliver(self, m: NewMessage) -> None:
        if m.idempotency_key is not None:
            self._db.message_keys.add((m.workflow_id, m.idempotency_key))
        self._db.queues.setdefault((m.workflow_id, m.topic), collections.deque()).append(m.value)
        self._db.queue_times.setdefault((m.workflow_id, m.topic), collections.deque()).append(m.created_at)
        _wake(self._db.workflows[m.workflow_id], message_wait_key(m.topic), m.created_at)
        self._wake_selects(message_wait_key(m.topic), m.created_at, m.workflow_id)

    async def get_event(self, workflow_id: str, key: str) -> EventRecord | None:
        for event in reversed(self._db.events.get(workflow_id, [])):
            if event.key == key:
                return event
        return None

    async def list_events(self, workflow_id: str, after_seq: int, limit: int) -> list[EventRecord]:
        # seq is 1, 2, ...: the event with seq n is at index n - 1.
        return self._db.events.get(workflow_id, [])[max(after_seq, 0):][:max(limit, 0)]

    async def wait_deadline(self, workflow_id: str, step_number: int, deadline_at: int) -> int:
        return self._db.waits.setdefault((workflow_id, step_number), deadline_at)

    async def park(self, workflow_id: str, epoch: int, resume_at: int, wait: Wait, now: int) -> bool:
        row = self._db.workflows.get(workflow_id)
        if row is None or row.record.status is not WorkflowStatus.PENDING or row.record.epoch != epoch:
            return False
        # What it waits for may have arrived already: then it resumes at once.
        if wait.kind is WaitKind.RECV:
            ready = bool(self._db.queues.get((workflow_id, wait.topic)))
        elif wait.kind is WaitKind.EVENT:
            ready = any(e.key == wait.key for e in self._db.events.get(wait.target, []))
        else:
            ready = False
        row.record = dataclasses.replace(row.record, owner=None, epoch=epoch + 1)
        row.lease_until, row.wait_key = None, wait.wait_key
        row.resume_at = now if ready else resume_at
        return True

    async def get_step(self, workflow_id: str, step_number: int) -> StepRecord | None:
        return self._db.steps.get(workflow_id, {}).get(step_number)

    async def get_steps(self, workflow_id: str, step_numbers: list[int]) -> list[StepRecord]:
        steps = self._db.steps.get(workflow_id, {})
        return [steps[n] for n in sorted(set(step_numbers)) if n in steps]

    async def list_steps(
        self, workflow_id: str, after_step_number: int = -1, limit: int | None = None
    ) -> list[StepRecord]:
        steps = self._db.steps.get(workflow_id, {})
        found = [steps[n] for n in sorted(steps) if n > after_step_number]
        return found if limit is None else found[:max(limit, 0)]

    # -- tokens --------------------------------------------------------------

    async def create_token(self, token: TokenRecord) -> bool:
        tokens = self._db.tokens
        if token.name in tokens or any(t.secret_hash == token.secret_hash for t in tokens.values()):
            return False
        tokens[token.name] = token
        return True

    async def find_token(self, secret_hash: str) -> TokenRecord | None:
        return next((t for t in self._db.tokens.values() if t.secret_hash == secret_hash), None)

    async def list_tokens(self) -> list[TokenRecord]:
        return [self._db.tokens[name] for name in sorted(self._db.tokens)]

    async def revoke_token(self, name: str, now: int) -> bool:
        token = self._db.tokens.get(name)
        if token is None or token.revoked_at is not None:
            return False
        self._db.tokens[name] = dataclasses.replace(token, revoked_at=now)
        return True

    async def touch_token(self, name: str, now: int) -> None:
        token = self._db.tokens.get(name)
        if token is not None and (token.last_used_at is None or token.last_used_at < now):
            self._db.tokens[name] = dataclasses.replace(token, last_used_at=now)

    # -- the console's reads (issue 16) --------------------------------------------

    async def list_workflows_page(
        self, status: WorkflowStatus | None, name: str | None, before: tuple[int, str] | None,
        limit: int,
    ) -> list[WorkflowRecord]:
        found = [
            row.record for row in self._db.workflows.values()
            if (status is None or row.record.status is status) and (not name or row.record.name == name)
            and (before is None or row.record.created_at < before[0]
                 or (row.record.created_at == before[0] and row.record.workflow_id > before[1]))
        ]
        found.sort(key=lambda w: w.workflow_id)
        found.sort(key=lambda w: w.created_at, reverse=True)  # stable: ties keep ID order
        return [_summary(w) for w in found[:max(limit, 0)]]

    async def count_pending(self) -> tuple[int, int]:
        pending = [row for row in self._db.workflows.values()
                   if row.record.status is WorkflowStatus.PENDING]
        return len(pending), sum(1 for row in pending if row.resume_at is not None)


    # -- select over anything (issue 11) ---------------------------------------

    async def list_children(self, parent_workflow_id: str, limit: int) -> list[WorkflowRecord]:
        found = [row.record for row in self._db.workflows.values()
                 if row.record.parent_workflow_id == parent_workflow_id]
        found.sort(key=lambda w: w.workflow_id)
        found.sort(key=lambda w: w.created_at, reverse=True)
        return [_summary(w) for w in found[:max(limit, 0)]]

    async def oldest_message_at(self, workflow_id: str, topic: str) -> int | None:
        times = self._db.queue_times.get((workflow_id, topic))
        return times[0] if times else None

    async def park_select(
        self, workflow_id: str, epoch: int, resume_at: int, wait_keys: list[str], now: int
    ) -> bool:
        row = self._db.workflows.get(workflow_id)
        if row is None or row.record.status is not WorkflowStatus.PENDING or row.record.epoch != epoch:
            return False
        row.record = dataclasses.replace(row.record, owner=None, epoch=epoch + 1)
        row.lease_until, row.wait_key, row.resume_at = None, "select", resume_at
        self._db.select_waits[workflow_id] = set(wait_keys)
        return True

    async def resume_parked(self, workflow_id: str, at: int) -> bool:
        row = self._db.workflows.get(workflow_id)
        if (row is None or row.record.status is not WorkflowStatus.PENDING or row.record.owner
                or row.resume_at is None or row.resume_at <= at):
            return False
        row.resume_at = at
        return True

    def _wake_selects(self, wait_key: str, at: int, only: str | None = None) -> None:
        for workflow_id, keys in self._db.select_waits.items():
            if wait_key in keys and only in (None, workflow_id):
                _wake(self._db.workflows[workflow_id], "select", at)


def _summary(w: WorkflowRecord) -> WorkflowRecord:
    """A workflow as listed: no payloads, no error details, the message cut short."""
    outcome = w.outcome
    if outcome is not None and outcome.output is not None:
        outcome = Outcome(output=Value(outcome.output.encoding, b""))
    elif outcome is not None and outcome.error is not None:
        e = outcome.error
        outcome = Outcome(error=Failure(e.type, e.message[:LIST_MESSAGE_CHARS], ""))
    return dataclasses.replace(w, input=Value(w.input.encoding, b""), outcome=outcome)


def _wake(row: _Workflow, wait_key: str, at: int) -> None:
    """Resume a workflow parked on `wait_key` at `at`, if it would resume later."""
    if (row.wait_key == wait_key and row.record.status is WorkflowStatus.PENDING
            and row.resume_at is not None and row.resume_at > at):
        row.resume_at = at
