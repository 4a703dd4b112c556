"""The steps and workflows of docs/conformance.md, written with the Python SDK:
the reference a worker in another language is compared with.

    python -m worker run conformance.python_worker --coordinator HOST:PORT
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from worker import WorkflowContext, step, workflow


def _marks() -> Path:
    folder = Path(os.environ.get("KEEL_CONFORMANCE_DIR", ".")) / "marks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class ConformanceError(Exception):
    """The error type conf_fail raises."""


@step(name="conf_echo")
def conf_echo(*args: Any) -> list[Any]:
    return list(args)


@step(name="conf_bytes")
def conf_bytes(n: int) -> bytes:
    return bytes(i % 256 for i in range(n))


@step(name="conf_fail")
def conf_fail(message: str) -> None:
    raise ConformanceError(message)


@step(name="conf_big")
def conf_big(n: int) -> str:
    return "x" * n


@step(name="conf_mark")
def conf_mark(label: str, seconds: float) -> dict[str, Any]:
    path = _marks() / label
    first = not path.exists()
    with path.open("a") as f:
        f.write(f"{os.getpid()}\n")
    if first:
        time.sleep(seconds)
    return {"label": label, "pid": os.getpid()}


@workflow(name="conf_wf_steps")
def conf_wf_steps(ctx: WorkflowContext, label: str) -> list[Any]:
    ctx.run_step(conf_mark, f"{label}-0", 0)
    second = ctx.run_step(conf_mark, f"{label}-1", 30)
    return [label, second["pid"]]


@workflow(name="conf_wf_nondet")
def conf_wf_nondet(ctx: WorkflowContext, label: str) -> str:
    seen = _marks() / f"{label}.seen"
    if not seen.exists():
        seen.touch()
        ctx.run_step(conf_echo, label)
        ctx.run_step(conf_mark, label, 30)
    else:  # deliberately different on replay
        ctx.run_step(conf_bytes, 1)
    return "unreachable"


@workflow(name="conf_wf_select")
def conf_wf_select(ctx: WorkflowContext, label: str) -> list[Any]:
    slow = ctx.go(conf_mark, label, 5)
    fast = ctx.go(conf_echo, "fast")
    index, value = ctx.select([slow, fast])
    return [index, value]


@workflow(name="conf_wf_park")
def conf_wf_park(ctx: WorkflowContext, topic: str) -> Any:
    message = ctx.recv(topic, timeout=60)
    ctx.sleep(1.5)
    return message
