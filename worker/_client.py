"""The client used from outside workflows: start them, wait for them, inspect them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from keel.v1 import client_service_pb2 as cpb
from keel.v1 import client_service_pb2_grpc as cgrpc
from keel.v1 import common_pb2 as pb

from . import _codec, _transport
from ._errors import CoordinatorError, WorkflowCancelled, WorkflowFailed, WorkflowNotFound
from ._registry import workflow_name_of
from ._results import Event, StepInfo, WorkflowInfo, WorkflowStatus, event, step_info, workflow_info


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
        """PENDING, SUCCESS, ERROR or CANCELLED (a str: `== "SUCCESS"` works)."""
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
            if info.status != pb.WORKFLOW_STATUS_PENDING:
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


class Client:
    """Talks to a coordinator from outside workflows. Thread-safe."""

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

    def close(self) -> None:
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

    def _get(self, workflow_id: str) -> cpb.WorkflowInfo:
        return self._call(self._stub.GetWorkflow, cpb.GetWorkflowRequest(workflow_id=workflow_id),
                          f"reading workflow {workflow_id}", workflow_id).workflow

    def _await(self, workflow_id: str, wait: float) -> cpb.WorkflowInfo:
        request = cpb.AwaitWorkflowRequest(workflow_id=workflow_id, timeout=_duration(wait))
        return self._call(self._stub.AwaitWorkflow, request, f"waiting for workflow {workflow_id}",
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
        resp = self._call(self._stub.StartWorkflow, request,
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
        resp = self._call(self._stub.Send, request, f"sending to workflow {workflow_id}", workflow_id)
        return bool(resp.delivered)

    def get_workflow(self, workflow_id: str) -> WorkflowInfo:
        """The workflow as the coordinator has it now; WorkflowNotFound if there is none."""
        return workflow_info(self._get(workflow_id))

    def list_workflows(self, status: WorkflowStatus | str | None = None, name: str | None = None,
                       limit: int = 100, *, parent: str | None = None) -> list[WorkflowInfo]:
        """Workflows, newest first, optionally only those with this status
        (a WorkflowStatus or its name), this registered name, or this parent
        (the children it started with start_workflow)."""
        request = cpb.ListWorkflowsRequest(
            status=WorkflowStatus.parse(status).to_proto() if status else 0,
            name=name or "", limit=limit, parent_workflow_id=parent or "",
        )
        resp = self._call(self._stub.ListWorkflows, request, "listing workflows")
        return [workflow_info(w) for w in resp.workflows]
