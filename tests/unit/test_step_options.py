"""The SDK's step timeouts (issue 15): @step(timeout=...) and remote_step()
travel as ScheduleStep's timeout and max_attempts."""

from __future__ import annotations

import pytest
from keel.v1 import worker_service_pb2 as wpb

from worker import remote_step, step
from worker._execution import _step_options
from worker._registry import Registry, StepDef, step_name_of, step_options_of


def test_remote_step_carries_its_options_and_registers_nothing() -> None:
    charge = remote_step("js_charge", timeout=2.5, max_retries=2)
    assert step_name_of(charge) == "js_charge"
    options = step_options_of(charge)
    assert options is not None and (options.timeout, options.max_retries) == (2.5, 2)
    request = wpb.ScheduleStepRequest()
    _step_options(request, options)
    assert (request.timeout.ToMilliseconds(), request.max_attempts) == (2500, 3)
    with pytest.raises(TypeError, match="served by other workers"):
        charge("x")
    assert step_options_of("js_charge") is None


def test_a_step_without_a_timeout_leaves_the_default_to_the_coordinator() -> None:
    request = wpb.ScheduleStepRequest()
    _step_options(request, StepDef("s", print, 3, 0, 0))
    assert not request.HasField("timeout") and request.max_attempts == 0


def test_timeouts_must_be_positive() -> None:
    for bad in (0, -1):
        with pytest.raises(ValueError):
            step(timeout=bad)
        with pytest.raises(ValueError):
            remote_step("x", timeout=bad)
    with pytest.raises(ValueError):
        remote_step("not a name!")
    Registry().add({}, StepDef("ok", print, 0, 0, 0, 1.0))
