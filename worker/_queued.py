"""`EnqueuedFuture`: the `WorkflowFuture` of a workflow enqueued from a workflow
(`WorkflowContext.enqueue`).

The enqueue itself is the durable step (its record holds the workflow's ID);
the result is read from the coordinator when asked for. A final workflow never
changes, so a replay reads the same value. Not a candidate of `select` (yet):
the coordinator decides selects over child workflows it started.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from keel.v1 import client_service_pb2 as cpb
from keel.v1 import common_pb2 as pb

from . import _codec, _transport
from ._errors import LeaseLost, WorkflowCancelled, WorkflowFailed
from ._futures import WorkflowFuture

if TYPE_CHECKING:
    from ._execution import Execution

# The longest single wait asked of the coordinator; a stopped execution
# notices within it.
_WAIT_SLICE = 1.0
_FINAL = (pb.WORKFLOW_STATUS_SUCCESS, pb.WORKFLOW_STATUS_ERROR, pb.WORKFLOW_STATUS_CANCELLED)


class EnqueuedFuture(WorkflowFuture):
    """A workflow this workflow enqueued; `result()` waits for it."""

    def __init__(self, execution: Execution, step_number: int, workflow_id: str) -> None:
        super().__init__(execution, step_number, workflow_id)
        self._info: cpb.WorkflowInfo | None = None

    def __repr__(self) -> str:
        return f"<EnqueuedFuture {self.workflow_id} {'done' if self._info is not None else 'pending'}>"

    def _read(self, wait: float) -> cpb.WorkflowInfo | None:
        stub = self._ex.client_stub
        if stub is None:
            raise RuntimeError("this worker has no client connection to read workflows with")
        d = cpb.AwaitWorkflowRequest(workflow_id=self.workflow_id)
        d.timeout.FromMilliseconds(int(wait * 1000))
        info = _transport.call(stub.AwaitWorkflow, d, f"waiting for workflow {self.workflow_id}",
                               deadline=time.monotonic() + wait + 30.0).workflow
        if info.status in _FINAL:
            self._info = info
        return self._info

    def done(self) -> bool:
        """Whether the workflow has ended (asks the coordinator, without waiting)."""
        return self._info is not None or self._read(0.0) is not None

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the workflow to end; return its value or raise WorkflowFailed
        (WorkflowCancelled). TimeoutError if it has not ended within `timeout` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._info is None:
            if self._ex.stop.is_set():
                raise LeaseLost(f"{self._ex}: stopped while waiting for workflow {self.workflow_id}")
            left = _WAIT_SLICE if deadline is None else min(_WAIT_SLICE, deadline - time.monotonic())
            if left <= 0:
                raise TimeoutError(f"workflow {self.workflow_id} did not finish within {timeout} s")
            self._read(left)
        info = self._info
        if info.status == pb.WORKFLOW_STATUS_SUCCESS:
            return _codec.decode(info.output)
        cls = WorkflowCancelled if info.status == pb.WORKFLOW_STATUS_CANCELLED else WorkflowFailed
        raise cls(info.workflow_id, info.error.type, info.error.message, info.error.details)
