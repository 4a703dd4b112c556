import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from keel.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkerMessage(_message.Message):
    __slots__ = ("seq", "register", "heartbeat", "drain", "record_step", "finish_workflow", "set_event", "batch", "receive_message", "read_event")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    DRAIN_FIELD_NUMBER: _ClassVar[int]
    RECORD_STEP_FIELD_NUMBER: _ClassVar[int]
    FINISH_WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    SET_EVENT_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    RECEIVE_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    READ_EVENT_FIELD_NUMBER: _ClassVar[int]
    seq: int
    register: Register
    heartbeat: Heartbeat
    drain: Drain
    record_step: RecordStepRequest
    finish_workflow: FinishWorkflowRequest
    set_event: SetEventRequest
    batch: WorkerBatch
    receive_message: ReceiveMessageRequest
    read_event: ReadEventRequest
    def __init__(self, seq: _Optional[int] = ..., register: _Optional[_Union[Register, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., drain: _Optional[_Union[Drain, _Mapping]] = ..., record_step: _Optional[_Union[RecordStepRequest, _Mapping]] = ..., finish_workflow: _Optional[_Union[FinishWorkflowRequest, _Mapping]] = ..., set_event: _Optional[_Union[SetEventRequest, _Mapping]] = ..., batch: _Optional[_Union[WorkerBatch, _Mapping]] = ..., receive_message: _Optional[_Union[ReceiveMessageRequest, _Mapping]] = ..., read_event: _Optional[_Union[ReadEventRequest, _Mapping]] = ...) -> None: ...

class WorkerBatch(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[WorkerMessage]
    def __init__(self, messages: _Optional[_Iterable[_Union[WorkerMessage, _Mapping]]] = ...) -> None: ...

class Register(_message.Message):
    __slots__ = ("worker_id", "workflows", "steps", "workflow_slots", "step_slots", "sdk", "batches")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_SLOTS_FIELD_NUMBER: _ClassVar[int]
    STEP_SLOTS_FIELD_NUMBER: _ClassVar[int]
    SDK_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    workflows: _containers.RepeatedScalarFieldContainer[str]
    steps: _containers.RepeatedScalarFieldContainer[str]
    workflow_slots: int
    step_slots: int
    sdk: str
    batches: bool
    def __init__(self, worker_id: _Optional[str] = ..., workflows: _Optional[_Iterable[str]] = ..., steps: _Optional[_Iterable[str]] = ..., workflow_slots: _Optional[int] = ..., step_slots: _Optional[int] = ..., sdk: _Optional[str] = ..., batches: _Optional[bool] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Drain(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CoordinatorMessage(_message.Message):
    __slots__ = ("seq", "registered", "run_workflow", "run_step", "revoke", "reply", "batch")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    RUN_WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    RUN_STEP_FIELD_NUMBER: _ClassVar[int]
    REVOKE_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    seq: int
    registered: Registered
    run_workflow: WorkflowAssignment
    run_step: StepAssignment
    revoke: Revoke
    reply: Reply
    batch: CoordinatorBatch
    def __init__(self, seq: _Optional[int] = ..., registered: _Optional[_Union[Registered, _Mapping]] = ..., run_workflow: _Optional[_Union[WorkflowAssignment, _Mapping]] = ..., run_step: _Optional[_Union[StepAssignment, _Mapping]] = ..., revoke: _Optional[_Union[Revoke, _Mapping]] = ..., reply: _Optional[_Union[Reply, _Mapping]] = ..., batch: _Optional[_Union[CoordinatorBatch, _Mapping]] = ...) -> None: ...

class CoordinatorBatch(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[CoordinatorMessage]
    def __init__(self, messages: _Optional[_Iterable[_Union[CoordinatorMessage, _Mapping]]] = ...) -> None: ...

class Reply(_message.Message):
    __slots__ = ("request_seq", "record_step", "finish_workflow", "error", "set_event", "receive_message", "read_event")
    REQUEST_SEQ_FIELD_NUMBER: _ClassVar[int]
    RECORD_STEP_FIELD_NUMBER: _ClassVar[int]
    FINISH_WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SET_EVENT_FIELD_NUMBER: _ClassVar[int]
    RECEIVE_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    READ_EVENT_FIELD_NUMBER: _ClassVar[int]
    request_seq: int
    record_step: RecordStepResponse
    finish_workflow: FinishWorkflowResponse
    error: CallError
    set_event: SetEventResponse
    receive_message: ReceiveMessageResponse
    read_event: ReadEventResponse
    def __init__(self, request_seq: _Optional[int] = ..., record_step: _Optional[_Union[RecordStepResponse, _Mapping]] = ..., finish_workflow: _Optional[_Union[FinishWorkflowResponse, _Mapping]] = ..., error: _Optional[_Union[CallError, _Mapping]] = ..., set_event: _Optional[_Union[SetEventResponse, _Mapping]] = ..., receive_message: _Optional[_Union[ReceiveMessageResponse, _Mapping]] = ..., read_event: _Optional[_Union[ReadEventResponse, _Mapping]] = ...) -> None: ...

class CallError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class Registered(_message.Message):
    __slots__ = ("coordinator_id", "heartbeat_interval", "lease_timeout", "batches")
    COORDINATOR_ID_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    LEASE_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    coordinator_id: str
    heartbeat_interval: _duration_pb2.Duration
    lease_timeout: _duration_pb2.Duration
    batches: bool
    def __init__(self, coordinator_id: _Optional[str] = ..., heartbeat_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., lease_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., batches: _Optional[bool] = ...) -> None: ...

class WorkflowAssignment(_message.Message):
    __slots__ = ("workflow_id", "name", "input", "epoch", "has_history", "created_at", "history_complete", "history")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    HAS_HISTORY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    HISTORY_COMPLETE_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    name: str
    input: _common_pb2.Payload
    epoch: int
    has_history: bool
    created_at: _timestamp_pb2.Timestamp
    history_complete: bool
    history: _containers.RepeatedCompositeFieldContainer[_common_pb2.StepRecord]
    def __init__(self, workflow_id: _Optional[str] = ..., name: _Optional[str] = ..., input: _Optional[_Union[_common_pb2.Payload, _Mapping]] = ..., epoch: _Optional[int] = ..., has_history: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., history_complete: _Optional[bool] = ..., history: _Optional[_Iterable[_Union[_common_pb2.StepRecord, _Mapping]]] = ...) -> None: ...

class StepAssignment(_message.Message):
    __slots__ = ("workflow_id", "epoch", "step_number", "name", "input", "attempt", "timeout")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    STEP_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    epoch: int
    step_number: int
    name: str
    input: _common_pb2.Payload
    attempt: int
    timeout: _duration_pb2.Duration
    def __init__(self, workflow_id: _Optional[str] = ..., epoch: _Optional[int] = ..., step_number: _Optional[int] = ..., name: _Optional[str] = ..., input: _Optional[_Union[_common_pb2.Payload, _Mapping]] = ..., attempt: _Optional[int] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Revoke(_message.Message):
    __slots__ = ("workflow_id", "epoch", "reason")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    epoch: int
    reason: str
    def __init__(self, workflow_id: _Optional[str] = ..., epoch: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class GetHistoryRequest(_message.Message):
    __slots__ = ("workflow_id", "after_step_number", "page_size")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_STEP_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    after_step_number: int
    page_size: int
    def __init__(self, workflow_id: _Optional[str] = ..., after_step_number: _Optional[int] = ..., page_size: _Optional[int] = ...) -> None: ...

class GetHistoryResponse(_message.Message):
    __slots__ = ("steps", "more")
    STEPS_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedCompositeFieldContainer[_common_pb2.StepRecord]
    more: bool
    def __init__(self, steps: _Optional[_Iterable[_Union[_common_pb2.StepRecord, _Mapping]]] = ..., more: _Optional[bool] = ...) -> None: ...

class RecordStepRequest(_message.Message):
    __slots__ = ("workflow_id", "epoch", "step_number", "name", "attempt", "output", "error", "started_at")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    STEP_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    epoch: int
    step_number: int
    name: str
    attempt: int
    output: _common_pb2.Payload
    error: _common_pb2.ErrorInfo
    started_at: _timestamp_pb2.Timestamp
    def __init__(self, workflow_id: _Optional[str] = ..., epoch: _Optional[int] = ..., step_number: _Optional[int] = ..., name: _Optional[str] = ..., attempt: _Optional[int] = ..., output: _Optional[_Union[_common_pb2.Payload, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.ErrorInfo, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecordStepResponse(_message.Message):
    __slots__ = ("step",)
    STEP_FIELD_NUMBER: _ClassVar[int]
    step: _common_pb2.StepRecord
    def __init__(self, step: _Optional[_Union[_common_pb2.StepRecord, _Mapping]] = ...) -> None: ...

class ScheduleStepRequest(_message.Message):
    __slots__ = ("workflow_id", "epoch", "step_number", "name", "input", "timeout", "max_attempts")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    STEP_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    epoch: int
    step_number: int
    name: str
    input: _common_pb2.Payload
    timeout: _duration_pb2.Duration
    max_attempts: int
    def __init__(self, workflow_id: _Optional[str] = ..., epoch: _Optional[int] = ..., step_number: _Optional[int] = ..., name: _Optional[str] = ..., input: _Optional[_Union[_common_pb2.Payload, _Mapping]] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_attempts: _Optional[int] = ...) -> None: ...

class ScheduleStepResponse(_message.Message):
    __slots__ = ("step",)
    STEP_FIELD_NUMBER: _ClassVar[int]
    step: _common_pb2.StepRecord
    def __init__(self, step: _Optional[_Union[_common_pb2.StepRecord, _Mapping]] = ...) -> None: ...

class SelectRequest(_message.Message):
    __slots__ = ("workflow_id", "epoch", "step_number", "candidates", "hold", "taken")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    STEP_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    TAKEN_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    epoch: int
    step_number: int
    candidates: _containers.RepeatedScalarFieldContainer[int]
    hold: _duration_pb2.Duration
    taken: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, workflow_id: _Optional[str] = ..., epoch: _Optional[int] = ..., step_number: _Optional[int] = ..., candidates: _Optional[_Iterable[int]] = ..., hold: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., taken: _Optional[_Iterable[int]] = ...) -> None: ...

class SelectResponse(_message.Message):
    __slots__ = ("step", "waiting_until")
    STEP_FIELD_NUMBER: _ClassVar[int]
    WAITING_UNTIL_FIELD_NUMBER: _ClassVar[int]
    step: _common_pb2.StepRecord
    waiting_until: _timestamp_pb2.Timestamp
    def __init__(self, step: _Optional[_Union[_common_pb2.StepRecord, _Mapping]] = ..., waiting_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StartChildWorkflowRequest(_message.Message):
    __slots__ = ("workflow_id", "epoch", "step_number", "name", "input", "child_workflow_id", "timeout")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    STEP_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    CHILD_WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    epoch: int
    step_number: int
    name: str
    input: _common_pb2.Payload
    child_workflow_id: str
    timeout: _duration_pb2.Duration
    def __init__(self, workflow_id: _Optional[str] = ..., epoch: _Optional[int] = ..., step_number: _Optional[int] = ..., name: _Optional[str] = ..., input: _Optional[_Union[_common_pb2.Payload, _Mapping]] = ..., child_workflow_id: _Optional[str] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class StartChildWorkflowResponse(_message.Message):
    __slots__ = ("step",)
    STEP_FIELD_NUMBER: _ClassVar[int]
    step: _common_pb2.StepRecord
    def __init__(self, step: _Optional[_Union[_common_pb2.StepRecord, _Mapping]] = ...) -> None: ...

class StartWaitRequest(_message.Message):
    __slots__ = ("workflow_id", "epoch", "step_number", "topic", "event")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    STEP_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    epoch: int
    step_number: int
    topic: str
    event: EventKey
    def __init__(self, workflow_id: _Optional[str] = ..., epoch: _Optional[int] = ..., step_number: _Optional[int] = ..., topic: _Optional[str] = ..., event: _Optional[_Union[EventKey, _Mapping]] = ...) -> None: ...

class StartWaitResponse(_message.Message):
    __slots__ = ("step",)
    STEP_FIELD_NUMBER: _ClassVar[int]
    step: _common_pb2.StepRecord
    def __init__(self, step: _Optional[_Union[_common_pb2.StepRecord, _Mapping]] = ...) -> None: ...

class SetEventRequest(_message.Message):
    __slots__ = ("workflow_id", "epoch", "step_number", "key", "value")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    STEP_NUMBER_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    epoch: int
    step_number: int
    key: str
    value: _common_pb2.Payload
    def __init__(self, workflow_id: _Optional[str] = ..., epoch: _Optional[int] = ..., step_number: _Optional[int] = ..., key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.Payload, _Mapping]] = ...) -> None: ...

class SetEventResponse(_message.Message):
    __slots__ = ("step",)
    STEP_FIELD_NUMBER: _ClassVar[int]
    step: _common_pb2.StepRecord
    def __init__(self, step: _Optional[_Union[_common_pb2.StepRecord, _Mapping]] = ...) -> None: ...

class ReadEventRequest(_message.Message):
    __slots__ = ("workflow_id", "epoch", "step_number", "target_workflow_id", "key", "timeout", "hold", "park")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    STEP_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TARGET_WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    PARK_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    epoch: int
    step_number: int
    target_workflow_id: str
    key: str
    timeout: _duration_pb2.Duration
    hold: _duration_pb2.Duration
    park: bool
    def __init__(self, workflow_id: _Optional[str] = ..., epoch: _Optional[int] = ..., step_number: _Optional[int] = ..., target_workflow_id: _Optional[str] = ..., key: _Optional[str] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., hold: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., park: _Optional[bool] = ...) -> None: ...

class ReadEventResponse(_message.Message):
    __slots__ = ("step", "waiting_until", "parked")
    STEP_FIELD_NUMBER: _ClassVar[int]
    WAITING_UNTIL_FIELD_NUMBER: _ClassVar[int]
    PARKED_FIELD_NUMBER: _ClassVar[int]
    step: _common_pb2.StepRecord
    waiting_until: _timestamp_pb2.Timestamp
    parked: bool
    def __init__(self, step: _Optional[_Union[_common_pb2.StepRecord, _Mapping]] = ..., waiting_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., parked: _Optional[bool] = ...) -> None: ...

class SendMessageRequest(_message.Message):
    __slots__ = ("workflow_id", "epoch", "step_number", "destination_workflow_id", "topic", "message")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    STEP_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    epoch: int
    step_number: int
    destination_workflow_id: str
    topic: str
    message: _common_pb2.Payload
    def __init__(self, workflow_id: _Optional[str] = ..., epoch: _Optional[int] = ..., step_number: _Optional[int] = ..., destination_workflow_id: _Optional[str] = ..., topic: _Optional[str] = ..., message: _Optional[_Union[_common_pb2.Payload, _Mapping]] = ...) -> None: ...

class SendMessageResponse(_message.Message):
    __slots__ = ("step",)
    STEP_FIELD_NUMBER: _ClassVar[int]
    step: _common_pb2.StepRecord
    def __init__(self, step: _Optional[_Union[_common_pb2.StepRecord, _Mapping]] = ...) -> None: ...

class ReceiveMessageRequest(_message.Message):
    __slots__ = ("workflow_id", "epoch", "step_number", "topic", "timeout", "hold", "park")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    STEP_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    PARK_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    epoch: int
    step_number: int
    topic: str
    timeout: _duration_pb2.Duration
    hold: _duration_pb2.Duration
    park: bool
    def __init__(self, workflow_id: _Optional[str] = ..., epoch: _Optional[int] = ..., step_number: _Optional[int] = ..., topic: _Optional[str] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., hold: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., park: _Optional[bool] = ...) -> None: ...

class ReceiveMessageResponse(_message.Message):
    __slots__ = ("step", "waiting_until", "parked")
    STEP_FIELD_NUMBER: _ClassVar[int]
    WAITING_UNTIL_FIELD_NUMBER: _ClassVar[int]
    PARKED_FIELD_NUMBER: _ClassVar[int]
    step: _common_pb2.StepRecord
    waiting_until: _timestamp_pb2.Timestamp
    parked: bool
    def __init__(self, step: _Optional[_Union[_common_pb2.StepRecord, _Mapping]] = ..., waiting_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., parked: _Optional[bool] = ...) -> None: ...

class SleepRequest(_message.Message):
    __slots__ = ("workflow_id", "epoch", "step_number", "duration")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    STEP_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    epoch: int
    step_number: int
    duration: _duration_pb2.Duration
    def __init__(self, workflow_id: _Optional[str] = ..., epoch: _Optional[int] = ..., step_number: _Optional[int] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class SleepResponse(_message.Message):
    __slots__ = ("step",)
    STEP_FIELD_NUMBER: _ClassVar[int]
    step: _common_pb2.StepRecord
    def __init__(self, step: _Optional[_Union[_common_pb2.StepRecord, _Mapping]] = ...) -> None: ...

class ParkRequest(_message.Message):
    __slots__ = ("workflow_id", "epoch", "resume_at", "topic", "event", "select")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    RESUME_AT_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    SELECT_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    epoch: int
    resume_at: _timestamp_pb2.Timestamp
    topic: str
    event: EventKey
    select: SelectWait
    def __init__(self, workflow_id: _Optional[str] = ..., epoch: _Optional[int] = ..., resume_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., topic: _Optional[str] = ..., event: _Optional[_Union[EventKey, _Mapping]] = ..., select: _Optional[_Union[SelectWait, _Mapping]] = ...) -> None: ...

class SelectWait(_message.Message):
    __slots__ = ("step_number", "candidates", "taken")
    STEP_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    TAKEN_FIELD_NUMBER: _ClassVar[int]
    step_number: int
    candidates: _containers.RepeatedScalarFieldContainer[int]
    taken: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, step_number: _Optional[int] = ..., candidates: _Optional[_Iterable[int]] = ..., taken: _Optional[_Iterable[int]] = ...) -> None: ...

class EventKey(_message.Message):
    __slots__ = ("workflow_id", "key")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    key: str
    def __init__(self, workflow_id: _Optional[str] = ..., key: _Optional[str] = ...) -> None: ...

class ParkResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FinishWorkflowRequest(_message.Message):
    __slots__ = ("workflow_id", "epoch", "output", "error")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    epoch: int
    output: _common_pb2.Payload
    error: _common_pb2.ErrorInfo
    def __init__(self, workflow_id: _Optional[str] = ..., epoch: _Optional[int] = ..., output: _Optional[_Union[_common_pb2.Payload, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.ErrorInfo, _Mapping]] = ...) -> None: ...

class FinishWorkflowResponse(_message.Message):
    __slots__ = ("status", "completed_at")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.WorkflowStatus
    completed_at: _timestamp_pb2.Timestamp
    def __init__(self, status: _Optional[_Union[_common_pb2.WorkflowStatus, str]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EnqueueWorkflowRequest(_message.Message):
    __slots__ = ("workflow_id", "epoch", "step_number", "queue", "name", "input", "child_workflow_id", "timeout", "priority", "deduplication_id", "partition_key")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    STEP_NUMBER_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    CHILD_WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_KEY_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    epoch: int
    step_number: int
    queue: str
    name: str
    input: _common_pb2.Payload
    child_workflow_id: str
    timeout: _duration_pb2.Duration
    priority: int
    deduplication_id: str
    partition_key: str
    def __init__(self, workflow_id: _Optional[str] = ..., epoch: _Optional[int] = ..., step_number: _Optional[int] = ..., queue: _Optional[str] = ..., name: _Optional[str] = ..., input: _Optional[_Union[_common_pb2.Payload, _Mapping]] = ..., child_workflow_id: _Optional[str] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., priority: _Optional[int] = ..., deduplication_id: _Optional[str] = ..., partition_key: _Optional[str] = ...) -> None: ...

class EnqueueWorkflowResponse(_message.Message):
    __slots__ = ("step",)
    STEP_FIELD_NUMBER: _ClassVar[int]
    step: _common_pb2.StepRecord
    def __init__(self, step: _Optional[_Union[_common_pb2.StepRecord, _Mapping]] = ...) -> None: ...
