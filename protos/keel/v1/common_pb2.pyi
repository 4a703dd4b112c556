import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkflowStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WORKFLOW_STATUS_UNSPECIFIED: _ClassVar[WorkflowStatus]
    WORKFLOW_STATUS_PENDING: _ClassVar[WorkflowStatus]
    WORKFLOW_STATUS_SUCCESS: _ClassVar[WorkflowStatus]
    WORKFLOW_STATUS_ERROR: _ClassVar[WorkflowStatus]
    WORKFLOW_STATUS_CANCELLED: _ClassVar[WorkflowStatus]
    WORKFLOW_STATUS_ENQUEUED: _ClassVar[WorkflowStatus]

class StepKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STEP_KIND_UNSPECIFIED: _ClassVar[StepKind]
    STEP_KIND_STEP: _ClassVar[StepKind]
    STEP_KIND_SELECT: _ClassVar[StepKind]
    STEP_KIND_SLEEP: _ClassVar[StepKind]
    STEP_KIND_SET_EVENT: _ClassVar[StepKind]
    STEP_KIND_GET_EVENT: _ClassVar[StepKind]
    STEP_KIND_SEND: _ClassVar[StepKind]
    STEP_KIND_RECV: _ClassVar[StepKind]
    STEP_KIND_START_WORKFLOW: _ClassVar[StepKind]
    STEP_KIND_GO_RECV: _ClassVar[StepKind]
    STEP_KIND_GO_EVENT: _ClassVar[StepKind]
WORKFLOW_STATUS_UNSPECIFIED: WorkflowStatus
WORKFLOW_STATUS_PENDING: WorkflowStatus
WORKFLOW_STATUS_SUCCESS: WorkflowStatus
WORKFLOW_STATUS_ERROR: WorkflowStatus
WORKFLOW_STATUS_CANCELLED: WorkflowStatus
WORKFLOW_STATUS_ENQUEUED: WorkflowStatus
STEP_KIND_UNSPECIFIED: StepKind
STEP_KIND_STEP: StepKind
STEP_KIND_SELECT: StepKind
STEP_KIND_SLEEP: StepKind
STEP_KIND_SET_EVENT: StepKind
STEP_KIND_GET_EVENT: StepKind
STEP_KIND_SEND: StepKind
STEP_KIND_RECV: StepKind
STEP_KIND_START_WORKFLOW: StepKind
STEP_KIND_GO_RECV: StepKind
STEP_KIND_GO_EVENT: StepKind

class Payload(_message.Message):
    __slots__ = ("encoding", "data")
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    encoding: str
    data: bytes
    def __init__(self, encoding: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class ErrorInfo(_message.Message):
    __slots__ = ("type", "message", "details")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    type: str
    message: str
    details: str
    def __init__(self, type: _Optional[str] = ..., message: _Optional[str] = ..., details: _Optional[str] = ...) -> None: ...

class StepRecord(_message.Message):
    __slots__ = ("step_number", "name", "kind", "output", "error", "attempt", "started_at", "completed_at", "completion_seq", "select_index", "select_step_number", "worker_token")
    STEP_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_SEQ_FIELD_NUMBER: _ClassVar[int]
    SELECT_INDEX_FIELD_NUMBER: _ClassVar[int]
    SELECT_STEP_NUMBER_FIELD_NUMBER: _ClassVar[int]
    WORKER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    step_number: int
    name: str
    kind: StepKind
    output: Payload
    error: ErrorInfo
    attempt: int
    started_at: _timestamp_pb2.Timestamp
    completed_at: _timestamp_pb2.Timestamp
    completion_seq: int
    select_index: int
    select_step_number: int
    worker_token: str
    def __init__(self, step_number: _Optional[int] = ..., name: _Optional[str] = ..., kind: _Optional[_Union[StepKind, str]] = ..., output: _Optional[_Union[Payload, _Mapping]] = ..., error: _Optional[_Union[ErrorInfo, _Mapping]] = ..., attempt: _Optional[int] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completion_seq: _Optional[int] = ..., select_index: _Optional[int] = ..., select_step_number: _Optional[int] = ..., worker_token: _Optional[str] = ...) -> None: ...
