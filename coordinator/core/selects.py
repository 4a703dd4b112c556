"""Select over anything: decide which of a workflow's futures completed first,
record the decision, and wait (held, then parked) until one has.

A future is a step number of the workflow. Its record says what it is: none
yet (a step started with `go`, complete when recorded), STEP_KIND_SLEEP (at
its wake-up time), START_WORKFLOW (when the child is final), GO_RECV (when a
message is on its topic), GO_EVENT (when the key is set), any other record
(complete when recorded). Each complete future has a completion point; the
earliest wins, and the SELECT step records it, with the winner's value when
it is not a step's (a go_recv's message is consumed in the same commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from .context import Context
from .errors import FailedPrecondition, StoreUnavailable
from .executions import Executions
from .records import (
    NULL,
    Failure,
    NewStep,
    Outcome,
    RecordResult,
    Recv,
    StepKind,
    StepRecord,
    Value,
    WorkflowRecord,
    done_wait_key,
    event_wait_key,
    message_wait_key,
)
from .tokens import stamp

log = logging.getLogger(__name__)

# resume_at of a select with no timer among its futures: 9999-12-31, the
# largest time a protobuf Timestamp holds.
FOREVER_MS = 253_402_300_799_000

# Kinds whose completion is their own record (steps and plain operations).
_FUTURE_KINDS = {StepKind.SLEEP, StepKind.START_WORKFLOW, StepKind.GO_RECV, StepKind.GO_EVENT}


@dataclass
class Candidate:
    """One future of a select, as the store shows it now."""

    index: int
    step_number: int
    record: StepRecord | None
    point: int | None = None  # when it completed (ms); None while it has not
    value: Outcome | None = None  # the value a SELECT records for a non-step winner
    consume: str | None = None  # a go_recv's topic: the winner consumes a message
    wake_at: int | None = None  # a sleep's wake-up time
    child: str | None = None  # a child's ID
    event: tuple[str, str] | None = None  # a go_event's (workflow, key)

    @property
    def plain(self) -> bool:
        """A step (or other operation) whose record is its completion."""
        return self.record is None or self.record.kind not in _FUTURE_KINDS

    @property
    def wait_key(self) -> str | None:
        if self.consume is not None:
            return message_wait_key(self.consume)
        if self.event is not None:
            return event_wait_key(*self.event)
        if self.child is not None:
            return done_wait_key(self.child)
        return None


@dataclass(frozen=True)
class Parked:
    """A select this coordinator parked: its workflow's epoch while parked, and the select."""

    epoch: int
    step_number: int
    candidates: list[int]
    taken: list[int]
    records: dict[int, StepRecord]  # the candidates' records: they never change


class Selects:
    def __init__(self, ctx: Context, executions: Executions) -> None:
        self.ctx = ctx
        self.executions = executions
        # Selects parked here, so a message arriving through this coordinator
        # decides them at once (decide_parked), without waiting for a worker
        # to replay to them. Only a shortcut: the replay decides otherwise.
        self.parked: dict[str, Parked] = {}
        self._deciding: set[asyncio.Task[None]] = set()

    @property
    def deciding(self) -> bool:
        """Whether a parked select is being decided (see message_arrived)."""
        return bool(self._deciding)

    async def select(self, workflow_id: str, epoch: int, step_number: int, candidates: list[int],
                     taken: list[int], hold_ms: int | None) -> StepRecord | int:
        """The recorded decision; or, if `hold_ms` passed first, the time the
        wait ends at the latest (its earliest timer, FOREVER_MS if none)."""
        ctx = self.ctx
        self.parked.pop(workflow_id, None)  # running again: no longer parked
        started = ctx.clock.now_ms()
        hold_end = None if hold_ms is None else ctx.clock.monotonic() + hold_ms / 1000
        futures: list[Candidate] = []  # as last seen: what to watch
        while True:
            execution = ctx.dispatch.execution(workflow_id)
            if execution is None or execution.epoch != epoch:
                raise await ctx.stale(workflow_id, epoch)
            with contextlib.ExitStack() as stack:
                # Registered before looking: nothing committed meanwhile is missed.
                woken = [stack.enter_context(ctx.wakeups.steps.waiting(workflow_id)),
                         *self._watch(stack, workflow_id, futures)]
                watched = len(woken)
                decided, futures = await self.look(workflow_id, candidates, taken, step_number)
                if decided is not None:
                    # A replay, a retried call, or decided meanwhile (the winner
                    # may have been consumed by it): the first decision.
                    return decided
                complete = [c for c in futures if c.point is not None]
                if complete:
                    record = await self._decide(workflow_id, epoch, step_number, complete, started,
                                                candidates)
                    if record is not None:
                        return record
                    continue  # its message went meanwhile: look again
                if 1 + _watch_count(futures) > watched:
                    continue  # first sight of what to watch: register it, then look again
                now = ctx.clock.now_ms()
                timer = min((c.wake_at for c in futures if c.wake_at is not None), default=FOREVER_MS)
                left = (timer - now) / 1000
                if hold_end is not None:
                    held = hold_end - ctx.clock.monotonic()
                    if held <= 0 or await ctx.slot_is_wanted():  # the slot is wanted: park
                        return timer
                    left = min(left, held)
                    woken.append(stack.enter_context(ctx.work.slot_wanted()))
                await asyncio.wait(woken, timeout=max(0.0, min(left, ctx.config.poll_interval)),
                                   return_when=asyncio.FIRST_COMPLETED)
                if hold_end is not None and ctx.work.starved:
                    return timer

    def _watch(self, stack: contextlib.ExitStack, workflow_id: str,
               futures: list[Candidate]) -> list[asyncio.Future[Any]]:
        """Wake-ups of what the futures wait for (the steps' are registered already)."""
        wakeups, woken = self.ctx.wakeups, []
        if any(c.consume is not None for c in futures):
            woken.append(stack.enter_context(wakeups.messages.waiting(workflow_id)))
        for c in futures:
            if c.event is not None:
                woken.append(stack.enter_context(wakeups.events.waiting(c.event[0])))
            if c.child is not None:
                woken.append(stack.enter_context(wakeups.finished.waiting(c.child)))
        return woken

    async def look(self, workflow_id: str, candidates: list[int], taken: list[int],
                   step_number: int | None = None, known: dict[int, StepRecord] | None = None,
                   arrived: tuple[str, int] | None = None,
                   ) -> tuple[StepRecord | None, list[Candidate]]:
        """The select's recorded decision (read with the candidates, if
        `step_number` is given), and each future as it is now: complete (with
        its point) or not. `known`: the candidates' records, if read before.
        `arrived`: (topic, created_at) of a message just committed to the
        workflow: a go_recv on its topic is complete without a read, its
        point that message's time (later than the topic's oldest, if another
        came first: exact only for a go_recv that completes alone)."""
        store, now = self.ctx.store, self.ctx.clock.now_ms()
        asked = candidates if step_number is None else [*candidates, step_number]
        records = known if known is not None and step_number is None else {
            s.step_number: s for s in await store.get_steps(workflow_id, asked)}
        decided = records.get(step_number) if step_number is not None else None
        futures = []
        for index, n in enumerate(candidates):
            c = Candidate(index, n, records.get(n))
            r = c.record
            if r is None:
                pass  # a step still running
            elif r.kind is StepKind.SLEEP:
                c.wake_at = int(json.loads(_output(r).data))
                c.value = Outcome(output=NULL)
                if now >= c.wake_at:
                    c.point = c.wake_at
            elif r.kind is StepKind.START_WORKFLOW:
                c.child = str(json.loads(_output(r).data)["workflow_id"])
                child = await store.get_workflow(c.child)
                if child is not None and child.status.final:
                    c.point, c.value = child.updated_at, _child_outcome(child)
            elif r.kind is StepKind.GO_RECV:
                c.consume = r.name
                if n in taken:
                    c.point, c.consume = r.completed_at, None
                else:
                    sent_at = arrived[1] if arrived is not None and arrived[0] == r.name \
                        else await store.oldest_message_at(workflow_id, r.name)
                    if sent_at is not None:
                        c.point = max(r.completed_at, sent_at)
            elif r.kind is StepKind.GO_EVENT:
                spec = json.loads(_output(r).data)
                c.event = (str(spec["workflow_id"]), str(spec["key"]))
                event = await store.get_event(*c.event)
                if event is not None:
                    c.point, c.value = max(r.completed_at, event.created_at), Outcome(output=event.value)
            else:
                c.point = r.completed_at
            futures.append(c)
        return decided, futures

    async def _decide(self, workflow_id: str, epoch: int, step_number: int,
                      complete: list[Candidate], started: int, candidates: list[int]) -> StepRecord | None:
        """Record the earliest of the complete futures; None if the winner was
        a go_recv whose message is gone (look again)."""
        if all(c.plain for c in complete):
            # Steps only: the order in which their outcomes were committed.
            winner = min(complete, key=lambda c: (c.record.completion_seq if c.record else 0, c.index))
        else:
            winner = min(complete, key=lambda c: (c.point, c.record.completion_seq if c.plain and c.record
                                                  else 0, c.index))
        now = self.ctx.clock.now_ms()
        # The candidates too, so whoever reads the history (the console) can show
        # what a select of steps chose between (other winners record their value).
        marker = {"index": winner.index, "step_number": winner.step_number, "candidates": candidates}
        outcome = winner.value or Outcome(output=Value("json", json.dumps(marker).encode()))
        step = NewStep(
            workflow_id=workflow_id, epoch=epoch, step_number=step_number, name="select",
            kind=StepKind.SELECT, outcome=outcome,
            attempt=0, started_at=started, completed_at=now, select_index=winner.index,
            select_step_number=winner.step_number,
        )
        if winner.consume is None:
            return await self.executions.record_step(step)
        result, record = await self.ctx.store.record_step(stamp(step), Recv(winner.consume))
        if result is RecordResult.STALE:
            raise await self.ctx.stale(workflow_id, epoch)
        if result is RecordResult.EMPTY:
            return None
        if record is None:  # DUPLICATE: the first decision stands
            record = await self.ctx.store.get_step(workflow_id, step_number)
            assert record is not None
        self.ctx.wakeups.step_recorded(workflow_id, step_number, record)
        return record

    async def park(self, workflow_id: str, epoch: int, step_number: int, candidates: list[int],
                   taken: list[int]) -> None:
        """Park until the first of the futures completes (or its earliest timer)."""
        ctx = self.ctx
        ctx.check_running_here(workflow_id, epoch)
        _, futures = await self.look(workflow_id, candidates, taken)
        now = ctx.clock.now_ms()
        resume_at = min((c.wake_at for c in futures if c.wake_at is not None), default=FOREVER_MS)
        if any(c.record is None for c in futures):
            # A step still running wakes nothing here: look again soon.
            resume_at = min(resume_at, now + int(ctx.config.poll_interval * 1000))
        keys = [key for c in futures if (key := c.wait_key) is not None]
        if not await ctx.store.park_select(workflow_id, epoch, resume_at, keys, now):
            raise await ctx.stale(workflow_id, epoch)
        ctx.drop(workflow_id)
        if any(c.consume is not None for c in futures) and all(c.record for c in futures):
            records = {c.step_number: c.record for c in futures if c.record is not None}
            self.parked[workflow_id] = Parked(epoch + 1, step_number, candidates, taken, records)
        if resume_at < FOREVER_MS:
            delay = max(0.0, (resume_at - ctx.clock.now_ms()) / 1000)
            asyncio.get_running_loop().call_later(delay, ctx.work.more)
        ctx.work.slot_freed()
        # What completed before the park took its locks woke nothing: look now.
        decided, futures = await self.look(workflow_id, candidates, taken, step_number)
        if decided is not None or any(c.point is not None for c in futures):
            if await ctx.store.resume_parked(workflow_id, ctx.clock.now_ms()):
                ctx.work.more()


    def message_arrived(self, workflow_id: str, arrived: tuple[str, int] | None = None) -> bool:
        """A message for `workflow_id` was committed (`arrived`: its topic and
        time, if this coordinator delivered it just now): decide its parked
        select now, in the background (the sender does not wait for it), then
        make it claimable. False if no select of it is parked here."""
        parked = self.parked.pop(workflow_id, None)
        if parked is None:
            return False
        task = asyncio.create_task(self._decide_parked(workflow_id, parked, arrived))
        self._deciding.add(task)
        task.add_done_callback(self._deciding.discard)
        return True

    async def _decide_parked(self, workflow_id: str, parked: Parked,
                             arrived: tuple[str, int] | None) -> None:
        """Any execution would decide the same from the same records: so if
        the workflow was claimed meanwhile (its epoch moved on), the decision
        is recorded under the new epoch, and the new execution finds it."""
        store, epoch = self.ctx.store, parked.epoch
        try:
            # The message that arrived completes its go_recv without a read
            # (a round trip less between a send and its select's decision).
            _, futures = await self.look(workflow_id, parked.candidates, parked.taken,
                                         known=parked.records, arrived=arrived)
            complete = [c for c in futures if c.point is not None]
            if arrived is not None and len(complete) > 1:
                # Not alone: the order needs each topic's oldest message.
                _, futures = await self.look(workflow_id, parked.candidates, parked.taken,
                                             known=parked.records)
                complete = [c for c in futures if c.point is not None]
            if not complete:  # a message on another topic: keep waiting for ours
                self.parked.setdefault(workflow_id, parked)
                return
            for _ in range(3):
                try:
                    await self._decide(workflow_id, epoch, parked.step_number, complete,
                                       self.ctx.clock.now_ms(), parked.candidates)
                    return
                except FailedPrecondition:
                    wf = await store.get_workflow(workflow_id)
                    if wf is None or wf.status.final or wf.epoch == epoch:
                        return
                    epoch = wf.epoch  # claimed meanwhile: record it for that execution
        except (FailedPrecondition, StoreUnavailable) as e:
            log.info("the parked select of %s is left to its next execution: %s", workflow_id, e)
        finally:
            self.ctx.work.more()  # the message woke it: it may be claimed now


def _watch_count(futures: list[Candidate]) -> int:
    """How many wake-ups Selects._watch registers for these futures."""
    return (any(c.consume is not None for c in futures)
            + sum(c.event is not None for c in futures) + sum(c.child is not None for c in futures))


def _output(r: StepRecord) -> Value:
    assert r.outcome.output is not None, f"step {r.step_number} ({r.kind.value}) records a value"
    return r.outcome.output


def _child_outcome(child: WorkflowRecord) -> Outcome:
    if child.outcome is not None and (child.outcome.output is not None or child.outcome.error is not None):
        return child.outcome
    return Outcome(error=Failure("WorkflowCancelled", f"workflow {child.workflow_id} was cancelled"))


async def start_wait(executions: Executions, workflow_id: str, epoch: int, step_number: int,
                     topic: str | None, event: tuple[str, str] | None) -> StepRecord:
    """Record a go_recv (`topic`) or go_event (`event`) future: the time it came to exist."""
    now = executions.ctx.clock.now_ms()
    if topic is not None:
        kind, name, output = StepKind.GO_RECV, topic, NULL
    else:
        assert event is not None
        kind, name = StepKind.GO_EVENT, f"{event[0]}/{event[1]}"
        output = Value("json", json.dumps({"workflow_id": event[0], "key": event[1]}).encode())
    return await executions.record_step(NewStep(
        workflow_id, epoch, step_number, name, kind, Outcome(output=output), 0, now, now))
