"""One execution of a workflow assignment on this worker, under its epoch.

It runs the workflow function in its own thread, loads the recorded history
into its journal first, makes every call to the coordinator for the workflow
(fenced: a stale epoch or a revoke sets `stop` and raises LeaseLost), parks
when a wait is long, and finishes the workflow with its outcome.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from keel.v1 import common_pb2 as pb
from keel.v1 import worker_service_pb2 as wpb
from keel.v1 import worker_service_pb2_grpc as wgrpc

from . import _codec, _transport
from ._errors import CoordinatorError, LeaseLost, Parked
from ._journal import Journal
from ._registry import Registry, StepDef
from ._steps import outcome_value

if TYPE_CHECKING:
    from ._context import StepFuture

log = logging.getLogger(__name__)

# Refusals that mean "this outcome cannot be stored as is": record an error instead.
_UNSTORABLE = {"RESOURCE_EXHAUSTED", "INVALID_ARGUMENT"}


def duration(seconds: float) -> Duration:
    d = Duration()
    d.FromMilliseconds(max(0, int(seconds * 1000)))
    return d


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
        self.journal = Journal(assignment.workflow_id)
        self._lock = threading.Lock()
        # Waits longer than this give the workflow's slot back (see park()),
        # at once when the worker has no spare slot.
        self.park_after = park_after
        self.spare_slots = spare_slots
        self.pending_futures = 0
        # Sends record_step / finish_workflow on the worker's stream, if given.
        self.stream = stream
        # A ClientService stub on the same coordinators (WorkflowFuture reads
        # workflows with it); set by the worker runtime.
        self.client_stub: Any = None

    def __repr__(self) -> str:
        return f"workflow {self.workflow_id} (execution {self.epoch})"

    # -- the thread ----------------------------------------------------------

    def run(self) -> None:
        # Imported here: the context module is built on this one.
        from ._context import WorkflowContext

        try:
            if self.assignment.history_complete:  # handed out with it
                self.journal.load(self.assignment.history)
            elif self.assignment.has_history:
                self._load_history()
            definition = self.registry.workflows[self.assignment.name]
            try:
                args, kwargs = _codec.decode_args(self.assignment.input)
                result = definition.fn(WorkflowContext(self), *args, **kwargs)
                outcome: pb.Payload | pb.ErrorInfo = _codec.encode(result)
            except Exception as exc:  # the workflow's own failure: it ends ERROR
                outcome = _codec.error_info(exc)
            if self.journal.fatal is not None:
                outcome = _codec.error_info(self.journal.fatal)
            self._finish(outcome)
        except Parked as e:
            log.debug("%s parked: %s", self, e)
        except LeaseLost as e:
            log.info("%s stopped: %s", self, e or "fenced off")
        except CoordinatorError as e:
            log.warning("%s abandoned: %s", self, e)
        except Exception:
            log.exception("%s: bug in the worker runtime", self)

    def _fenced(self, error: CoordinatorError) -> BaseException:
        """What a failed call raises: LeaseLost once this execution is fenced off
        (the coordinator refused our epoch, or we were stopped meanwhile)."""
        if error.code == "FAILED_PRECONDITION" or self.stop.is_set():
            self.stop.set()
            return LeaseLost(str(error))
        return error

    def call(self, method: Callable[..., Any], request: Any, doing: str) -> Any:
        """A unary call fenced by this execution: a stale lease raises LeaseLost."""
        if self.stop.is_set():
            raise LeaseLost(f"{self}: {doing}: execution was stopped")
        try:
            return _transport.call(method, request, f"{self}: {doing}", give_up=self.stop.is_set,
                                   sleep=self.stop.wait)
        except CoordinatorError as e:
            raise self._fenced(e) from None

    def write(self, field: str, method: Callable[..., Any], request: Any, doing: str) -> Any:
        """RecordStep, FinishWorkflow or SetEvent: on the stream when there is one
        (cheaper), else a unary call; fenced and retried like `call`."""
        if self.stream is None:
            return self.call(method, request, doing)
        stream = self.stream
        if self.stop.is_set():
            raise LeaseLost(f"{self}: {doing}: execution was stopped")
        try:  # once, plainly: it almost always works
            return stream(field, request, self.stop)
        except CoordinatorError as e:
            failed = e
        retry = _transport.Retry(give_up=self.stop.is_set)
        try:
            return _transport.retrying(lambda _: stream(field, request, self.stop), f"{self}: {doing}",
                                       retry, sleep=self.stop.wait, failed=failed)
        except CoordinatorError as e:
            raise self._fenced(e) from None

    def _load_history(self) -> None:
        after = -1
        while True:
            page = self.call(self.stub.GetHistory, wpb.GetHistoryRequest(
                workflow_id=self.workflow_id, after_step_number=after), "reading history")
            self.journal.load(page.steps)
            if page.steps:
                after = page.steps[-1].step_number
            if not page.more:
                return

    def _finish(self, outcome: pb.Payload | pb.ErrorInfo) -> None:
        request = wpb.FinishWorkflowRequest(workflow_id=self.workflow_id, epoch=self.epoch)
        set_outcome(request, outcome)
        try:
            self.write("finish_workflow", self.stub.FinishWorkflow, request, "finishing")
        except CoordinatorError as e:
            if e.code not in _UNSTORABLE or isinstance(outcome, pb.ErrorInfo):
                raise
            request.error.CopyFrom(pb.ErrorInfo(type="ResultRejected", message=str(e)))
            self.write("finish_workflow", self.stub.FinishWorkflow, request, "finishing")

    # -- durable operations, once the journal has a step number for them ------

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

    def schedule(self, step_number: int, name: str, input: pb.Payload,
                 definition: StepDef | None = None) -> pb.StepRecord:
        request = wpb.ScheduleStepRequest(
            workflow_id=self.workflow_id, epoch=self.epoch, step_number=step_number, name=name,
            input=input,
        )
        _step_options(request, definition)
        return self.call(self.stub.ScheduleStep, request, f"scheduling step {step_number} ({name})").step

    def schedule_async(self, future: StepFuture, input: pb.Payload,
                       definition: StepDef | None = None) -> None:
        """Schedule without blocking: the call's callback resolves `future`, so
        many concurrent steps need no thread each."""
        doing = f"{self}: scheduling step {future.step_number} ({future.name})"
        with self._lock:
            self.pending_futures += 1
        future._counted = True
        if self.stop.is_set():
            future._fail(LeaseLost(f"{doing}: execution was stopped"))
            return
        request = wpb.ScheduleStepRequest(
            workflow_id=self.workflow_id, epoch=self.epoch, step_number=future.step_number,
            name=future.name, input=input,
        )
        _step_options(request, definition)
        _transport.call_async(
            self.stub.ScheduleStep, request, doing,
            on_result=lambda response: future._resolve(response.step),
            on_error=lambda error: future._fail(self._fenced(error)),
            give_up=self.stop.is_set,
        )

    def future_settled(self) -> None:
        """A future counted in `pending_futures` got its outcome."""
        with self._lock:
            self.pending_futures -= 1

    def select(self, step_number: int, candidates: list[int],
               taken: list[int] | None = None) -> pb.StepRecord:
        """The coordinator's decision among the futures at `candidates`: held
        there for a short while, then the workflow parks until one completes."""
        def select(hold: float, **_: Any) -> Any:
            return self.stub.Select(wpb.SelectRequest(
                workflow_id=self.workflow_id, epoch=self.epoch, step_number=step_number,
                candidates=candidates, taken=taken or [], hold=duration(hold)), timeout=hold + 60)

        doing = f"selecting at step {step_number}"
        while True:
            response = self.call(select, self.hold_seconds(), doing)
            if response.HasField("step"):
                return response.step
            if self.may_park():
                self.park(response.waiting_until, select=wpb.SelectWait(
                    step_number=step_number, candidates=candidates, taken=taken or []))

    def start_child(self, step_number: int, name: str, input: pb.Payload, workflow_id: str | None,
                    timeout: float | None) -> pb.StepRecord:
        request = wpb.StartChildWorkflowRequest(
            workflow_id=self.workflow_id, epoch=self.epoch, step_number=step_number, name=name,
            input=input, child_workflow_id=workflow_id or "")
        if timeout is not None:
            request.timeout.CopyFrom(duration(timeout))
        return self.call(self.stub.StartChildWorkflow, request, f"starting child workflow {name}").step

    def start_wait(self, step_number: int, **wait: Any) -> pb.StepRecord:
        """Record a go_recv (topic=) or go_event (event=) future at `step_number`."""
        request = wpb.StartWaitRequest(workflow_id=self.workflow_id, epoch=self.epoch,
                                       step_number=step_number, **wait)
        return self.call(self.stub.StartWait, request, f"starting a wait at step {step_number}").step

    def set_event(self, step_number: int, key: str, value: Any) -> None:
        request = wpb.SetEventRequest(workflow_id=self.workflow_id, epoch=self.epoch,
                                      step_number=step_number, key=key, value=_codec.encode(value))
        self.write("set_event", self.stub.SetEvent, request, f"setting event {key!r}")

    def send(self, step_number: int, workflow_id: str, message: Any, topic: str) -> pb.StepRecord:
        request = wpb.SendMessageRequest(
            workflow_id=self.workflow_id, epoch=self.epoch, step_number=step_number,
            destination_workflow_id=workflow_id, topic=topic, message=_codec.encode(message))
        return self.call(self.stub.SendMessage, request, f"sending to {workflow_id}").step

    def read_event(self, step_number: int, workflow_id: str, key: str, timeout: float) -> Any:
        """Wait for another workflow's event (checkpointed at `step_number`)."""
        def read(hold: float, park: bool) -> wpb.ReadEventRequest:
            return wpb.ReadEventRequest(
                workflow_id=self.workflow_id, epoch=self.epoch, step_number=step_number,
                target_workflow_id=workflow_id, key=key, timeout=duration(timeout),
                hold=duration(hold), park=park)

        return self._wait("read_event", self.stub.ReadEvent, read, f"reading event {key!r} of {workflow_id}",
                          event=wpb.EventKey(workflow_id=workflow_id, key=key))

    def receive(self, step_number: int, topic: str, timeout: float) -> Any:
        """Wait for the next message on `topic` (consumed at `step_number`)."""
        def receive(hold: float, park: bool) -> wpb.ReceiveMessageRequest:
            return wpb.ReceiveMessageRequest(
                workflow_id=self.workflow_id, epoch=self.epoch, step_number=step_number,
                topic=topic, timeout=duration(timeout), hold=duration(hold), park=park)

        return self._wait("receive_message", self.stub.ReceiveMessage, receive,
                          f"receiving on topic {topic!r}", topic=topic)

    def sleep(self, step_number: int, seconds: float) -> pb.StepRecord:
        """Record the wake-up time of a durable sleep; the record holds it (ms since the epoch)."""
        request = wpb.SleepRequest(workflow_id=self.workflow_id, epoch=self.epoch,
                                   step_number=step_number, duration=duration(seconds))
        return self.call(self.stub.Sleep, request, f"sleeping {seconds} s").step

    def sleep_until(self, wake_at_ms: int) -> None:
        """Sleep to the recorded wake-up time; a long sleep parks instead."""
        left = wake_at_ms / 1000 - time.time()
        if left <= 0:
            return
        if left > self.hold_seconds() and self.may_park():
            resume = Timestamp()
            resume.FromMilliseconds(wake_at_ms)
            self.park(resume)
        if self.stop.wait(left):
            raise LeaseLost(f"{self}: stopped while sleeping")

    # -- waiting and parking -------------------------------------------------

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

    def _wait(self, field: str, method: Callable[..., Any], request_for: Callable[[float, bool], Any],
              doing: str, **wait: Any) -> Any:
        """Wait for a recv or get_event: held at the coordinator for a short
        while, then the workflow parks and a later execution replays to here.
        On the stream when there is one (a held request costs nothing there),
        else a unary call bounded by the hold."""
        while True:
            # May park: then the coordinator parks it in the same call. (Only
            # settling futures could change that meanwhile, and not back.)
            park, hold = self.may_park(), self.hold_seconds()
            request = request_for(hold, park)
            if self.stream is not None:
                response = self.write(field, method, request, doing)
            else:
                response = self.call(lambda r, _hold=hold, **_: method(r, timeout=_hold + 60), request, doing)
            if response.WhichOneof("result") == "step":
                return outcome_value(response.step)
            if response.parked:
                self.stop.set()
                raise Parked(f"until {response.waiting_until.ToJsonString()}")
            if park:  # a coordinator that does not park in the call
                self.park(response.waiting_until, **wait)


def record_outcome(
    send: Callable[[wpb.RecordStepRequest], Any], request: wpb.RecordStepRequest,
    outcome: pb.Payload | pb.ErrorInfo,
) -> Any:
    """Send a RecordStep with this outcome. An output the coordinator cannot
    store (too large, say) is recorded as an error instead, so the step still
    ends and the workflow sees why."""
    set_outcome(request, outcome)
    try:
        return send(request)
    except CoordinatorError as e:
        if e.code not in _UNSTORABLE or isinstance(outcome, pb.ErrorInfo):
            raise
        request.error.CopyFrom(pb.ErrorInfo(type="OutputRejected", message=str(e)))
        return send(request)


def set_outcome(request: Any, outcome: pb.Payload | pb.ErrorInfo) -> None:
    if isinstance(outcome, pb.ErrorInfo):
        request.error.CopyFrom(outcome)
    else:
        request.output.CopyFrom(outcome)


def _step_options(request: wpb.ScheduleStepRequest, definition: StepDef | None) -> None:
    """A step's timeout, which the coordinator enforces on each attempt."""
    if definition is not None and definition.timeout is not None:
        request.timeout.CopyFrom(duration(definition.timeout))
        request.max_attempts = definition.max_retries + 1
