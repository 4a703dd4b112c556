"""Events, messages, durable sleep and parking: the operations that wait.

A wait is held in the coordinator for a short while (`hold`); past that the
execution parks (gives its worker slot back) and is claimed again when what
it waits for arrives or its deadline passes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable

from .context import Context
from .dispatch import Reservation
from .errors import FailedPrecondition, NotFound
from .executions import Executions
from .ports import Store
from .records import (
    NULL,
    EventRecord,
    Failure,
    NewMessage,
    NewStep,
    Outcome,
    RecordResult,
    Recv,
    Send,
    StepKind,
    StepRecord,
    Value,
    Wait,
    WaitKind,
    WorkflowRecord,
)
from .tokens import stamp
from .waiters import Waiters

Attempt = Callable[[bool], Awaitable[StepRecord | None]]

# A history this short (in steps) is read with the claim, one read for the
# batch, and handed out with the assignment: a woken workflow's worker need
# not ask for it before replaying.
SHORT_HISTORY = 64


async def with_histories(store: Store, claimed: list[WorkflowRecord]) -> list[WorkflowRecord]:
    """The claimed workflows, those with a short history carrying it."""
    short = [wf.workflow_id for wf in claimed if 0 < wf.step_seq <= SHORT_HISTORY]
    if not short:
        return claimed
    found = await store.list_histories(short)
    return [dataclasses.replace(wf, history=tuple(found[wf.workflow_id])) if wf.workflow_id in found else wf
            for wf in claimed]


class Waits:
    def __init__(self, ctx: Context, executions: Executions) -> None:
        self.ctx = ctx
        self.executions = executions
        # Whether a select parked here takes the message over (selects.py):
        # it decides first, then makes the workflow claimable itself.
        self.select_takes: Callable[[str, tuple[str, int] | None], bool] = lambda workflow_id, arrived: False

    # -- from running workflows ---------------------------------------------

    async def set_event(self, workflow_id: str, epoch: int, step_number: int, key: str,
                        value: Value) -> StepRecord:
        now = self.ctx.clock.now_ms()
        record, event, woken = await self.executions.set_event(NewStep(
            workflow_id, epoch, step_number, key, StepKind.SET_EVENT, Outcome(output=value),
            0, now, now,
        ), key)
        # Readers of this key woken with the committed event answer with it.
        self.ctx.wakeups.events.wake(workflow_id, event)
        if woken:  # a workflow parked in get_event (or a select on it) is claimable now
            self.ctx.work.more()
        return record

    async def send_from_workflow(self, workflow_id: str, epoch: int, step_number: int,
                                 destination: str, topic: str, message: Value) -> StepRecord:
        now = self.ctx.clock.now_ms()
        step = NewStep(workflow_id, epoch, step_number, topic, StepKind.SEND, Outcome(output=NULL),
                       0, now, now)
        # The step's identity is the idempotency key: a retried send delivers once.
        delivery = NewMessage(destination, topic, message, f"step:{workflow_id}:{step_number}", now)
        try:
            record = await self.executions.record_step(step, Send(delivery))
        except NotFound:
            # Recorded as the step's error, so a replay fails the same way.
            failed = dataclasses.replace(step, outcome=Outcome(error=Failure(
                "WorkflowNotFound", f"cannot send to {destination!r}: no such workflow")))
            return await self.executions.record_step(failed)
        self._message_arrived(destination)
        return record

    async def read_event(self, workflow_id: str, epoch: int, step_number: int, target: str,
                         key: str, timeout_ms: int, hold_ms: int, park: bool = False) -> StepRecord | int:
        async def attempt(timed_out: bool) -> StepRecord | None:
            event = await self.ctx.store.get_event(target, key)
            if event is None and not timed_out:
                return None
            now = self.ctx.clock.now_ms()
            return await self.executions.record_step(NewStep(
                workflow_id, epoch, step_number, f"{target}/{key}", StepKind.GET_EVENT,
                Outcome(output=event.value if event is not None else NULL), 0, now, now))

        result = await self._wait_for(workflow_id, epoch, step_number, timeout_ms, hold_ms,
                                      self.ctx.wakeups.events, target, attempt)
        if park and isinstance(result, int):
            await self.park(workflow_id, epoch, result, Wait(WaitKind.EVENT, target=target, key=key))
        return result

    async def receive(self, workflow_id: str, epoch: int, step_number: int, topic: str,
                      timeout_ms: int, hold_ms: int, park: bool = False) -> StepRecord | int:
        """The recorded recv, or the deadline once `hold_ms` passed; parked
        then (in the same call, saving the worker its Park) if `park`."""
        async def attempt(timed_out: bool) -> StepRecord | None:
            now = self.ctx.clock.now_ms()
            execution = self.ctx.dispatch.execution(workflow_id)
            step = NewStep(workflow_id, epoch, step_number, topic, StepKind.RECV, Outcome(output=NULL),
                           0, now, now, worker_id=execution.session.worker_id if execution else "")
            result, record = await self.ctx.store.record_step(stamp(step), Recv(topic))
            if result is RecordResult.EMPTY:
                return await self.executions.record_step(step) if timed_out else None
            if result is RecordResult.STALE:
                raise await self.ctx.stale(workflow_id, epoch)
            return record

        result = await self._wait_for(workflow_id, epoch, step_number, timeout_ms, hold_ms,
                                      self.ctx.wakeups.messages, workflow_id, attempt)
        if park and isinstance(result, int):
            await self.park(workflow_id, epoch, result, Wait(WaitKind.RECV, topic=topic))
        return result

    async def sleep(self, workflow_id: str, epoch: int, step_number: int,
                    duration_ms: int) -> StepRecord:
        now = self.ctx.clock.now_ms()
        wake_at = json.dumps(now + duration_ms).encode()
        return await self.executions.record_step(NewStep(
            workflow_id, epoch, step_number, "sleep", StepKind.SLEEP,
            Outcome(output=Value("json", wake_at)), 0, now, now))

    async def park(self, workflow_id: str, epoch: int, resume_at: int, wait: Wait) -> None:
        ctx = self.ctx
        ctx.check_running_here(workflow_id, epoch)
        if not await ctx.store.park(workflow_id, epoch, resume_at, wait, ctx.clock.now_ms()):
            raise await ctx.stale(workflow_id, epoch)
        ctx.drop(workflow_id)
        delay = max(0.0, (resume_at - ctx.clock.now_ms()) / 1000)
        asyncio.get_running_loop().call_later(delay, ctx.work.more)
        ctx.work.slot_freed()

    async def _wait_for(
        self, workflow_id: str, epoch: int, step_number: int, timeout_ms: int, hold_ms: int,
        waiters: Waiters, watched: str, attempt: Attempt,
    ) -> StepRecord | int:
        """Shared loop of recv and read_event: `attempt(timed_out)` records the
        step if it can; else wait for a wake-up of `watched`. Returns the
        record, or the deadline (ms) if `hold_ms` passed first."""
        ctx = self.ctx
        ctx.check_running_here(workflow_id, epoch)
        record = await attempt(False)
        if record is not None:
            return record
        deadline = await ctx.store.wait_deadline(workflow_id, step_number, ctx.clock.now_ms() + timeout_ms)
        if (hold_ms <= 0 or await ctx.slot_is_wanted()) and ctx.clock.now_ms() < deadline:
            # The caller parks at once (asked to, or its slot is wanted); what
            # arrives from now on wakes it (park checks for it), so no second
            # look is needed.
            return deadline
        hold_end = ctx.clock.monotonic() + hold_ms / 1000
        while True:
            with waiters.waiting(watched) as woken, ctx.work.slot_wanted() as wanted:
                record = await attempt(ctx.clock.now_ms() >= deadline)
                if record is not None:
                    return record
                left = min((deadline - ctx.clock.now_ms()) / 1000, hold_end - ctx.clock.monotonic())
                if left <= 0:
                    return deadline
                await asyncio.wait([woken, wanted], timeout=min(left, ctx.config.poll_interval),
                                   return_when=asyncio.FIRST_COMPLETED)
                if wanted.done() and ctx.clock.now_ms() < deadline:
                    return deadline  # a workflow waits for a slot: give this one back
            ctx.check_running_here(workflow_id, epoch)

    # -- from clients ---------------------------------------------------------

    async def send(self, destination: str, topic: str, message: Value,
                   idempotency_key: str | None) -> bool:
        # Client keys get their own namespace: they can never collide with the
        # keys of sends from workflow steps ("step:...").
        key = f"client:{idempotency_key}" if idempotency_key else None
        delivery = NewMessage(destination, topic, message, key, self.ctx.clock.now_ms())
        # With a free slot, the commit that delivers may also claim the
        # workflow it wakes (parked in a recv) and hand it to that slot.
        reservation = self.ctx.dispatch.reserve(None)
        if reservation is not None:
            result = await self._send_and_hand_out(destination, delivery, reservation)
        else:
            result = await self.ctx.store.send_message(delivery)
            self._delivered(delivery, result)
        if result is RecordResult.NOT_FOUND:
            raise NotFound(f"cannot send to {destination!r}: no such workflow")
        if result is RecordResult.STALE:
            # A final workflow never reads its messages: the store said so
            # rather than deliver. (A send that races the end is stored, and
            # never read.)
            wf = await self.ctx.workflow(destination)
            raise FailedPrecondition(
                f"cannot send to {destination!r}: the workflow is already {wf.status.value}")
        return result is RecordResult.RECORDED

    async def _send_and_hand_out(self, workflow_id: str, delivery: NewMessage,
                                 reservation: Reservation) -> RecordResult:
        """Send to a workflow that may be parked in a recv, holding a free slot
        for it: if the message wakes it (and the slot's worker serves it), the
        commit that delivers also claims it, and it goes to that slot with its
        history, skipping the dispatch loop's claim."""
        ctx = self.ctx
        try:
            result, claimed = await ctx.store.send_and_claim(
                delivery, ctx.config.node_id, ctx.lease_until(), reservation.session.workflows)
            if claimed is not None:
                [claimed] = await with_histories(ctx.store, [claimed])
        finally:
            ctx.dispatch.release(reservation)
        if claimed is None:
            self._delivered(delivery, result)
        elif ctx.dispatch.is_live(reservation.session):
            ctx.wakeups.messages.wake(workflow_id)
            ctx.dispatch.assign(reservation.session, claimed)
        else:  # the worker left meanwhile: let any coordinator claim it
            await ctx.store.release_workflows(ctx.config.node_id, [workflow_id])
            ctx.work.more()
        return result

    def _delivered(self, delivery: NewMessage, result: RecordResult) -> None:
        """After a client's send: a message new (RECORDED) or already there
        (DUPLICATE) has arrived; only a new one is passed on as itself."""
        if result is RecordResult.RECORDED:
            self._message_arrived(delivery.workflow_id, delivery)
        elif result is RecordResult.DUPLICATE:
            self._message_arrived(delivery.workflow_id)

    def _message_arrived(self, workflow_id: str, new: NewMessage | None = None) -> None:
        """A message to `workflow_id` was committed; `new`: it, if this commit
        delivered it for the first time (not a repeat of a delivered one)."""
        self.ctx.wakeups.messages.wake(workflow_id)
        arrived = None if new is None else (new.topic, new.created_at)
        if not self.select_takes(workflow_id, arrived):
            self.ctx.work.more()  # it may have been parked waiting for it

    async def get_event(self, workflow_id: str, key: str, timeout: float) -> EventRecord | None:
        clock = self.ctx.clock
        deadline = clock.monotonic() + timeout
        while True:
            with self.ctx.wakeups.events.waiting(workflow_id) as woken:
                event = await self.ctx.store.get_event(workflow_id, key)
                left = deadline - clock.monotonic()
                if event is not None or left <= 0:
                    return event
                await asyncio.wait([woken], timeout=min(left, self.ctx.config.poll_interval))
                if woken.done() and isinstance(set_now := woken.result(), EventRecord) \
                        and set_now.key == key:
                    return set_now  # committed here just now: the latest value

    async def watch_events(self, workflow_id: str, after_seq: int) -> AsyncIterator[EventRecord]:
        await self.ctx.workflow(workflow_id)
        woke: object = None
        while True:
            if isinstance(woke, EventRecord) and woke.seq == after_seq + 1:
                # Woken with the next event, committed here: on at once; the
                # reads below catch whatever was committed since.
                yield woke
                after_seq = woke.seq
            with self.ctx.wakeups.events.waiting(workflow_id) as woken:
                # Read the status first: events committed before it ended are
                # then all in the list read next.
                final = (await self.ctx.workflow(workflow_id)).status.final
                events = await self.ctx.store.list_events(workflow_id, after_seq, 1000)
                for event in events:
                    yield event
                    after_seq = event.seq
                if len(events) == 1000:
                    continue
                if final:
                    return
                await asyncio.wait([woken], timeout=self.ctx.config.poll_interval)
                woke = woken.result() if woken.done() else None
