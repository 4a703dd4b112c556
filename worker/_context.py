"""The API a workflow function sees: `WorkflowContext` and the `StepFuture`s it returns.

Each durable operation first asks the execution's journal for its step number
(`Journal.begin`). If the history has that number, the recorded outcome is
returned and nothing runs; otherwise the operation runs and its outcome is
committed by the coordinator before the workflow sees it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from keel.v1 import common_pb2 as pb
from keel.v1 import worker_service_pb2 as wpb

from . import _codec
from ._errors import CoordinatorError, LeaseLost
from ._futures import EventFuture, RecvFuture, SleepFuture, WaitFuture, WorkflowFuture
from ._queued import EnqueuedFuture
from ._queues import duplicate_from, enqueue_request
from ._registry import step_name_of, step_options_of, workflow_name_of
from ._steps import now, outcome_value, run_step_function

if TYPE_CHECKING:
    from ._execution import Execution

log = logging.getLogger(__name__)


class StepFuture:
    """The pending outcome of a step started with `WorkflowContext.go`."""

    def __init__(self, execution: Execution, step_number: int, name: str) -> None:
        self._ex = execution
        self.step_number = step_number
        self.name = name
        self._done = threading.Event()
        self._record: pb.StepRecord | None = None
        self._error: BaseException | None = None
        self._counted = False  # counted in the execution's pending futures

    def __repr__(self) -> str:
        state = "done" if self._done.is_set() else "pending"
        return f"<StepFuture step {self.step_number} ({self.name}) {state}>"

    def _resolve(self, record: pb.StepRecord) -> None:
        self._record = record
        self._settle()

    def _fail(self, error: BaseException) -> None:
        self._error = error
        self._settle()

    def _settle(self) -> None:
        if not self._done.is_set() and self._counted:
            self._ex.future_settled()
        self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the step's outcome: return its value or raise its error.
        TimeoutError if it is not done within `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done.wait(0.05):
            if self._ex.stop.is_set():
                raise LeaseLost(f"{self._ex}: stopped while waiting for step {self.step_number}")
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"step {self.step_number} ({self.name}) not done within {timeout} s")
        if self._error is not None:
            raise self._error
        assert self._record is not None
        return outcome_value(self._record)


class WorkflowContext:
    """What a workflow function receives as its first argument."""

    def __init__(self, execution: Execution) -> None:
        self._ex = execution

    @property
    def workflow_id(self) -> str:
        return str(self._ex.workflow_id)

    @property
    def workflow_name(self) -> str:
        return str(self._ex.assignment.name)

    def run_step(self, step: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Any:
        """Run a step durably and return its value (or raise its recorded error).

        `step` is a @step function or a registered step name (possibly served by
        a worker in another language). On replay the recorded outcome is returned
        without calling the step. A step this worker serves runs right here, in
        the workflow's thread; any other is dispatched by the coordinator.
        """
        ex = self._ex
        name = step_name_of(step)
        n, recorded = ex.journal.begin(name, pb.STEP_KIND_STEP)
        if recorded is not None:
            return outcome_value(recorded)
        remote = step_options_of(step)
        definition = None if remote is not None else ex.registry.steps.get(name)
        if definition is None or definition.timeout is not None:
            # Not served here, or bounded by a timeout the coordinator enforces.
            return outcome_value(ex.schedule(n, name, _codec.encode_args(args, kwargs), remote or definition))
        # Inputs cross the wire for remote steps; round-trip them here too, so a
        # step sees the same values wherever it runs.
        call_args, call_kwargs = _codec.round_trip_args(args, kwargs)
        started = now()
        t0 = time.monotonic()
        outcome = run_step_function(definition, call_args, call_kwargs, ex.stop,
                                    lambda: f"{ex} step {n} ({name})")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s step %d (%s) ran in %.1f ms", ex, n, name, (time.monotonic() - t0) * 1000)
        return outcome_value(ex.record(n, name, outcome, started))

    def go(self, step: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> StepFuture:
        """Start a step without waiting; returns its future.

        The step takes its step number now, in call order, and is dispatched at
        once by the coordinator to any worker that serves it (this one first,
        when it has a free step slot), in parallel with others. Retries and
        checkpoints follow the same rules as `run_step`.
        """
        ex = self._ex
        name = step_name_of(step)
        n, recorded = ex.journal.begin(name, pb.STEP_KIND_STEP)
        future = StepFuture(ex, n, name)
        if recorded is not None:
            future._resolve(recorded)
        else:
            ex.schedule_async(future, _codec.encode_args(args, kwargs),
                              step_options_of(step) or ex.registry.steps.get(name))
        return future

    def select(self, futures: Sequence[StepFuture | WaitFuture]) -> tuple[int, Any]:
        """Wait for the first of `futures` to complete; return (its position, its value),
        or raise its error.

        Futures come from `go`, `go_recv`, `go_event`, `go_sleep` and
        `start_workflow`, in any mix. The coordinator decides (among those
        complete, the earliest to complete wins) and records the decision as a
        step of its own, with the winner's value: a replay returns the same
        winner even if, this time, another future is ready first. A go_recv
        that loses consumes nothing. `select` may be called again on the losers.
        """
        return select_futures(self._ex, list(futures))

    # -- futures of other waits, for select (issue 11) -------------------------

    def start_workflow(self, workflow: Callable[..., Any] | str, *args: Any,
                       workflow_id: str | None = None, timeout: float | None = None,
                       **kwargs: Any) -> WorkflowFuture:
        """Start a child workflow (any worker, any language may run it) and
        return its future. Its ID, unless given, is "<this ID>/<step number>",
        so a replay never starts it twice. Cancelling this workflow cancels it."""
        ex = self._ex
        name = workflow_name_of(workflow)
        n, recorded = ex.journal.begin(name, pb.STEP_KIND_START_WORKFLOW)
        if recorded is None:
            recorded = ex.start_child(n, name, _codec.encode_args(args, kwargs), workflow_id, timeout)
        return WorkflowFuture(ex, n, str(outcome_value(recorded)["workflow_id"]))

    def go_recv(self, topic: str | None = None) -> RecvFuture:
        """A future of the next message on `topic`. Nothing is consumed until a
        select picks it (or `.result()` takes it): a losing one leaves the message."""
        ex = self._ex
        n, recorded = ex.journal.begin(topic or "", pb.STEP_KIND_GO_RECV)
        if recorded is None:
            ex.start_wait(n, topic=topic or "")
        return RecvFuture(ex, n, topic or "")

    def go_event(self, workflow_id: str, key: str) -> EventFuture:
        """A future of another workflow's event `key`: complete once it is set."""
        ex = self._ex
        n, recorded = ex.journal.begin(f"{workflow_id}/{key}", pb.STEP_KIND_GO_EVENT)
        if recorded is None:
            ex.start_wait(n, event=wpb.EventKey(workflow_id=workflow_id, key=key))
        return EventFuture(ex, n, workflow_id, key)

    def go_sleep(self, seconds: float) -> SleepFuture:
        """A durable timer: complete `seconds` from now (fixed durably now); its value is None."""
        return go_sleep(self._ex, seconds)

    # -- events, messages, sleep -------------------------------------------

    def set_event(self, key: str, value: Any) -> None:
        """Publish a durable key-value pair of this workflow (latest value wins)."""
        n, recorded = self._ex.journal.begin(key, pb.STEP_KIND_SET_EVENT)
        if recorded is None:
            self._ex.set_event(n, key, value)

    def get_event(self, workflow_id: str, key: str, timeout: float = 60) -> Any:
        """The latest value of another workflow's event `key`, waiting up to
        `timeout` seconds for it to be set; None on timeout. Checkpointed: a
        replay returns the same value at once."""
        n, recorded = self._ex.journal.begin(f"{workflow_id}/{key}", pb.STEP_KIND_GET_EVENT)
        if recorded is not None:
            return outcome_value(recorded)
        return self._ex.read_event(n, workflow_id, key, timeout)

    def send(self, workflow_id: str, message: Any, topic: str | None = None) -> None:
        """Send a message to a workflow, exactly once (a durable step)."""
        n, recorded = self._ex.journal.begin(topic or "", pb.STEP_KIND_SEND)
        if recorded is None:
            recorded = self._ex.send(n, workflow_id, message, topic or "")
        outcome_value(recorded)  # raises if the destination did not exist

    def recv(self, topic: str | None = None, timeout: float = 60) -> Any:
        """The next message on `topic` (first in, first out), waiting up to
        `timeout` seconds; None on timeout. Each message is consumed once."""
        n, recorded = self._ex.journal.begin(topic or "", pb.STEP_KIND_RECV)
        if recorded is not None:
            return outcome_value(recorded)
        return self._ex.receive(n, topic or "", timeout)

    def sleep(self, seconds: float) -> None:
        """Sleep durably: the wake-up time is recorded, so after a crash the
        workflow sleeps only what is left. Long sleeps hold no worker slot."""
        n, recorded = self._ex.journal.begin("sleep", pb.STEP_KIND_SLEEP)
        if recorded is None:
            recorded = self._ex.sleep(n, seconds)
        self._ex.sleep_until(int(outcome_value(recorded)))

    # -- queues --------------------------------------------------------------

    def enqueue(
        self,
        queue: str,
        workflow: Callable[..., Any] | str,
        *args: Any,
        workflow_id: str | None = None,
        priority: int = 0,
        deduplication_id: str | None = None,
        partition_key: str | None = None,
        timeout: float | None = None,
    ) -> WorkflowFuture:
        """Enqueue a workflow on a queue, as a durable step (a replay finds the
        same workflow); returns its future. Options as `Client.enqueue`; the
        ID is by default "<this workflow's ID>-<step number>"."""
        ex = self._ex
        name = workflow_name_of(workflow)
        if timeout is None and not isinstance(workflow, str):
            timeout = workflow.__keel_workflow__.timeout  # type: ignore[attr-defined]
        n, recorded = ex.journal.begin(f"enqueue:{queue}", pb.STEP_KIND_STEP)
        if recorded is None:
            request = enqueue_request(
                wpb.EnqueueWorkflowRequest(workflow_id=ex.workflow_id, epoch=ex.epoch, step_number=n,
                                           queue=queue, name=name, child_workflow_id=workflow_id or ""),
                args, priority, deduplication_id, partition_key, timeout)
            try:
                recorded = ex.call(ex.stub.EnqueueWorkflow, request, f"enqueuing {name} on {queue}").step
            except CoordinatorError as e:
                raise duplicate_from(e, queue, deduplication_id) from None
        return EnqueuedFuture(ex, n, str(outcome_value(recorded)))


def go_sleep(ex: Execution, seconds: float) -> SleepFuture:
    n, recorded = ex.journal.begin("sleep", pb.STEP_KIND_SLEEP)
    if recorded is None:
        recorded = ex.sleep(n, seconds)
    return SleepFuture(ex, n, int(outcome_value(recorded)))


def select_futures(ex: Execution, futures: list[Any]) -> tuple[int, Any]:
    """The body of WorkflowContext.select (also used by WaitFuture.result)."""
    if not futures:
        raise ValueError("select() needs at least one future")
    for f in futures:
        if not isinstance(f, (StepFuture, WaitFuture)) or f._ex is not ex:
            raise ValueError(f"select() takes futures of this workflow, got {f!r}")
        if isinstance(f, EnqueuedFuture):
            raise ValueError(f"select() does not take a workflow enqueued with ctx.enqueue ({f!r}): "
                             "call its .result(), or start it with ctx.start_workflow to race it")
    if len({f.step_number for f in futures}) != len(futures):
        raise ValueError("select() got the same future twice")
    n, record = ex.journal.begin("select", pb.STEP_KIND_SELECT)
    if record is None:
        # A go_recv that won before keeps its message: nothing is consumed again.
        taken = [f.step_number for f in futures if isinstance(f, RecvFuture) and f.done()]
        record = ex.select(n, [f.step_number for f in futures], taken)
    index = record.select_index
    winner = futures[index]
    if isinstance(winner, WaitFuture) and not (isinstance(winner, RecvFuture) and winner.done()):
        winner._take(record)  # the decision recorded its value
    return index, winner.result()
