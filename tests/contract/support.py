"""Helpers of the Store contract suite: open a store on a URL, make records."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from coordinator.store import (
    NewMessage,
    NewStep,
    NewWorkflow,
    Outcome,
    RecordResult,
    Recv,
    SetEvent,
    StepKind,
    StepRecord,
    Store,
    Value,
    store_from_url,
)

T = TypeVar("T")


def run(url: str, body: Callable[[Store], Awaitable[T]]) -> T:
    """Open a store on `url`, run `body(store)` in a new event loop, close it."""

    async def main() -> T:
        store = store_from_url(url)
        await store.open()
        try:
            return await body(store)
        finally:
            await store.close()

    return asyncio.run(main())


def wf(wid: str, name: str = "wf", created_at: int = 1000, deadline_at: int | None = None,
       data: bytes = b'{"x":1}') -> NewWorkflow:
    return NewWorkflow(wid, name, Value("json", data), created_at, deadline_at)


def ok(data: bytes = b"1") -> Outcome:
    return Outcome(output=Value("json", data))


def step(wid: str, epoch: int, number: int, outcome: Outcome | None = None, **kw: Any) -> NewStep:
    return NewStep(
        workflow_id=wid, epoch=epoch, step_number=number, name=kw.pop("name", f"s{number}"),
        kind=kw.pop("kind", StepKind.STEP), outcome=outcome or ok(), attempt=kw.pop("attempt", 1),
        started_at=kw.pop("started_at", 2000), completed_at=kw.pop("completed_at", 2001), **kw,
    )


async def claimed(s: Store, wid: str, owner: str = "node-a", **kw: Any) -> int:
    """Create `wid` and claim it; returns its epoch."""
    await s.create_workflow(wf(wid, **kw))
    got = await s.claim_workflows(owner, [kw.get("name", "wf")], 1, now=1500, lease_until=10_000)
    assert [w.workflow_id for w in got] == [wid]
    return got[0].epoch


def msg(wid: str, data: bytes = b"1", topic: str = "", key: str | None = None,
        created_at: int = 3000) -> NewMessage:
    return NewMessage(wid, topic, Value("json", data), key, created_at)


async def set_event(s: Store, wid: str, epoch: int, number: int, key: str, data: bytes,
                    completed_at: int = 2001) -> tuple[RecordResult, StepRecord | None]:
    return await s.record_step(
        step(wid, epoch, number, ok(data), kind=StepKind.SET_EVENT, name=key, completed_at=completed_at),
        SetEvent(key))


async def recv(s: Store, wid: str, epoch: int, number: int, topic: str = "",
               ) -> tuple[RecordResult, StepRecord | None]:
    # The outcome is a placeholder: the store records the message instead.
    return await s.record_step(
        step(wid, epoch, number, ok(b"null"), kind=StepKind.RECV, name=topic), Recv(topic))


def payload(rec: StepRecord | None) -> bytes:
    assert rec is not None and rec.outcome.output is not None
    return rec.outcome.output.data


async def claimable(s: Store, now: int, name: str = "wf") -> list[str]:
    """IDs claimable at `now` (claims them: they are released again)."""
    got = await s.claim_workflows("probe", [name], 100, now=now, lease_until=now + 1)
    await s.release_workflows("probe", None)
    return [w.workflow_id for w in got]


async def wait_note(notes: list[str], want: str, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while want not in notes:
        assert loop.time() < deadline, f"no {want!r} within {timeout}s, got {notes}"
        await asyncio.sleep(0.01)
