"""The client used from outside workflows: start them, wait for them, inspect them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from types import TracebackType
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from keel.v1 import client_service_pb2 as cpb
from keel.v1 import client_service_pb2_grpc as cgrpc
from keel.v1 import common_pb2 as pb

from . import _codec, _transport
from ._calls import CallStream
from ._errors import CoordinatorError, WorkflowCancelled, WorkflowFailed, WorkflowNotFound
from ._operations import Operations
from ._queues import QueueInfo, duplicate_from, enqueue_request, queue_info, queue_limits
from ._registry import workflow_name_of
from ._results import (
    Event,
    StepInfo,
    WorkflowInfo,
    WorkflowPage,
    WorkflowStatus,
    event,
    step_info,
    workflow_info,
)


def _duration(seconds: float) -> Duration:
    d = Duration()
    d.FromMilliseconds(int(seconds * 1000))
    return d


class WorkflowHandle:
    """A started workflow."""

    def __init__(self, client: Client, workflow_id: str, created: bool = False) -> None:
        self._client = client
        self.workflow_id = workflow_id
        # False when start_workflow found an existing workflow with this ID.
        self.created = created

    def __repr__(self) -> str:
        return f"WorkflowHandle({self.workflow_id!r})"

    def status(self) -> WorkflowStatus:
        """ENQUEUED, PENDING, SUCCESS, ERROR or CANCELLED (a str: `== "SUCCESS"` works)."""
        return WorkflowStatus.from_proto(self._client._get(self.workflow_id).status)

    def info(self) -> WorkflowInfo:
        """The workflow as the coordinator has it now."""
        return self._client.get_workflow(self.workflow_id)

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the workflow to end and return its value. Raises WorkflowFailed
        (or WorkflowCancelled) with the original error, TimeoutError if it has not
        ended within `timeout` seconds (None waits for ever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = 60.0 if deadline is None else max(0.0, deadline - time.monotonic())
            info = self._client._await(self.workflow_id, wait)
            if WorkflowStatus.from_proto(info.status).final:
                return _outcome(info)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"workflow {self.workflow_id} did not finish within {timeout} s")

    def steps(self) -> list[StepInfo]:
        """The workflow's recorded steps, in step order."""
        steps: list[StepInfo] = []
        more, first = True, 0
        while more:  # ListSteps answers in pages
            resp = self._client._call(
                self._client._stub.ListSteps,
                cpb.ListStepsRequest(workflow_id=self.workflow_id, from_step_number=first),
                f"listing steps of workflow {self.workflow_id}", self.workflow_id,
            )
            steps.extend(step_info(s) for s in resp.steps)
            more = resp.more and bool(resp.steps)
            first = resp.steps[-1].step_number + 1 if resp.steps else first
        return steps

    def cancel(self) -> WorkflowStatus:
        """Cancel the workflow if it is still pending; returns its status."""
        resp = self._client._call(
            self._client._stub.CancelWorkflow, cpb.CancelWorkflowRequest(workflow_id=self.workflow_id),
            f"cancelling workflow {self.workflow_id}", self.workflow_id,
        )
        return WorkflowStatus.from_proto(resp.workflow.status)


def _outcome(info: cpb.WorkflowInfo) -> Any:
    if info.status == pb.WORKFLOW_STATUS_SUCCESS:
        return _codec.decode(info.output)
    e = info.error
    cls = WorkflowCancelled if info.status == pb.WORKFLOW_STATUS_CANCELLED else WorkflowFailed
    raise cls(info.workflow_id, e.type, e.message, e.details)


class Client(Operations):
    """Talks to a coordinator from outside workflows. Thread-safe. The
    operating verbs (resume, fork, schedules) are in worker/_operations.py."""

    def __init__(self, address: str = "127.0.0.1:50051", *, timeout: float = 30.0,
                 token: str | None = None, tls_ca: str | None = None, tls_cert: str | None = None,
                 tls_key: str | None = None) -> None:
        """`token`: a role token (client or admin) for a coordinator that requires
        them; `tls_ca`: PEM of the CA to trust, turning TLS on; `tls_cert` and
        `tls_key`: this client's certificate for mutual TLS (paths to PEM files)."""
        self.address = address
        # Upper bound of each call, retries of an unavailable coordinator included.
        self.timeout = timeout
        # One address or a comma-separated list: calls fail over between them.
        self._endpoints = _transport.Endpoints(address, _transport.Security(token, tls_ca, tls_cert, tls_key))
        self._stub = self._endpoints.stub(cgrpc.ClientServiceStub)
        # The calls made per workflow go on one stream (worker/_calls.py).
        # get_event stays a unary RPC: a reader waits for a signal, and the
        # unary answer reaches it sooner (0.3-0.6 ms: fewer thread hand-offs).
        self._calls = CallStream(self._endpoints)
        stub = self._stub
        self._start_rpc = self._calls.method("start_workflow", stub.StartWorkflow)
        self._get_rpc = self._calls.method("get_workflow", stub.GetWorkflow)
        self._await_rpc = self._calls.method("await_workflow", stub.AwaitWorkflow)
        self._send_rpc = self._calls.method("send", stub.Send)
        self._enqueue_rpc = self._calls.method("enqueue", stub.Enqueue)

    def close(self) -> None:
        self._calls.close()
        self._endpoints.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _call(self, method: Callable[..., Any], request: Any, doing: str,
              workflow_id: str | None = None, timeout: float | None = None) -> Any:
        try:
            return _transport.call(method, request, doing,
                                   deadline=time.monotonic() + (timeout or self.timeout))
        except CoordinatorError as e:
            if e.code == "NOT_FOUND" and workflow_id is not None:
                raise WorkflowNotFound(f"no workflow with ID {workflow_id!r}") from None
            raise

    def _handle(self, workflow_id: str) -> WorkflowHandle:
        return WorkflowHandle(self, workflow_id)

    def _get(self, workflow_id: str) -> cpb.WorkflowInfo:
        return self._call(self._get_rpc, cpb.GetWorkflowRequest(workflow_id=workflow_id),
                          f"reading workflow {workflow_id}", workflow_id).workflow

    def _await(self, workflow_id: str, wait: float) -> cpb.WorkflowInfo:
        request = cpb.AwaitWorkflowRequest(workflow_id=workflow_id, timeout=_duration(wait))
        return self._call(self._await_rpc, request, f"waiting for workflow {workflow_id}",
                          workflow_id, timeout=wait + self.timeout).workflow

    def start_workflow(
        self,
        workflow: Callable[..., Any] | str,
        *args: Any,
        workflow_id: str | None = None,
        timeout: float | None = None,
    ) -> WorkflowHandle:
        """Start a workflow (a @workflow function or a registered name) with `args`
        as its input. Starting an ID that exists returns that workflow; it never
        runs twice. `timeout` (seconds) cancels it if unfinished by then; by
        default the @workflow's own timeout, if it declared one."""
        name = workflow_name_of(workflow)
        if timeout is None and not isinstance(workflow, str):
            timeout = workflow.__keel_workflow__.timeout  # type: ignore[attr-defined]
        # An ID chosen here makes retries after a lost answer harmless.
        workflow_id = workflow_id or str(uuid.uuid4())
        request = cpb.StartWorkflowRequest(
            name=name, input=_codec.encode_args(args, {}), workflow_id=workflow_id,
        )
        if timeout is not None:
            request.timeout.CopyFrom(_duration(timeout))
        resp = self._call(self._start_rpc, request,
                          f"starting workflow {name} ({workflow_id})")
        return WorkflowHandle(self, resp.workflow.workflow_id, resp.created)

    def retrieve_workflow(self, workflow_id: str) -> WorkflowHandle:
        """A handle on an existing workflow; WorkflowNotFound if there is none."""
        self._get(workflow_id)
        return WorkflowHandle(self, workflow_id)

    def get_event(self, workflow_id: str, key: str, timeout: float = 60) -> Any:
        """The latest value of the workflow's event `key`, waiting up to `timeout`
        seconds for it to be set (the workflow need not exist yet); None on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            wait = max(0.0, min(60.0, deadline - time.monotonic()))
            request = cpb.GetEventRequest(workflow_id=workflow_id, key=key, timeout=_duration(wait))
            resp = self._call(self._stub.GetEvent, request, f"reading event {key!r} of {workflow_id}",
                              timeout=wait + self.timeout)
            if resp.found:
                return _codec.decode(resp.event.value)
            if time.monotonic() >= deadline:
                return None

    def watch_events(self, workflow_id: str, after_seq: int = 0) -> Iterator[Event]:
        """Every event of the workflow in order, from the first (or after
        `after_seq`), then each new one as it is set; ends when the workflow
        ends. Reconnects by itself, resuming after the last event seen."""
        # Never gives up on UNAVAILABLE: a watch outlives coordinator restarts.
        retry = _transport.Retry(_transport.CALLS)
        while True:
            stream = self._stub.WatchEvents(
                cpb.WatchEventsRequest(workflow_id=workflow_id, after_seq=after_seq))
            try:
                for e in stream:
                    after_seq = e.seq
                    yield event(e)
                return
            except grpc.RpcError as err:
                error = CoordinatorError.from_rpc(err, f"watching events of {workflow_id}")
                if error.code == "NOT_FOUND":
                    raise WorkflowNotFound(f"no workflow with ID {workflow_id!r}") from None
                pause = retry.pause(error.code)
                if pause is None:
                    raise error from None
                time.sleep(pause)
            finally:
                stream.cancel()

    def send(self, workflow_id: str, message: Any, topic: str | None = None,
             idempotency_key: str | None = None) -> bool:
        """Send a message to a workflow (WorkflowNotFound if it does not exist).
        The same idempotency key twice delivers once; returns False then."""
        request = cpb.SendRequest(
            workflow_id=workflow_id, topic=topic or "", message=_codec.encode(message),
            # A key chosen here makes retries after a lost answer harmless.
            idempotency_key=idempotency_key or f"client:{uuid.uuid4()}",
        )
        resp = self._call(self._send_rpc, request, f"sending to workflow {workflow_id}", workflow_id)
        return bool(resp.delivered)

    def get_workflow(self, workflow_id: str) -> WorkflowInfo:
        """The workflow as the coordinator has it now; WorkflowNotFound if there is none."""
        return workflow_info(self._get(workflow_id))

    def list_workflows(self, status: WorkflowStatus | str | None = None, name: str | None = None,
                       limit: int = 100, *, created_after: datetime | float | None = None,
                       created_before: datetime | float | None = None,
                       page_token: str | None = None, parent: str | None = None) -> WorkflowPage:
        """A page of workflows, newest first: those with this status (a
        WorkflowStatus or its name), this registered name, created at or after
        `created_after` and before `created_before` (datetimes, or seconds since
        the epoch), at most `limit`. A list of WorkflowInfo whose
        `next_page_token`, passed as `page_token` with the same filters, reads
        the next page (None on the last). With `parent`, the children that
        workflow started with start_workflow (one page, newest first)."""
        request = cpb.ListWorkflowsRequest(
            status=WorkflowStatus.parse(status).to_proto() if status else 0,
            name=name or "", limit=limit, page_token=page_token or "", parent_workflow_id=parent or "",
        )
        if created_after is not None:
            request.created_after.CopyFrom(_timestamp(created_after))
        if created_before is not None:
            request.created_before.CopyFrom(_timestamp(created_before))
        resp = self._call(self._stub.ListWorkflows, request, "listing workflows")
        return WorkflowPage([workflow_info(w) for w in resp.workflows], resp.next_page_token or None)


    # -- queues ----------------------------------------------------------------

    def set_queue(self, name: str, *, concurrency: int | None = None,
                  worker_concurrency: int | None = None, rate_limit: tuple[int, float] | None = None,
                  partition_concurrency: int | None = None) -> QueueInfo:
        """Create the queue or replace its limits (None: no limit). `concurrency`:
        running at once across all coordinators and workers; `worker_concurrency`:
        on any one worker; `rate_limit=(n, seconds)`: at most n starts in any
        window of that many seconds; `partition_concurrency`: running at once
        per partition key."""
        request = cpb.SetQueueRequest(name=name, limits=queue_limits(
            concurrency, worker_concurrency, rate_limit, partition_concurrency))
        return queue_info(self._call(self._stub.SetQueue, request, f"setting queue {name}").queue)

    def get_queue(self, name: str) -> QueueInfo:
        """The queue, with how many of its workflows wait and run; CoordinatorError
        (code NOT_FOUND) if there is none."""
        request = cpb.GetQueueRequest(name=name)
        return queue_info(self._call(self._stub.GetQueue, request, f"reading queue {name}").queue)

    def list_queues(self) -> list[QueueInfo]:
        """Every queue, by name, with its limits and how many wait and run."""
        resp = self._call(self._stub.ListQueues, cpb.ListQueuesRequest(), "listing queues")
        return [queue_info(q) for q in resp.queues]

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
    ) -> WorkflowHandle:
        """Enqueue a workflow (a @workflow function or a registered name) on a
        queue: ENQUEUED until the queue's limits let it start. Lower priorities
        start first, equal ones in enqueue order. An ID that exists returns that
        workflow. DuplicateWorkflow (carrying the holder's ID) while a workflow
        of the queue with this `deduplication_id` is enqueued or running;
        CoordinatorError (code NOT_FOUND) for an unknown queue. `timeout`
        counts from the start, not from the enqueue."""
        name = workflow_name_of(workflow)
        if timeout is None and not isinstance(workflow, str):
            timeout = workflow.__keel_workflow__.timeout  # type: ignore[attr-defined]
        workflow_id = workflow_id or str(uuid.uuid4())  # retries after a lost answer are harmless
        request = enqueue_request(cpb.EnqueueRequest(queue=queue, name=name, workflow_id=workflow_id),
                                  args, priority, deduplication_id, partition_key, timeout)
        try:
            resp = self._call(self._enqueue_rpc, request, f"enqueuing workflow {name} on {queue}")
        except CoordinatorError as e:
            raise duplicate_from(e, queue, deduplication_id) from None
        return WorkflowHandle(self, resp.workflow.workflow_id, resp.created)


def _timestamp(when: datetime | float) -> Timestamp:
    ts = Timestamp()
    ts.FromMilliseconds(int((when.timestamp() if isinstance(when, datetime) else when) * 1000))
    return ts
