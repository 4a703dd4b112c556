"""One execution of a workflow on this worker, and the context its code sees.

Each durable operation takes the next step number. If the history (read from
the coordinator when the execution starts) has that number, the recorded
outcome is returned and nothing runs; otherwise the step runs and its outcome
is committed by the coordinator before the workflow sees it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from keel.v1 import common_pb2 as pb
from keel.v1 import worker_service_pb2 as wpb
from keel.v1 import worker_service_pb2_grpc as wgrpc

from . import _codec, _rpc
from ._errors import CoordinatorError, LeaseLost, NonDeterminismError, Parked
from ._registry import Registry, step_name_of
from ._steps import outcome_value, run_step_function

log = logging.getLogger(__name__)

# Refusals that mean "this outcome cannot be stored as is": record an error instead.
_UNSTORABLE = {"RESOURCE_EXHAUSTED", "INVALID_ARGUMENT"}


def _now() -> Timestamp:
    ts = Timestamp()
    ts.GetCurrentTime()
    return ts


class Execution:
    """Runs one workflow assignment in its own thread, under its epoch."""

    def __init__(
        self,
        assignment: wpb.WorkflowAssignment,
        stub: wgrpc.WorkerServiceStub,
        registry: Registry,
        *,
        park_after: float = 1.0,
        spare_slots: Callable[[], bool] = lambda: True,
        stream: Callable[[str, Any, threading.Event], Any] | None = None,
    ) -> None:
        self.assignment = assignment
        self.workflow_id = assignment.workflow_id
        self.epoch = assignment.epoch
        self.stub = stub
        self.registry = registry
        # Set when this execution is fenced off: revoked, or the stream was lost.
        self.stop = threading.Event()
        self.history: dict[int, pb.StepRecord] = {}
        self._next_step = 0
        self._lock = threading.Lock()
        # A NonDeterminismError fails the workflow even if its code catches it.
        self.fatal: NonDeterminismError | None = None
        # Waits longer than this give the workflow's slot back (see park()),
        # at once when the worker has no spare slot.
        self.park_after = park_after
        self.spare_slots = spare_slots
        self.pending_futures = 0
        # Sends record_step / finish_workflow on the worker's stream, if given.
        self.stream = stream

    def __repr__(self) -> str:
        return f"workflow {self.workflow_id} (execution {self.epoch})"

    # -- the thread ----------------------------------------------------------

    def run(self) -> None:
        try:
            if self.assignment.has_history:
                self._load_history()
            definition = self.registry.workflows[self.assignment.name]
            try:
                args, kwargs = _codec.decode_args(self.assignment.input)
                result = definition.fn(WorkflowContext(self), *args, **kwargs)
                outcome: pb.Payload | pb.ErrorInfo = _codec.encode(result)
            except Exception as exc:  # the workflow's own failure: it ends ERROR
                outcome = _codec.error_info(exc)
            if self.fatal is not None:
                outcome = _codec.error_info(self.fatal)
            self._finish(outcome)
        except Parked as e:
            log.debug("%s parked: %s", self, e)
        except LeaseLost as e:
            log.info("%s stopped: %s", self, e or "fenced off")
        except CoordinatorError as e:
            log.warning("%s abandoned: %s", self, e)
        except Exception:
            log.exception("%s: bug in the worker runtime", self)

    def call(self, method: Callable[..., Any], request: Any, doing: str) -> Any:
        """A unary call fenced by this execution: a stale lease raises LeaseLost."""
        if self.stop.is_set():
            raise LeaseLost(f"{self}: {doing}: execution was stopped")
        try:
            return _rpc.call(method, request, f"{self}: {doing}", give_up=self.stop.is_set,
                             sleep=self.stop.wait)
        except CoordinatorError as e:
            if e.code == "FAILED_PRECONDITION" or self.stop.is_set():
                self.stop.set()
                raise LeaseLost(str(e)) from None
            raise

    def write(self, field: str, method: Callable[..., Any], request: Any, doing: str) -> Any:
        """RecordStep or FinishWorkflow: on the stream when there is one, else a
        unary call; fenced and retried like `call`."""
        if self.stream is None:
            return self.call(method, request, doing)
        delays = _rpc.backoff_delays()
        while True:
            if self.stop.is_set():
                raise LeaseLost(f"{self}: {doing}: execution was stopped")
            try:
                return self.stream(field, request, self.stop)
            except CoordinatorError as e:
                if e.code == "FAILED_PRECONDITION" or self.stop.is_set():
                    self.stop.set()
                    raise LeaseLost(f"{self}: {doing}: {e}") from None
                if e.code not in ("UNAVAILABLE",):
                    raise CoordinatorError(f"{self}: {doing}: {e.code}: {e}", e.code) from None
                self.stop.wait(next(delays))

    def _load_history(self) -> None:
        after = -1
        while True:
            page = self.call(self.stub.GetHistory, wpb.GetHistoryRequest(
                workflow_id=self.workflow_id, after_step_number=after), "reading history")
            for record in page.steps:
                self.history[record.step_number] = record
                after = record.step_number
            if not page.more:
                return

    def _finish(self, outcome: pb.Payload | pb.ErrorInfo) -> None:
        request = wpb.FinishWorkflowRequest(workflow_id=self.workflow_id, epoch=self.epoch)
        _set_outcome(request, outcome)
        try:
            self.write("finish_workflow", self.stub.FinishWorkflow, request, "finishing")
        except CoordinatorError as e:
            if e.code not in _UNSTORABLE or isinstance(outcome, pb.ErrorInfo):
                raise
            request.error.CopyFrom(pb.ErrorInfo(type="ResultRejected", message=str(e)))
            self.write("finish_workflow", self.stub.FinishWorkflow, request, "finishing")

    # -- durable operations --------------------------------------------------

    def take_step_number(self) -> int:
        with self._lock:
            n = self._next_step
            self._next_step += 1
            return n

    def replayed(self, step_number: int, name: str, kind: int) -> pb.StepRecord | None:
        """The recorded outcome at this step number, checked against what the code calls now."""
        record = self.history.get(step_number)
        if record is None:
            return None
        if record.name != name or record.kind != kind:
            self.fatal = NonDeterminismError(
                f"workflow {self.workflow_id} is not deterministic: at step {step_number} the code "
                f"now calls {pb.StepKind.Name(kind)} {name!r}, but the history recorded "
                f"{pb.StepKind.Name(record.kind)} {record.name!r}"
            )
            raise self.fatal
        return record

    def record(self, step_number: int, name: str, outcome: pb.Payload | pb.ErrorInfo,
               started: Timestamp, attempt: int = 0) -> pb.StepRecord:
        request = wpb.RecordStepRequest(
            workflow_id=self.workflow_id, epoch=self.epoch, step_number=step_number, name=name,
            attempt=attempt, started_at=started,
        )
        doing = f"recording step {step_number} ({name})"
        return record_outcome(
            lambda r: self.write("record_step", self.stub.RecordStep, r, doing), request, outcome
        ).step

    def schedule(self, step_number: int, name: str, input: pb.Payload) -> pb.StepRecord:
        request = wpb.ScheduleStepRequest(
            workflow_id=self.workflow_id, epoch=self.epoch, step_number=step_number, name=name,
            input=input,
        )
        return self.call(self.stub.ScheduleStep, request, f"scheduling step {step_number} ({name})").step

    def schedule_async(self, future: StepFuture, input: pb.Payload) -> None:
        """Schedule without blocking: the call's callback resolves `future`, so
        many concurrent steps need no thread each."""
        request = wpb.ScheduleStepRequest(
            workflow_id=self.workflow_id, epoch=self.epoch, step_number=future.step_number,
            name=future.name, input=input,
        )
        doing = f"{self}: scheduling step {future.step_number} ({future.name})"
        delays = _rpc.backoff_delays()

        def issue() -> None:
            if self.stop.is_set():
                future._fail(LeaseLost(f"{doing}: execution was stopped"))
                return
            self.stub.ScheduleStep.future(request).add_done_callback(done)

        with self._lock:
            self.pending_futures += 1
        future._counted = True

        def done(call: Any) -> None:
            try:
                future._resolve(call.result().step)
            except grpc.RpcError as err:
                if err.code() in _rpc.RETRYABLE and not self.stop.is_set():
                    timer = threading.Timer(next(delays), issue)
                    timer.daemon = True
                    timer.start()
                elif err.code() == grpc.StatusCode.FAILED_PRECONDITION or self.stop.is_set():
                    self.stop.set()
                    future._fail(LeaseLost(CoordinatorError.from_rpc(err, doing)))
                else:
                    future._fail(CoordinatorError.from_rpc(err, doing))

        issue()

    def hold_seconds(self) -> float:
        """How long a wait may hold this execution's slot before parking."""
        return self.park_after if self.spare_slots() or self.pending_futures else 0.0

    def may_park(self) -> bool:
        # Steps started with go() report to this execution: it cannot leave yet.
        return self.pending_futures == 0

    def park(self, resume_at: Timestamp, **wait: Any) -> None:
        """Give the slot back until resume_at (or what we wait for arrives); ends the execution."""
        request = wpb.ParkRequest(workflow_id=self.workflow_id, epoch=self.epoch, resume_at=resume_at, **wait)
        self.call(self.stub.Park, request, "parking")
        self.stop.set()
        raise Parked(f"until {resume_at.ToJsonString()}")

    def select(self, step_number: int, candidates: list[int]) -> pb.StepRecord:
        request = wpb.SelectRequest(
            workflow_id=self.workflow_id, epoch=self.epoch, step_number=step_number,
            candidates=candidates,
        )
        return self.call(self.stub.Select, request, f"selecting at step {step_number}").step


def record_outcome(
    send: Callable[[wpb.RecordStepRequest], Any], request: wpb.RecordStepRequest,
    outcome: pb.Payload | pb.ErrorInfo,
) -> Any:
    """Send a RecordStep with this outcome. An output the coordinator cannot
    store (too large, say) is recorded as an error instead, so the step still
    ends and the workflow sees why."""
    _set_outcome(request, outcome)
    try:
        return send(request)
    except CoordinatorError as e:
        if e.code not in _UNSTORABLE or isinstance(outcome, pb.ErrorInfo):
            raise
        request.error.CopyFrom(pb.ErrorInfo(type="OutputRejected", message=str(e)))
        return send(request)


def _set_outcome(request: Any, outcome: pb.Payload | pb.ErrorInfo) -> None:
    if isinstance(outcome, pb.ErrorInfo):
        request.error.CopyFrom(outcome)
    else:
        request.output.CopyFrom(outcome)


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
            with self._ex._lock:
                self._ex.pending_futures -= 1
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
        n = ex.take_step_number()
        name = step_name_of(step)
        recorded = ex.replayed(n, name, pb.STEP_KIND_STEP)
        if recorded is not None:
            return outcome_value(recorded)
        # Inputs cross the wire for remote steps; round-trip them here too, so a
        # step sees the same values wherever it runs.
        input = _codec.encode_args(args, kwargs)
        definition = ex.registry.steps.get(name)
        if definition is None:
            return outcome_value(ex.schedule(n, name, input))
        started = _now()
        t0 = time.monotonic()
        call_args, call_kwargs = _codec.decode_args(input)
        outcome = run_step_function(definition, call_args, call_kwargs, ex.stop, f"{ex} step {n} ({name})")
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
        n = ex.take_step_number()
        name = step_name_of(step)
        future = StepFuture(ex, n, name)
        recorded = ex.replayed(n, name, pb.STEP_KIND_STEP)
        if recorded is not None:
            future._resolve(recorded)
        else:
            ex.schedule_async(future, _codec.encode_args(args, kwargs))
        return future

    def select(self, futures: Sequence[StepFuture]) -> tuple[int, Any]:
        """Wait for the first of `futures` to complete; return (its position, its value),
        or raise its error.

        The coordinator decides, by the order in which it committed the outcomes,
        and records the decision as a step of its own: a replay returns the same
        winner even if, this time, another future is ready first.
        """
        ex = self._ex
        futures = list(futures)
        if not futures:
            raise ValueError("select() needs at least one future")
        for f in futures:
            if not isinstance(f, StepFuture) or f._ex is not ex:
                raise ValueError(f"select() takes futures of this workflow's go(), got {f!r}")
        if len({f.step_number for f in futures}) != len(futures):
            raise ValueError("select() got the same future twice")
        n = ex.take_step_number()
        record = ex.replayed(n, "select", pb.STEP_KIND_SELECT)
        if record is None:
            record = ex.select(n, [f.step_number for f in futures])
        index = record.select_index
        return index, futures[index].result()

    # -- events, messages, sleep -------------------------------------------

    def set_event(self, key: str, value: Any) -> None:
        """Publish a durable key-value pair of this workflow (latest value wins)."""
        ex = self._ex
        n = ex.take_step_number()
        if ex.replayed(n, key, pb.STEP_KIND_SET_EVENT) is not None:
            return
        request = wpb.SetEventRequest(workflow_id=ex.workflow_id, epoch=ex.epoch, step_number=n,
                                      key=key, value=_codec.encode(value))
        ex.write("set_event", ex.stub.SetEvent, request, f"setting event {key!r}")

    def get_event(self, workflow_id: str, key: str, timeout: float = 60) -> Any:
        """The latest value of another workflow's event `key`, waiting up to
        `timeout` seconds for it to be set; None on timeout. Checkpointed: a
        replay returns the same value at once."""
        ex = self._ex
        n = ex.take_step_number()
        recorded = ex.replayed(n, f"{workflow_id}/{key}", pb.STEP_KIND_GET_EVENT)
        if recorded is not None:
            return outcome_value(recorded)

        def read(hold: float, **_: Any) -> Any:
            return ex.stub.ReadEvent(wpb.ReadEventRequest(
                workflow_id=ex.workflow_id, epoch=ex.epoch, step_number=n,
                target_workflow_id=workflow_id, key=key, timeout=_duration(timeout),
                hold=_duration(hold)), timeout=hold + 60)

        return self._wait(read, f"reading event {key!r} of {workflow_id}",
                          event=wpb.EventKey(workflow_id=workflow_id, key=key))

    def send(self, workflow_id: str, message: Any, topic: str | None = None) -> None:
        """Send a message to a workflow, exactly once (a durable step)."""
        ex = self._ex
        n = ex.take_step_number()
        recorded = ex.replayed(n, topic or "", pb.STEP_KIND_SEND)
        if recorded is None:
            request = wpb.SendMessageRequest(
                workflow_id=ex.workflow_id, epoch=ex.epoch, step_number=n,
                destination_workflow_id=workflow_id, topic=topic or "", message=_codec.encode(message))
            recorded = ex.call(ex.stub.SendMessage, request, f"sending to {workflow_id}").step
        outcome_value(recorded)  # raises if the destination did not exist

    def recv(self, topic: str | None = None, timeout: float = 60) -> Any:
        """The next message on `topic` (first in, first out), waiting up to
        `timeout` seconds; None on timeout. Each message is consumed once."""
        ex = self._ex
        n = ex.take_step_number()
        recorded = ex.replayed(n, topic or "", pb.STEP_KIND_RECV)
        if recorded is not None:
            return outcome_value(recorded)

        def receive(hold: float, **_: Any) -> Any:
            return ex.stub.ReceiveMessage(wpb.ReceiveMessageRequest(
                workflow_id=ex.workflow_id, epoch=ex.epoch, step_number=n, topic=topic or "",
                timeout=_duration(timeout), hold=_duration(hold)), timeout=hold + 60)

        return self._wait(receive, f"receiving on topic {topic or ''!r}", topic=topic or "")

    def sleep(self, seconds: float) -> None:
        """Sleep durably: the wake-up time is recorded, so after a crash the
        workflow sleeps only what is left. Long sleeps hold no worker slot."""
        ex = self._ex
        n = ex.take_step_number()
        recorded = ex.replayed(n, "sleep", pb.STEP_KIND_SLEEP)
        if recorded is None:
            request = wpb.SleepRequest(workflow_id=ex.workflow_id, epoch=ex.epoch, step_number=n,
                                       duration=_duration(seconds))
            recorded = ex.call(ex.stub.Sleep, request, f"sleeping {seconds} s").step
        wake_at_ms = int(outcome_value(recorded))
        left = wake_at_ms / 1000 - time.time()
        if left <= 0:
            return
        if left > ex.hold_seconds() and ex.may_park():
            resume = Timestamp()
            resume.FromMilliseconds(wake_at_ms)
            ex.park(resume)
        if ex.stop.wait(left):
            raise LeaseLost(f"{ex}: stopped while sleeping")

    def _wait(self, call: Callable[[float], Any], doing: str, **wait: Any) -> Any:
        """Wait for a recv or get_event: held at the coordinator for a short
        while, then the workflow parks and a later execution replays to here."""
        ex = self._ex
        while True:
            hold = ex.hold_seconds()
            response = ex.call(call, hold, doing)
            if response.WhichOneof("result") == "step":
                return outcome_value(response.step)
            if ex.may_park():
                ex.park(response.waiting_until, **wait)


def _duration(seconds: float) -> Duration:
    d = Duration()
    d.FromMilliseconds(max(0, int(seconds * 1000)))
    return d
