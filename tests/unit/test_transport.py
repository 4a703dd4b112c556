"""Unit tests of the SDK's one retry policy, with fake methods and no network."""

from __future__ import annotations

import threading
import time
from typing import Any

import grpc
import pytest

from worker import CoordinatorError
from worker._transport import CALLS, Retry, RetryPolicy, call, call_async, retrying


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str = "boom") -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


class FlakyMethod:
    """A unary method that fails with `codes` in turn, then answers."""

    def __init__(self, *codes: grpc.StatusCode, answer: Any = "ok") -> None:
        self.codes = list(codes)
        self.answer = answer
        self.timeouts: list[float | None] = []

    def __call__(self, request: Any, timeout: float | None = None) -> Any:
        self.timeouts.append(timeout)
        if self.codes:
            raise FakeRpcError(self.codes.pop(0))
        return self.answer


U = grpc.StatusCode.UNAVAILABLE


def test_unavailable_is_retried_with_growing_jittered_backoff_until_it_works() -> None:
    method = FlakyMethod(U, U, U, U, U, U)
    pauses: list[float] = []
    assert call(method, "req", "testing", sleep=pauses.append) == "ok"
    assert len(method.timeouts) == 7 and len(pauses) == 6
    step = CALLS.first
    for pause in pauses:
        assert step / 2 <= pause <= step  # full jitter in the upper half of each step
        step = min(CALLS.cap, step * 2)


def test_backoff_is_capped() -> None:
    delays = RetryPolicy(first=1.0, cap=4.0).delays()
    taken = [next(delays) for _ in range(10)]
    assert all(d <= 4.0 for d in taken) and all(d >= 2.0 for d in taken[3:])


@pytest.mark.parametrize("code", [grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND,
                                  grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.DEADLINE_EXCEEDED])
def test_other_codes_are_answers_not_retried(code: grpc.StatusCode) -> None:
    method = FlakyMethod(code)
    pauses: list[float] = []
    with pytest.raises(CoordinatorError) as info:
        call(method, "req", "reading workflow w-1", sleep=pauses.append)
    assert info.value.code == code.name
    assert str(info.value) == f"reading workflow w-1: {code.name}: boom"
    assert len(method.timeouts) == 1 and pauses == []


def test_a_deadline_bounds_the_retries_and_each_call() -> None:
    method = FlakyMethod(*[U] * 1000)
    start = time.monotonic()
    with pytest.raises(CoordinatorError) as info:
        call(method, "req", "testing", deadline=start + 0.3)
    took = time.monotonic() - start
    assert info.value.code == "UNAVAILABLE"
    assert took < 1.0 and len(method.timeouts) >= 2  # it never sleeps past the deadline
    # Each call is given the time left, never more.
    assert all(t is not None and t <= 0.3 for t in method.timeouts)
    assert method.timeouts == sorted(method.timeouts, reverse=True)


def test_no_deadline_means_no_call_timeout() -> None:
    method = FlakyMethod()
    call(method, "req", "testing")
    assert method.timeouts == [None]


def test_the_give_up_predicate_ends_the_retries() -> None:
    method = FlakyMethod(*[U] * 100)
    pauses: list[float] = []
    with pytest.raises(CoordinatorError, match="UNAVAILABLE"):
        call(method, "req", "testing", give_up=lambda: len(pauses) >= 3, sleep=pauses.append)
    # Checked after each failure and again after each pause.
    assert len(pauses) == 3 and len(method.timeouts) == 3


def test_a_give_up_event_cuts_the_pause_short() -> None:
    stop = threading.Event()
    method = FlakyMethod(*[U] * 100)
    threading.Timer(0.1, stop.set).start()
    start = time.monotonic()
    with pytest.raises(CoordinatorError):
        call(method, "req", "testing", give_up=stop.is_set, sleep=stop.wait,
             policy=RetryPolicy(first=5.0, cap=5.0))
    assert time.monotonic() - start < 2.0


def test_coordinator_errors_of_stream_requests_follow_the_same_policy() -> None:
    answers: list[Any] = [CoordinatorError("stream lost", "UNAVAILABLE"),
                          CoordinatorError("stale epoch", "FAILED_PRECONDITION")]

    def attempt(timeout: float | None) -> str:
        raise answers.pop(0)

    pauses: list[float] = []
    with pytest.raises(CoordinatorError) as info:
        retrying(attempt, "recording step 3", Retry(), sleep=pauses.append)
    assert len(pauses) == 1
    assert info.value.code == "FAILED_PRECONDITION"
    assert str(info.value) == "recording step 3: FAILED_PRECONDITION: stale epoch"


def test_an_attempt_made_before_the_loop_counts_as_its_first() -> None:
    """A stream request is sent once plainly; its failure enters the loop as
    the first attempt's: retried if the policy says so, else raised at once."""
    calls: list[float | None] = []

    def attempt(timeout: float | None) -> str:
        calls.append(timeout)
        return "recorded"

    pauses: list[float] = []
    assert retrying(attempt, "recording step 3", Retry(), sleep=pauses.append,
                    failed=CoordinatorError("stream lost", "UNAVAILABLE")) == "recorded"
    assert len(pauses) == 1 and len(calls) == 1
    with pytest.raises(CoordinatorError) as info:
        retrying(attempt, "recording step 3", Retry(), sleep=pauses.append,
                 failed=CoordinatorError("stale epoch", "FAILED_PRECONDITION"))
    assert len(calls) == 1 and len(pauses) == 1  # no attempt, no pause
    assert str(info.value) == "recording step 3: FAILED_PRECONDITION: stale epoch"


def test_a_policy_may_retry_any_code_and_restart_its_backoff() -> None:
    retry = Retry(RetryPolicy(first=1.0, cap=8.0, codes=None))
    assert retry.pause("INTERNAL") is not None
    assert [retry.pause("UNKNOWN") is not None for _ in range(3)] == [True] * 3
    assert (retry.pause("UNAVAILABLE") or 0) >= 4.0
    retry.reset()
    assert (retry.pause("UNAVAILABLE") or 9) <= 1.0
    assert Retry(CALLS).pause("INTERNAL") is None


class AsyncMethod:
    """A unary method's `.future`, answering through done-callbacks at once."""

    def __init__(self, *codes: grpc.StatusCode) -> None:
        self.codes = list(codes)
        self.calls = 0

    def future(self, request: Any) -> Any:
        self.calls += 1
        code = self.codes.pop(0) if self.codes else None
        method = self

        class Done:
            def result(self) -> Any:
                if code is not None:
                    raise FakeRpcError(code)
                return f"answer {method.calls}"

            def add_done_callback(self, fn: Any) -> None:
                fn(self)

        return Done()


def run_async(method: AsyncMethod, give_up: Any = lambda: False) -> tuple[list[Any], list[Any]]:
    results: list[Any] = []
    errors: list[Any] = []
    finished = threading.Event()
    call_async(method, "req", "scheduling step 2",
               on_result=lambda r: (results.append(r), finished.set()),
               on_error=lambda e: (errors.append(e), finished.set()),
               give_up=give_up, policy=RetryPolicy(first=0.01, cap=0.02))
    assert finished.wait(5)
    return results, errors


def test_async_calls_retry_unavailable_and_answer_once() -> None:
    method = AsyncMethod(U, U, U)
    results, errors = run_async(method)
    assert results == ["answer 4"] and errors == [] and method.calls == 4


def test_async_calls_give_up_on_other_codes_and_on_the_predicate() -> None:
    results, errors = run_async(AsyncMethod(grpc.StatusCode.FAILED_PRECONDITION))
    assert results == [] and [e.code for e in errors] == ["FAILED_PRECONDITION"]
    assert str(errors[0]).startswith("scheduling step 2: FAILED_PRECONDITION")

    method = AsyncMethod(*[U] * 100)
    results, errors = run_async(method, give_up=lambda: method.calls >= 2)
    assert results == [] and [e.code for e in errors] == ["UNAVAILABLE"] and method.calls == 2
