"""The Store contract on operating verbs: resume, fork, retention, paged
listing and schedules, on memory, SQLite and PostgreSQL."""

from __future__ import annotations

from coordinator.core.records import NewTask, ScheduleRecord, Tick
from coordinator.store import (
    Failure,
    NewWorkflow,
    Outcome,
    RecordResult,
    Store,
    Value,
    WorkflowStatus,
)

from .support import claimed, msg, ok, run, set_event, step, wf


def err(message: str = "boom") -> Outcome:
    return Outcome(error=Failure("ValueError", message))


def test_resume_drops_failed_steps_and_bumps_the_epoch(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "w", deadline_at=50_000)
        for n, outcome in [(0, ok()), (1, err("caught")), (2, ok()), (3, err()), (4, err())]:
            assert (await s.record_step(step("w", epoch, n, outcome)))[0] is RecordResult.RECORDED
        await s.wait_deadline("w", 5, 9000)
        await s.create_task(NewTask("w", 6, "s6", Value("json", b"1"), epoch, 1600, "node-a", 10_000))
        await s.finish_workflow("w", epoch, WorkflowStatus.ERROR, err(), 3000)

        wf_, resumed = await s.resume_workflow("w", 4000)
        assert resumed and wf_ is not None
        assert (wf_.status, wf_.outcome, wf_.owner, wf_.deadline_at) == (
            WorkflowStatus.PENDING, None, None, None)
        assert wf_.epoch == epoch + 1 and wf_.updated_at == 4000
        # Steps up to the last successful one stay (a caught error too); later ones go.
        assert [x.step_number for x in await s.list_steps("w")] == [0, 1, 2]
        assert await s.wait_deadline("w", 5, 12_000) == 12_000  # its wait was forgotten
        task = await s.get_task("w", 6)
        assert task is not None and task.owner is None  # released: a new claim fences attempt 1
        # The old execution is fenced off; the workflow is claimable again.
        assert (await s.record_step(step("w", epoch, 3)))[0] is RecordResult.STALE
        got = await s.claim_workflows("node-b", ["wf"], 5, now=4100, lease_until=20_000)
        assert [w.workflow_id for w in got] == ["w"] and got[0].epoch == epoch + 2

        # Only CANCELLED or ERROR resume; unknown is None.
        again, resumed = await s.resume_workflow("w", 4200)
        assert not resumed and again is not None and again.status is WorkflowStatus.PENDING
        assert await s.resume_workflow("nope", 4200) == (None, False)
        await s.finish_workflow("w", None, WorkflowStatus.SUCCESS, ok(), 4300)
        assert (await s.resume_workflow("w", 4400))[1] is False

    run(any_store_url, body)


def test_fork_copies_steps_before_the_start_and_their_events(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        epoch = await claimed(s, "src", data=b'{"args": [7]}')
        await s.record_step(step("src", epoch, 0, ok(b"10")))
        await set_event(s, "src", epoch, 1, "k", b'"one"')
        await s.record_step(step("src", epoch, 2, ok(b"30")))
        await set_event(s, "src", epoch, 3, "k", b'"three"')
        await s.finish_workflow("src", epoch, WorkflowStatus.SUCCESS, ok(), 5000)

        fork, created = await s.fork_workflow("src", 2, "fork", 6000)
        assert created and fork is not None
        assert (fork.name, fork.input, fork.status, fork.forked_from) == (
            "wf", Value("json", b'{"args": [7]}'), WorkflowStatus.PENDING, "src")
        assert (fork.epoch, fork.created_at, fork.owner) == (0, 6000, None)
        steps = await s.list_steps("fork")
        assert [(x.step_number, x.outcome) for x in steps] == [(0, ok(b"10")), (1, ok(b'"one"'))]
        assert fork.step_seq == max(x.completion_seq for x in steps)
        assert [(e.key, e.value.data) for e in await s.list_events("fork", 0, 10)] == [("k", b'"one"')]
        assert (await s.get_workflow("src")).status is WorkflowStatus.SUCCESS  # type: ignore[union-attr]
        assert len(await s.list_steps("src")) == 4
        # Steps record on after the copies; the fork is claimable.
        got = await s.claim_workflows("n", ["wf"], 5, now=6100, lease_until=20_000)
        assert [w.workflow_id for w in got] == ["fork"]
        r, rec = await s.record_step(step("fork", got[0].epoch, 2, ok(b"31")))
        assert r is RecordResult.RECORDED and rec is not None and rec.completion_seq == fork.step_seq + 1

        again, created = await s.fork_workflow("src", 0, "fork", 7000)
        assert not created and again is not None and again.workflow_id == "fork"
        assert await s.fork_workflow("nope", 0, "other", 7000) == (None, False)
        restart, created = await s.fork_workflow("src", 0, "restart", 7000)
        assert created and await s.list_steps("restart") == []

    run(any_store_url, body)


def test_collect_deletes_only_old_finished_workflows_with_their_rows(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        for wid in ("old-ok", "old-bad", "new-ok", "running", "parked"):
            epoch = await claimed(s, wid)
            await s.record_step(step(wid, epoch, 0))
            await set_event(s, wid, epoch, 1, "k", b"1")
            await s.send_message(msg(wid, key=f"key-{wid}"))
            await s.wait_deadline(wid, 2, 99_000)
            await s.create_task(NewTask(wid, 3, "t", Value("json", b"1"), epoch, 1600))
            if wid.startswith("old"):
                status = WorkflowStatus.SUCCESS if wid == "old-ok" else WorkflowStatus.ERROR
                await s.finish_workflow(wid, epoch, status, ok() if wid == "old-ok" else err(), 2000)
            elif wid == "new-ok":
                await s.finish_workflow(wid, epoch, WorkflowStatus.SUCCESS, ok(), 9000)
            elif wid == "parked":
                from coordinator.store import Wait, WaitKind
                assert await s.park(wid, epoch, 99_000, Wait(WaitKind.SLEEP), 1700)

        assert await s.collect_workflows(5000, 100, dry_run=True) == 2
        assert await s.collect_workflows(5000, 1) == 1  # small batches
        assert await s.collect_workflows(5000, 100) == 1
        assert await s.collect_workflows(5000, 100) == 0
        for wid in ("old-ok", "old-bad"):
            assert await s.get_workflow(wid) is None
            assert await s.list_steps(wid) == [] and await s.list_events(wid, 0, 10) == []
            assert await s.get_task(wid, 3) is None
            # Its messages and idempotency keys went too: the ID is new again.
            await s.create_workflow(wf(wid))
            assert await s.send_message(msg(wid, key=f"key-{wid}")) is RecordResult.RECORDED
            assert await s.wait_deadline(wid, 2, 123) == 123
        for wid in ("new-ok", "running", "parked"):
            assert await s.get_workflow(wid) is not None
            assert len(await s.list_steps(wid)) == 2 and await s.get_task(wid, 3) is not None

    run(any_store_url, body)


def test_list_pages_with_a_cursor_and_time_filters(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        for i in range(7):  # two share each created_at: ties order by ID, descending
            await s.create_workflow(wf(f"w{i}", name="even" if i % 2 == 0 else "odd", created_at=i // 2))
        ids = [w.workflow_id for w in await s.list_workflows(None, None, 100)]
        assert ids == ["w6", "w5", "w4", "w3", "w2", "w1", "w0"]
        seen: list[str] = []
        after = None
        while True:
            page = await s.list_workflows(None, None, 3, after=after)
            seen += [w.workflow_id for w in page]
            if len(page) < 3:
                break
            after = (page[-1].created_at, page[-1].workflow_id)
        assert seen == ids
        listed = await s.list_workflows(None, None, 100, created_after=1, created_before=3)
        assert [w.workflow_id for w in listed] == ["w5", "w4", "w3", "w2"]
        listed = await s.list_workflows(None, "even", 100, created_after=1, after=(2, "w5"))
        assert [w.workflow_id for w in listed] == ["w4", "w2"]

    run(any_store_url, body)


def _schedule(name: str, next_tick_at: int, **kw: object) -> ScheduleRecord:
    fields: dict[str, object] = dict(
        name=name, workflow_name="wf", cron="* * * * * *", timezone="UTC",
        input=Value("json", b'{"args": [], "kwargs": {}}'), paused=False, next_tick_at=next_tick_at,
        created_at=100, updated_at=100)
    fields.update(kw)
    return ScheduleRecord(**fields)  # type: ignore[arg-type]


def test_schedules_fire_each_tick_once(any_store_url: str) -> None:
    async def body(s: Store) -> None:
        await s.put_schedule(_schedule("a", 1000))
        await s.put_schedule(_schedule("b", 5000))
        replaced = await s.put_schedule(_schedule("a", 1000, cron="*/2 * * * * *", created_at=900))
        assert replaced.created_at == 100 and replaced.cron == "*/2 * * * * *"
        assert [x.name for x in await s.list_schedules()] == ["a", "b"]

        def plan(x: ScheduleRecord) -> Tick:
            tick = x.next_tick_at
            return Tick(NewWorkflow(f"sched-{x.name}-{tick}", x.workflow_name, x.input, tick, None),
                        tick, tick + 1000)

        made = await s.fire_schedules(1500, 10, plan)
        assert [w.workflow_id for w in made] == ["sched-a-1000"]
        assert await s.fire_schedules(1500, 10, plan) == []  # not due again yet
        a = await s.get_schedule("a")
        assert a is not None and (a.next_tick_at, a.last_tick_at) == (2000, 1000)
        # A tick whose workflow exists (a retry) starts nothing new, and moves on.
        await s.create_workflow(wf("sched-a-2000"))
        assert await s.fire_schedules(2000, 10, plan) == []
        assert (await s.get_schedule("a")).next_tick_at == 3000  # type: ignore[union-attr]

        paused = await s.pause_schedule("a", True, 0, 2500)
        assert paused is not None and paused.paused
        assert await s.fire_schedules(9000, 10, plan) != []  # only b
        assert (await s.get_schedule("a")).next_tick_at == 3000  # type: ignore[union-attr]
        resumed = await s.pause_schedule("a", False, 10_000, 9500)
        assert resumed is not None and not resumed.paused and resumed.next_tick_at == 10_000
        assert await s.pause_schedule("nope", True, 0, 1) is None
        assert await s.delete_schedule("b") and not await s.delete_schedule("b")
        assert [x.name for x in await s.list_schedules()] == ["a"]

    run(any_store_url, body)
