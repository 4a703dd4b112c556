"""The keel Python SDK: write durable workflows and steps, serve them, start them.

    from worker import workflow, step, WorkflowContext, Worker, Client
"""

from ._client import Client, WorkflowHandle
from ._context import StepFuture, WorkflowContext
from ._errors import (
    CoordinatorError,
    DuplicateWorkflow,
    KeelError,
    LeaseLost,
    NonDeterminismError,
    StepError,
    WorkflowCancelled,
    WorkflowFailed,
    WorkflowNotFound,
)
from ._futures import WorkflowFuture
from ._queues import QueueInfo
from ._registry import remote_step, step, workflow
from ._results import ErrorInfo, Event, ScheduleInfo, StepInfo, WorkflowInfo, WorkflowPage, WorkflowStatus
from ._runtime import Worker

__all__ = [
    "Client",
    "CoordinatorError",
    "DuplicateWorkflow",
    "ErrorInfo",
    "Event",
    "KeelError",
    "LeaseLost",
    "NonDeterminismError",
    "ScheduleInfo",
    "QueueInfo",
    "StepError",
    "StepFuture",
    "StepInfo",
    "Worker",
    "WorkflowCancelled",
    "WorkflowContext",
    "WorkflowFailed",
    "WorkflowFuture",
    "WorkflowHandle",
    "WorkflowInfo",
    "WorkflowNotFound",
    "WorkflowPage",
    "WorkflowStatus",
    "remote_step",
    "step",
    "workflow",
]
