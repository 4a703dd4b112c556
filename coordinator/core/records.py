"""The coordinator's records: what the core decides about and the stores persist.

Times are integer milliseconds since the Unix epoch, so every store keeps them
the same way. Nothing here knows gRPC or SQL.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class WorkflowStatus(str, enum.Enum):
    PENDING = "PENDING"
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"
    # On a queue, waiting for a slot (then PENDING).
    ENQUEUED = "ENQUEUED"

    @property
    def final(self) -> bool:
        return self is not WorkflowStatus.PENDING and self is not WorkflowStatus.ENQUEUED


class StepKind(str, enum.Enum):
    STEP = "STEP"
    SELECT = "SELECT"
    SLEEP = "SLEEP"
    SET_EVENT = "SET_EVENT"
    GET_EVENT = "GET_EVENT"
    SEND = "SEND"
    RECV = "RECV"
    # Futures for select (issue 11): a child workflow started, a go_recv, a go_event.
    START_WORKFLOW = "START_WORKFLOW"
    GO_RECV = "GO_RECV"
    GO_EVENT = "GO_EVENT"


@dataclass(frozen=True, slots=True)
class Value:
    """An encoded payload."""

    encoding: str
    data: bytes


NULL = Value("json", b"null")


@dataclass(frozen=True, slots=True)
class Failure:
    """A recorded error."""

    type: str
    message: str
    details: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """Exactly one of output and error is set."""

    output: Value | None = None
    error: Failure | None = None


@dataclass(frozen=True, slots=True)
class WorkflowRecord:
    workflow_id: str
    name: str
    status: WorkflowStatus
    input: Value
    outcome: Outcome | None
    created_at: int
    updated_at: int
    # Bumped each time an execution is handed out (a claim, also after each
    # park); fences stale executions.
    epoch: int
    # How many step outcomes were committed; also the last completion_seq.
    step_seq: int
    deadline_at: int | None
    # Coordinator node holding the lease, while PENDING and claimed.
    owner: str | None
    # The workflow this one was forked from (fork_workflow), if any.
    forked_from: str | None = None
    # The queue it was enqueued on, and when it left it (started); None otherwise.
    queue: str | None = None
    started_at: int | None = None
    # The workflow that started this one as a child (start_workflow), if any.
    parent_workflow_id: str | None = None
    # Every step recorded, when read with its claim for the assignment (a
    # short history: the worker need not ask for it); None if not read.
    history: tuple[StepRecord, ...] | None = None


@dataclass(frozen=True, slots=True)
class NewWorkflow:
    workflow_id: str
    name: str
    input: Value
    created_at: int
    deadline_at: int | None
    # Set to create it already claimed (epoch 1) by this owner, for a
    # coordinator that has a free worker at hand: no claim round trip.
    owner: str | None = None
    lease_until: int | None = None
    parent_workflow_id: str | None = None


@dataclass(frozen=True, slots=True)
class StepRecord:
    workflow_id: str
    step_number: int
    name: str
    kind: StepKind
    outcome: Outcome
    attempt: int
    epoch: int
    started_at: int
    completed_at: int
    completion_seq: int
    select_index: int | None = None
    select_step_number: int | None = None
    # Audit: the name of the worker token whose call recorded it ("" without auth).
    worker_token: str = ""
    # The worker that ran it, as it registered ("" if not known: recorded
    # before schema version 10, or by a call from outside a worker stream).
    worker_id: str = ""


@dataclass(frozen=True, slots=True)
class NewStep:
    """A step outcome to record under a workflow epoch."""

    workflow_id: str
    epoch: int
    step_number: int
    name: str
    kind: StepKind
    outcome: Outcome
    attempt: int
    started_at: int
    completed_at: int
    select_index: int | None = None
    select_step_number: int | None = None
    worker_token: str = ""
    worker_id: str = ""

    def recorded(self, completion_seq: int) -> StepRecord:
        """The record this step becomes when committed as `completion_seq`."""
        return StepRecord(
            workflow_id=self.workflow_id, step_number=self.step_number, name=self.name,
            kind=self.kind, outcome=self.outcome, attempt=self.attempt, epoch=self.epoch,
            started_at=self.started_at, completed_at=self.completed_at,
            completion_seq=completion_seq, select_index=self.select_index,
            select_step_number=self.select_step_number, worker_token=self.worker_token,
            worker_id=self.worker_id,
        )


class RecordResult(enum.Enum):
    RECORDED = "recorded"
    # Another outcome was committed first (or the idempotency key was seen);
    # the caller gets that one.
    DUPLICATE = "duplicate"
    # The workflow is final, unknown, or on a newer epoch.
    STALE = "stale"
    # A send's destination workflow does not exist; nothing was written.
    NOT_FOUND = "not_found"
    # A recv found no message; nothing was written.
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class EventRecord:
    workflow_id: str
    # Order of the workflow's events, 1, 2, ... across all keys.
    seq: int
    key: str
    value: Value
    step_number: int
    created_at: int


@dataclass(frozen=True, slots=True)
class NewMessage:
    workflow_id: str  # the destination
    topic: str  # "" is the default topic
    value: Value
    idempotency_key: str | None
    created_at: int


# Side effects committed in the same transaction as a step's outcome.
@dataclass(frozen=True, slots=True)
class SetEvent:
    """Append (key, step.outcome.output) to the workflow's events; wake its readers."""

    key: str


@dataclass(frozen=True, slots=True)
class Send:
    """Deliver a message (wakes its destination if it waits on the topic)."""

    message: NewMessage


@dataclass(frozen=True, slots=True)
class Recv:
    """Consume the oldest message of the topic; the step's output becomes its value."""

    topic: str


Effect = SetEvent | Send | Recv


@dataclass(frozen=True, slots=True)
class NewTask:
    """A step a workflow hands to the coordinators: whichever has a live worker
    serving `name` runs it (a name its own worker does not serve, or `go`)."""

    workflow_id: str
    step_number: int
    name: str
    input: Value
    epoch: int  # of the execution that scheduled it
    created_at: int
    # Set to create it already claimed (attempt 1) by this node, which has a
    # free worker at hand: no claim round trip.
    owner: str | None = None
    lease_until: int | None = None
    # Step timeouts (timeouts.py): how long each attempt may run, how many
    # attempts may time out, and when the current attempt is fenced off (set
    # when it is claimed).
    timeout_ms: int | None = None
    max_attempts: int = 1
    attempt_deadline: int | None = None


@dataclass(frozen=True, slots=True)
class TaskRecord:
    workflow_id: str
    step_number: int
    name: str
    input: Value
    epoch: int
    # Bumped by each claim; only the current attempt's outcome is recorded.
    attempt: int
    owner: str | None
    lease_until: int | None
    created_at: int
    timeout_ms: int | None = None
    max_attempts: int = 1
    attempt_deadline: int | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.workflow_id, self.step_number)


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """A coordinator sharing the store, as it last heartbeated."""

    node_id: str
    incarnation: str  # one per process life: a restarted node is a new one
    started_at: int
    heartbeat_at: int


class WaitKind(str, enum.Enum):
    """What a parked workflow waits for, besides its resume time."""

    SLEEP = "sleep"
    RECV = "recv"
    EVENT = "event"


@dataclass(frozen=True, slots=True)
class Wait:
    kind: WaitKind
    topic: str = ""  # RECV: the topic
    target: str = ""  # EVENT: the workflow that sets it
    key: str = ""  # EVENT: its key

    @property
    def wait_key(self) -> str | None:
        """What wakes the parked workflow early, as stored beside it; None for a sleep."""
        if self.kind is WaitKind.RECV:
            return message_wait_key(self.topic)
        if self.kind is WaitKind.EVENT:
            return event_wait_key(self.target, self.key)
        return None


def message_wait_key(topic: str) -> str:
    """The wait key of a workflow parked in recv on `topic` (its own messages)."""
    return f"msg:{topic}"


def event_wait_key(workflow_id: str, key: str) -> str:
    """The wait key of a workflow parked reading `key` of `workflow_id`; the
    length prefix keeps IDs containing ':' from colliding."""
    return f"event:{len(workflow_id)}:{workflow_id}:{key}"


def done_wait_key(workflow_id: str) -> str:
    """The wait key of a select parked until `workflow_id` becomes final (a child)."""
    return f"done:{workflow_id}"


class NoteKind(str, enum.Enum):
    """A change committed by another process sharing the store."""

    EVENT = "event"  # the workflow set an event
    MESSAGE = "msg"  # a message for the workflow was committed
    DONE = "done"  # the workflow became final
    WORK = "work"  # some workflow became claimable
    TASK = "task"  # some step task became claimable
    QUEUE = "queue"  # a queue may start more (enqueued, or a queued workflow ended)
    STEP = "step"  # a step task of the workflow was recorded


@dataclass(frozen=True, slots=True)
class Note:
    kind: NoteKind
    workflow_id: str = ""
    step_number: int | None = None  # STEP: which step was recorded

    def encode(self) -> str:
        if self.kind is NoteKind.STEP:
            return f"{self.kind.value}:{self.step_number}:{self.workflow_id}"
        return f"{self.kind.value}:{self.workflow_id}" if self.workflow_id else self.kind.value

    @classmethod
    def decode(cls, text: str) -> Note | None:
        """The note a store carried as text; None for one this version does not know."""
        kind, _, rest = text.partition(":")
        try:
            if kind == NoteKind.STEP.value:
                number, _, workflow_id = rest.partition(":")
                return cls(NoteKind.STEP, workflow_id, int(number))
            return cls(NoteKind(kind), rest)
        except ValueError:
            return None


class Role(str, enum.Enum):
    """What a token may do: `client` calls, `worker` calls, or everything."""

    CLIENT = "client"
    WORKER = "worker"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A token as stored: never its secret, only the secret's hash."""

    name: str
    role: Role
    secret_hash: str
    created_at: int
    expires_at: int | None = None
    revoked_at: int | None = None
    last_used_at: int | None = None

    def valid_at(self, now: int) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


# -- operating: schedules ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """A named cron schedule: each tick starts one workflow `workflow_name`
    with `input`, under the ID `sched-<name>-<tick, ISO 8601 UTC>`."""

    name: str
    workflow_name: str
    cron: str
    timezone: str
    input: Value
    paused: bool
    # The next tick to fire (ms); ticks are fired by whichever coordinator
    # claims the schedule's row once this has passed.
    next_tick_at: int
    created_at: int
    updated_at: int
    # The last tick fired, if any.
    last_tick_at: int | None = None


@dataclass(frozen=True, slots=True)
class Tick:
    """What firing a due schedule does: start `workflow` (None: nothing, e.g.
    a schedule whose expression no longer parses) and wait for `next_tick_at`."""

    workflow: NewWorkflow | None
    tick_at: int | None
    next_tick_at: int
# -- queues ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueRecord:
    """A named queue and its limits (None: no limit)."""

    name: str
    concurrency: int | None = None  # running at once, across all coordinators
    worker_concurrency: int | None = None  # running at once on any one worker
    rate_limit: int | None = None  # starts in any window of rate_period_ms
    rate_period_ms: int | None = None
    partition_concurrency: int | None = None  # running at once per partition key
    created_at: int = 0
    updated_at: int = 0


@dataclass(frozen=True, slots=True)
class QueueState:
    """A queue with how many of its workflows wait and run now."""

    queue: QueueRecord
    enqueued: int
    running: int


@dataclass(frozen=True, slots=True)
class NewQueued:
    """A workflow to create ENQUEUED on a queue."""

    workflow: NewWorkflow  # its deadline_at is unset: the timeout counts from the start
    queue: str
    priority: int = 0  # lower starts first; equal ones in enqueue order
    deduplication_id: str | None = None
    partition_key: str | None = None
    timeout_ms: int | None = None


class EnqueueResult(enum.Enum):
    CREATED = "created"
    # Created while its queue was at its concurrency: it cannot start before
    # a running one ends (which wakes every coordinator), so nobody need look now.
    CREATED_WAITING = "created_waiting"
    EXISTS = "exists"  # a workflow with this ID exists (returned, as for a start)
    DUPLICATE = "duplicate"  # the deduplication ID is held (the holder is returned)
    NO_QUEUE = "no_queue"  # no queue of that name; nothing was written
