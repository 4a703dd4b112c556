"""The keel Python SDK: write durable workflows and steps, serve them, start them.

    from worker import workflow, step, WorkflowContext, Worker, Client
"""

from ._client import Client, WorkflowHandle
from ._context import StepFuture, WorkflowContext
from ._errors import (
    CoordinatorError,
    KeelError,
    LeaseLost,
    NonDeterminismError,
    StepError,
    WorkflowCancelled,
    WorkflowFailed,
    WorkflowNotFound,
)
from ._futures import WorkflowFuture
from ._registry import step, workflow
from ._results import ErrorInfo, Event, StepInfo, WorkflowInfo, WorkflowStatus
from ._runtime import Worker

__all__ = [
    "Client",
    "CoordinatorError",
    "ErrorInfo",
    "Event",
    "KeelError",
    "LeaseLost",
    "NonDeterminismError",
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
    "WorkflowStatus",
    "step",
    "workflow",
]
