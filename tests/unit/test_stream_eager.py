"""A request on the worker stream is served at once, up to its first wait
(WorkerStream._start): no task when it never waits, a task from its first
wait when it does, and that task behaves as if it had run the whole call."""

from __future__ import annotations

import asyncio

import pytest

from coordinator.api.stream import WorkerStream


def _stream() -> WorkerStream:
    return WorkerStream(engine=None, coordinator_id="c", heartbeat_interval=1.0,  # type: ignore[arg-type]
                        worker_timeout=5.0, calls={})


def test_a_call_that_never_waits_is_served_whole_without_a_task() -> None:
    async def main() -> None:
        stream, done = _stream(), []

        async def call() -> None:
            done.append("served")

        stream._start(call())
        assert done == ["served"] and not stream._tasks  # before any turn of the loop

    asyncio.run(main())


def test_a_call_that_waits_goes_on_in_a_task_with_what_it_waited_for() -> None:
    async def main() -> None:
        stream, seen = _stream(), []
        commit: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def call() -> None:
            seen.append("before")
            seen.append(await commit)
            await asyncio.sleep(0)  # and waits again, on something else
            seen.append("after")

        stream._start(call())
        assert seen == ["before"] and len(stream._tasks) == 1
        commit.set_result(7)
        await asyncio.wait_for(asyncio.gather(*stream._tasks), 5)
        assert seen == ["before", 7, "after"] and not stream._tasks

    asyncio.run(main())


def test_an_error_of_what_it_waited_for_reaches_the_call() -> None:
    async def main() -> None:
        stream, seen = _stream(), []
        commit: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def call() -> None:
            try:
                await commit
            except LookupError as e:
                seen.append(str(e))

        stream._start(call())
        commit.set_exception(LookupError("store gone"))
        await asyncio.wait_for(asyncio.gather(*stream._tasks), 5)
        assert seen == ["store gone"]

    asyncio.run(main())


@pytest.mark.parametrize("turns", [0, 1], ids=["before-its-first-step", "after"])
def test_cancelling_the_task_cancels_the_call_where_it_waits(turns: int) -> None:
    async def main() -> None:
        stream, seen = _stream(), []
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def call() -> None:
            try:
                await never
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise

        stream._start(call())
        [task] = stream._tasks
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        assert seen == ["cancelled"] and never.cancelled()

    asyncio.run(main())
