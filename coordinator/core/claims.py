"""The dispatch loop's claims: workflows and step tasks taken from the store
for the workers with free slots, a batch per worker at a time.

A claim holds the slots it asks for until the store answers
(`Dispatcher.hold`): a start served meanwhile cannot take them too, which
handed a worker more than its slots (47 executions for 32 in a soak). Such a
start waits for the holds to end (`Dispatcher.unheld`, the queues' dequeues
hold too) rather than go to the store unclaimed: the claim may find less.
Run-out leases (a coordinator gone or cut off) are looked for once per poll
interval, not at every claim: on PostgreSQL the index they are read from
holds a dead entry of every workflow run until VACUUM
(store/postgres/claim_floor.py).
"""

from __future__ import annotations

from .context import Context
from .queues import Queues
from .waits import with_histories

# Workflows (step tasks) claimed for one worker in one pass of the dispatch loop.
CLAIM_BATCH = 16


class Claims:
    def __init__(self, ctx: Context, queues: Queues) -> None:
        self.ctx = ctx
        self.dispatch = ctx.dispatch
        self._queues = queues
        self._leases_looked = float("-inf")  # when a claim last looked for run-out leases

    async def workflows(self) -> None:
        """Claim workflows from the store for every worker with free slots."""
        work = self.ctx.work
        if not self.dispatch.accepting or not work.backlog:
            return
        generation, exhausted, full = work.generation, True, False
        for session in list(self.dispatch.workers.values()):
            if not session.workflows:
                continue
            # A batch at a time: their inputs wait in memory until the stream
            # takes them, and a congested stream has no free slots.
            held = self.dispatch.hold(session, CLAIM_BATCH)
            if held is None:
                exhausted = False  # could not look for it: work may still wait
                continue
            free = held.count
            # Run-out leases are rare: looked for once per poll interval.
            leases = self.ctx.clock.monotonic() - self._leases_looked >= self.ctx.config.poll_interval
            try:
                # Timed as a store write: slow claims are what a backlog waits on.
                with self.ctx.observer.commit("claim_workflows"):
                    claimed = await self.ctx.store.claim_workflows(
                        self.ctx.config.node_id, sorted(session.workflows), free, self.ctx.clock.now_ms(),
                        self.ctx.lease_until(), leases,
                    )
                if leases:
                    self._leases_looked = self.ctx.clock.monotonic()
                exhausted = exhausted and len(claimed) < free
                # Queued ones count towards their queue's limit on this worker
                # (those over it are released: not claimed again at once).
                claimed = await self._queues.admit(session, claimed)
                full = full or len(claimed) == free
                claimed = await with_histories(self.ctx.store, claimed)
            finally:
                self.dispatch.release(held)
            for wf in claimed:
                if not self.dispatch.is_live(session):
                    # It left while we claimed: give the workflow back.
                    await self.ctx.store.release_workflows(self.ctx.config.node_id, [wf.workflow_id])
                    continue
                self.ctx.unclaimed.discard(wf.workflow_id)
                self.dispatch.assign(session, wf)
        if exhausted and generation == work.generation:
            work.backlog = work.starved = False  # every worker with room found nothing more
            work.unsure = False
        if full:
            work.slot_freed()  # a full batch: look for the next one at once
            # More may wait for a slot, which held waits give theirs back to,
            # or this claim took what was wanted (a start that found no
            # slot): asked of the store, and only if a wait holds a slot or
            # is about to. (Taken as wanted after such claims, a recv held on
            # a one-slot worker parked for nothing.)
            work.starved, work.unsure = False, True
            if work.holding:
                await self.ctx.slot_is_wanted()

    async def tasks(self) -> None:
        """Claim step tasks from the store for every worker with free step slots."""
        work = self.ctx.work
        if not work.task_backlog:
            return
        generation, exhausted = work.task_generation, True
        for session in self.dispatch.step_workers():
            held = self.dispatch.hold(session, CLAIM_BATCH, step=True)
            if held is None:
                exhausted = False  # could not look for it: work may still wait
                continue
            free = held.count
            try:
                with self.ctx.observer.commit("claim_tasks"):
                    claimed = await self.ctx.store.claim_tasks(
                        self.ctx.config.node_id, sorted(session.steps), free, self.ctx.clock.now_ms(),
                        self.ctx.lease_until())
            finally:
                self.dispatch.release(held)
            exhausted = exhausted and len(claimed) < free
            if not self.dispatch.is_live(session):
                await self.ctx.store.release_tasks(self.ctx.config.node_id, [t.key for t in claimed])
                continue
            for task in claimed:
                self.dispatch.assign_task(session, task)
        if exhausted and generation == work.task_generation:
            work.task_backlog = False
