"""Errors the SDK raises. Users never need to import grpc to handle them."""

from __future__ import annotations

import builtins

import grpc


class KeelError(Exception):
    """Base of every error the SDK raises."""


_STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}


def status_code(number: int) -> grpc.StatusCode:
    """The gRPC status of a `CallError.code` (google.rpc.Code numbering); UNKNOWN if none."""
    return _STATUS_CODES.get(number, grpc.StatusCode.UNKNOWN)


class CoordinatorError(KeelError):
    """A call to the coordinator failed; `code` is the gRPC status name."""

    def __init__(self, message: str, code: str = "UNKNOWN") -> None:
        super().__init__(message)
        self.code = code

    @classmethod
    def from_rpc(cls, err: grpc.RpcError, doing: str) -> CoordinatorError:
        code = err.code().name if hasattr(err, "code") and err.code() else "UNKNOWN"
        details = err.details() if hasattr(err, "details") else str(err)
        return cls(f"{doing}: {code}: {details}", code)


class DuplicateWorkflow(CoordinatorError):
    """An enqueue was refused: a workflow of the queue holds its deduplication
    ID (enqueued or running). `workflow_id` is that workflow's ID."""

    def __init__(self, message: str, workflow_id: str, queue: str, deduplication_id: str) -> None:
        super().__init__(message, "ALREADY_EXISTS")
        self.workflow_id = workflow_id
        self.queue = queue
        self.deduplication_id = deduplication_id


class WorkflowNotFound(KeelError):
    """No workflow has this ID."""


class WorkflowFailed(KeelError):
    """The workflow ended in ERROR. Carries the original error's type name and message."""

    def __init__(self, workflow_id: str, type_name: str, message: str, details: str = "") -> None:
        super().__init__(f"workflow {workflow_id} failed: {type_name}: {message}")
        self.workflow_id = workflow_id
        self.type_name = type_name
        self.error_message = message
        self.details = details


class WorkflowCancelled(WorkflowFailed):
    """The workflow was cancelled, by a client or by its timeout."""


class StepError(KeelError):
    """A step's recorded error, re-raised in the workflow (also on replay).

    When the original type is a builtin exception such as ValueError, the error
    raised is also an instance of it, so `except ValueError` works in workflows.
    """

    type_name: str = "StepError"
    error_message: str = ""
    details: str = ""
    step_name: str = ""
    step_number: int = -1

    def __str__(self) -> str:
        # The message as recorded (KeyError would otherwise quote it again).
        return self.error_message


class NonDeterminismError(KeelError):
    """A replay called a different step than the one recorded at that step number."""


class LeaseLost(BaseException):
    """This execution of a workflow was fenced off; another one (or none) continues.

    A BaseException so that a workflow's `except Exception` cannot swallow it.
    """


class Parked(BaseException):
    """The execution gave its slot back while it waits; a later one replays to here."""


_step_error_types: dict[str, type[StepError]] = {}


def step_error(type_name: str, message: str, details: str, step_name: str, step_number: int) -> StepError:
    """Rebuild a recorded step error: a StepError, and the builtin type when there is one."""
    cls = _step_error_types.get(type_name)
    if cls is None:
        base = getattr(builtins, type_name, None)
        if isinstance(base, type) and issubclass(base, Exception) and not issubclass(base, KeelError):
            cls = type(type_name, (StepError, base), {"__module__": "builtins"})
        else:
            cls = type(type_name, (StepError,), {"__module__": __name__})
        _step_error_types[type_name] = cls
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.type_name = type_name
    exc.error_message = message
    exc.details = details
    exc.step_name = step_name
    exc.step_number = step_number
    return exc
