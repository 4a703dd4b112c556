"""The storage port: records and the one interface both stores implement.

Times are integer milliseconds since the Unix epoch, so both databases store
them the same way. Every write is committed before the call returns: nothing
is acknowledged to a worker or a client before it is durable.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable
from dataclasses import dataclass


class StoreUnavailable(Exception):
    """The database cannot be reached or refused the operation; retry later."""


class WorkflowStatus(str, enum.Enum):
    PENDING = "PENDING"
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"

    @property
    def final(self) -> bool:
        return self is not WorkflowStatus.PENDING


class StepKind(str, enum.Enum):
    STEP = "STEP"
    SELECT = "SELECT"
    SLEEP = "SLEEP"
    SET_EVENT = "SET_EVENT"
    GET_EVENT = "GET_EVENT"
    SEND = "SEND"
    RECV = "RECV"


@dataclass(frozen=True, slots=True)
class Value:
    """An encoded payload."""

    encoding: str
    data: bytes


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
    # Bumped each time an execution is handed out; fences stale executions.
    epoch: int
    # How many step outcomes were committed; also the last completion_seq.
    step_seq: int
    deadline_at: int | None
    # Coordinator node holding the lease, while PENDING and claimed.
    owner: str | None


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
class Wait:
    """What a parked workflow waits for, besides its resume time."""

    kind: str  # "sleep", "recv" or "event"
    topic: str = ""  # recv: the topic
    target: str = ""  # event: the workflow that sets it
    key: str = ""  # event: its key

    @property
    def wait_key(self) -> str | None:
        if self.kind == "recv":
            return f"msg:{self.topic}"
        if self.kind == "event":
            return event_wait_key(self.target, self.key)
        return None


def event_wait_key(workflow_id: str, key: str) -> str:
    return f"event:{len(workflow_id)}:{workflow_id}:{key}"


class Store(abc.ABC):
    """Durable state of all workflows. Safe to share between coordinators."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and apply pending migrations."""

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
        self, status: WorkflowStatus | None, name: str | None, limit: int
    ) -> list[WorkflowRecord]:
        """Newest first."""

    @abc.abstractmethod
    async def claim_workflows(
        self, owner: str, names: list[str], limit: int, now: int, lease_until: int
    ) -> list[WorkflowRecord]:
        """Take up to `limit` PENDING workflows with one of `names` that nobody
        holds (or whose lease expired), oldest first; bump their epoch."""

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

    # -- events, messages, waits ---------------------------------------------

    @abc.abstractmethod
    async def send_message(self, message: NewMessage) -> RecordResult:
        """Deliver a message from outside any workflow: RECORDED, DUPLICATE (the
        idempotency key was used before) or NOT_FOUND (no such workflow)."""

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

    async def listen(self, callback: Callable[[str], None]) -> None:
        """Call `callback(note)` for changes committed by other processes sharing
        the database, where the store can tell (PostgreSQL LISTEN/NOTIFY). Notes:
        "event:<workflow_id>", "msg:<workflow_id>", "done:<workflow_id>" and
        "work" (a workflow became claimable). Best effort: callers still poll
        now and then. The default does nothing (one process per SQLite file)."""
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
