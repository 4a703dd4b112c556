"""The scenarios of docs/conformance.md. Each drives the worker under test
through the client and raises Failed saying what it saw; it returns a short
note for the table."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable
from typing import Any

from .kit import MAX_PAYLOAD, Failed, Kit, wait_for

RESULT_TIMEOUT = 60.0


def _id(name: str) -> str:
    return f"conf-{name}-{uuid.uuid4().hex[:8]}"


def call(kit: Kit, step: str, *args: Any) -> dict[str, Any]:
    """Run one step of the worker under test through the driver workflow."""
    handle = kit.client.start_workflow("conf_driver_call", step, list(args), workflow_id=_id(step))
    return handle.result(timeout=RESULT_TIMEOUT)  # type: ignore[no-any-return]


def expect(what: str, got: Any, want: Any) -> None:
    if got != want:
        raise Failed(f"{what}: expected {want!r}, got {got!r}")


def ok_of(result: dict[str, Any], what: str) -> Any:
    if "error" in result:
        e = result["error"]
        raise Failed(f"{what}: the step failed with {e['type']}: {e['message'][:200]}")
    return result.get("ok", result.get("hex"))


# -- steps ---------------------------------------------------------------------


def json_steps(kit: Kit) -> str:
    values = [1, -2.5, "naïve ✓", None, True, [1, [2, {"a": []}]], {"k": {"nested": "v"}}, 2**53 - 1]
    expect("conf_echo output", ok_of(call(kit, "conf_echo", *values), "conf_echo"), values)
    return f"{len(values)} JSON values round-tripped"


def binary_output(kit: Kit) -> str:
    got = ok_of(call(kit, "conf_bytes", 300), "conf_bytes")
    expect("conf_bytes(300) as hex", got, bytes(i % 256 for i in range(300)).hex())
    return "300 bytes, encoding binary"


def error_types(kit: Kit) -> str:
    result = call(kit, "conf_fail", "card declined")
    if "error" not in result:
        raise Failed(f"conf_fail returned {result!r} instead of failing")
    expect("the error's type", result["error"]["type"], "ConformanceError")
    if "card declined" not in result["error"]["message"]:
        raise Failed(f"the error's message {result['error']['message']!r} lost 'card declined'")
    return "type ConformanceError, message kept"


def timeout_retry(kit: Kit) -> str:
    """An attempt past its timeout is fenced off and retried; its late outcome is refused."""
    label = _id("retry")
    handle = kit.client.start_workflow("conf_driver_retry", label, 1.5, workflow_id=label)
    result = handle.result(timeout=RESULT_TIMEOUT)
    value = ok_of(result, "conf_mark with a 1.5 s timeout and one retry")
    record = [s for s in handle.steps() if s.name == "conf_mark"][0]
    expect("the attempt that recorded the step", record.attempt, 2)
    runs = kit.wait_mark(label, 2)
    expect("the pid in the outcome", value["pid"], runs[1])
    time.sleep(6.5)  # the first attempt wakes up and reports late: it must be refused, quietly
    if not all(w.alive() for w in kit.workers):
        raise Failed("a worker under test exited after its late outcome was refused")
    expect("the step's record after the late outcome", [s.attempt for s in handle.steps()], [2])
    return "attempt 1 timed out, attempt 2 recorded, late outcome refused"


def _kill_or_stop_mid_step(kit: Kit, sig: int) -> str:
    if len(kit.live_workers()) < 2:
        raise Failed("the worker under test and its spare are not both running")
    label = _id("sigkill" if sig == signal.SIGKILL else "sigstop")
    handle = kit.client.start_workflow("conf_driver_call", "conf_mark", [label, 6], workflow_id=label)
    [pid] = kit.wait_mark(label)
    victim = kit.worker_by_pid(pid)
    if sig == signal.SIGKILL:
        victim.kill()
    else:
        os.kill(pid, signal.SIGSTOP)
    try:
        value = ok_of(handle.result(timeout=RESULT_TIMEOUT), "conf_mark")
        if value["pid"] == pid:
            raise Failed(f"the outcome came from the {'killed' if sig == signal.SIGKILL else 'stopped'} "
                         f"worker {pid}")
        [record] = handle.steps()
        if record.attempt < 2:
            raise Failed(f"the step was recorded by attempt {record.attempt}, not a later one")
    finally:
        if sig == signal.SIGSTOP:
            os.kill(pid, signal.SIGCONT)
    if sig == signal.SIGKILL:
        kit.replace(victim)
        return f"worker {pid} killed; the spare recorded attempt {record.attempt}"
    # Woken up, the stopped worker reports attempt 1 late: refused; it must
    # reconnect and go on serving.
    time.sleep(7)
    if not victim.alive():
        raise Failed(f"the stopped worker {pid} exited after SIGCONT (late outcome refused?)")
    expect("the record after the late outcome", [s.attempt for s in handle.steps()], [record.attempt])
    return f"worker {pid} stopped; the spare recorded attempt {record.attempt}; late outcome refused"


def sigkill_spare(kit: Kit) -> str:
    return _kill_or_stop_mid_step(kit, signal.SIGKILL)


def sigstop_late_outcome(kit: Kit) -> str:
    return _kill_or_stop_mid_step(kit, signal.SIGSTOP)


def refused_output(kit: Kit) -> str:
    result = call(kit, "conf_big", MAX_PAYLOAD + 1000)
    if "error" not in result:
        raise Failed("an output over the payload limit was recorded")
    expect("the error's type", result["error"]["type"], "OutputRejected")
    return "recorded as an error of type OutputRejected"


def cancellation(kit: Kit) -> str:
    label = _id("cancel")
    handle = kit.client.start_workflow("conf_driver_call", "conf_mark", [label, 3], workflow_id=label)
    kit.wait_mark(label)
    handle.cancel()
    expect("status after cancel", handle.status().value, "CANCELLED")
    time.sleep(4)  # the step ends; its outcome is refused
    if len(kit.live_workers()) < 2:
        raise Failed("a worker under test exited after its workflow was cancelled")
    expect("steps recorded after the cancel", handle.steps(), [])
    expect("a step after the cancel", ok_of(call(kit, "conf_echo", "after"), "conf_echo"), ["after"])
    return "revoked; the late outcome refused; workers still serve"


def coordinator_restart(kit: Kit) -> str:
    label = _id("restart")
    handle = kit.client.start_workflow("conf_driver_call", "conf_mark", [label, 2], workflow_id=label)
    kit.wait_mark(label)
    kit.restart_coordinator()
    value = ok_of(handle.result(timeout=RESULT_TIMEOUT), "conf_mark across a coordinator restart")
    expect("the step's label", value["label"], label)
    expect("a step after the restart", ok_of(call(kit, "conf_echo", 7), "conf_echo"), [7])
    return "workers reconnected; the step in flight finished"


# -- workflows -------------------------------------------------------------------


def replay(kit: Kit) -> str:
    label = _id("replay")
    handle = kit.client.start_workflow("conf_wf_steps", label, workflow_id=label)
    [pid] = kit.wait_mark(f"{label}-1")
    victim = kit.worker_by_pid(pid)
    victim.kill()
    result = handle.result(timeout=RESULT_TIMEOUT)
    kit.replace(victim)
    expect("step 0 runs", len(kit.marks(f"{label}-0")), 1)
    if result[1] == pid:
        raise Failed("the result came from the killed worker")
    return "recorded step 0 not run again; step 1 finished on the spare"


def nondeterminism(kit: Kit) -> str:
    label = _id("nondet")
    handle = kit.client.start_workflow("conf_wf_nondet", label, workflow_id=label)
    [pid] = kit.wait_mark(label)
    victim = kit.worker_by_pid(pid)
    victim.kill()
    wait_for(lambda: handle.status().value != "PENDING", "the workflow to end", RESULT_TIMEOUT)
    kit.replace(victim)
    info = handle.info()
    expect("status", info.status.value, "ERROR")
    assert info.error is not None
    expect("the error's type", info.error.type, "NonDeterminismError")
    for name in ("conf_echo", "conf_bytes"):
        if name not in info.error.message:
            raise Failed(f"the error does not name {name}: {info.error.message!r}")
    return "failed with NonDeterminismError naming both steps"


def select(kit: Kit) -> str:
    label = _id("select")
    handle = kit.client.start_workflow("conf_wf_select", label, workflow_id=label)
    expect("(index, value)", handle.result(timeout=RESULT_TIMEOUT), [1, ["fast"]])
    kinds = [s.kind for s in handle.steps()]
    if "SELECT" not in kinds:
        raise Failed(f"no SELECT step recorded: {kinds}")
    return "the fast future won; the decision is recorded"


def parking(kit: Kit) -> str:
    topic = _id("park")
    handle = kit.client.start_workflow("conf_wf_park", topic, workflow_id=topic)
    time.sleep(3)
    kit.client.send(topic, {"hello": "parked"}, topic=topic)
    expect("the message received", handle.result(timeout=RESULT_TIMEOUT), {"hello": "parked"})
    if handle.info().epoch < 2:
        raise Failed("the workflow never parked (it held its slot while waiting)")
    return f"parked and resumed ({handle.info().epoch} executions)"


STEPS: list[tuple[str, Callable[[Kit], str]]] = [
    ("steps by name, JSON payloads", json_steps),
    ("binary payloads", binary_output),
    ("errors with types", error_types),
    ("timeouts and retries", timeout_retry),
    ("SIGKILL mid-step, spare", sigkill_spare),
    ("SIGSTOP, late outcome", sigstop_late_outcome),
    ("refused output", refused_output),
    ("cancellation", cancellation),
    ("coordinator restart", coordinator_restart),
]
WORKFLOWS: list[tuple[str, Callable[[Kit], str]]] = [
    ("workflow replay", replay),
    ("non-determinism", nondeterminism),
    ("select", select),
    ("parking", parking),
]
