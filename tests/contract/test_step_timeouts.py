"""The Store contract for step timeouts (issue 15): a claimed attempt past its
deadline cannot record, is released for another attempt, and the last allowed
one is recorded as failed, on every store."""

from __future__ import annotations

from coordinator.core.records import Failure, NewStep, NewTask, Outcome, StepKind, TaskRecord
from coordinator.store import RecordResult, Store, Value, WorkflowStatus
from tests.contract.support import claimed, ok, run, step

ARGS = Value("json", b'{"args": [], "kwargs": {}}')


def task(wid: str, epoch: int, n: int = 0, owner: str | None = None, max_attempts: int = 2) -> NewTask:
    return NewTask(wid, n, "charge", ARGS, epoch, 1000, owner, 9000 if owner else None,
                   timeout_ms=500, max_attempts=max_attempts,
                   attempt_deadline=1500 if owner else None)


def failure(task: TaskRecord) -> NewStep:
    return NewStep(task.workflow_id, task.epoch, task.step_number, task.name, StepKind.STEP,
                   Outcome(error=Failure("StepTimeout", f"attempt {task.attempt}")), task.attempt,
                   7000, 7000)


def test_a_claim_sets_the_attempt_deadline_and_a_late_outcome_is_fenced(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        created, _ = await s.create_task(task("w1", epoch))
        assert created is not None and (created.timeout_ms, created.max_attempts) == (500, 2)
        assert created.attempt_deadline is None  # not claimed: no attempt runs
        [got] = await s.claim_tasks("a", ["charge"], 1, now=5000, lease_until=60_000)
        assert (got.attempt, got.attempt_deadline) == (1, 5500)
        late = step("w1", epoch, 0, ok(), attempt=1, name="charge", completed_at=5500)
        assert await s.complete_task(late) == (RecordResult.STALE, None)
        in_time = step("w1", epoch, 0, ok(), attempt=1, name="charge", completed_at=5499)
        result, record = await s.complete_task(in_time)
        assert result is RecordResult.RECORDED and record is not None

    run(any_store_url, body)


def test_created_claimed_tasks_get_their_deadline(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        created, _ = await s.create_task(task("w1", epoch, owner="a"))
        assert created is not None and (created.attempt, created.attempt_deadline) == (1, 1500)

    run(any_store_url, body)


def test_expired_attempts_are_released_then_failed_after_max_attempts(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w1")
        await s.create_task(task("w1", epoch, owner="a"))  # attempt 1, deadline 1500
        assert await s.expire_task_attempts(1499, failure) == []
        [(released, record)] = await s.expire_task_attempts(1500, failure)
        assert (released.attempt, record) == (1, None)
        current = await s.get_task("w1", 0)
        assert current is not None and current.owner is None and current.attempt == 1
        # The timed-out attempt stays fenced off until another claims the task.
        fenced = step("w1", epoch, 0, ok(), attempt=1, name="charge", completed_at=1600)
        assert await s.complete_task(fenced) == (RecordResult.STALE, None)
        assert await s.expire_task_attempts(1600, failure) == []  # released: nothing runs
        [again] = await s.claim_tasks("b", ["charge"], 1, now=2000, lease_until=60_000)
        assert (again.attempt, again.attempt_deadline) == (2, 2500)
        [(last, record)] = await s.expire_task_attempts(2500, failure)
        assert last.attempt == 2 and record is not None
        assert record.outcome.error is not None and record.outcome.error.type == "StepTimeout"
        assert (record.attempt, record.completion_seq) == (2, 1)
        assert await s.get_step("w1", 0) == record
        assert await s.get_task("w1", 0) is None
        # The timed-out attempt's late outcome gets the record that stands (like a retry).
        late = step("w1", epoch, 0, ok(), attempt=2, name="charge", completed_at=2400)
        assert await s.complete_task(late) == (RecordResult.DUPLICATE, record)

    run(any_store_url, body)


def test_tasks_without_a_timeout_or_of_final_workflows_never_expire(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        e1 = await claimed(s, "w1")
        e2 = await claimed(s, "w2")
        await s.create_task(NewTask("w1", 0, "charge", ARGS, e1, 1000, "a", 9000))
        await s.create_task(task("w2", e2, owner="a"))
        await s.finish_workflow("w2", e2, WorkflowStatus.CANCELLED, ok(), 1200)
        assert await s.expire_task_attempts(10**12, failure) == []

    run(any_store_url, body)
