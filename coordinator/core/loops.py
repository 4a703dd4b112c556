"""The coordinator's background loops: each calls one of the engine's ticks
on its schedule and outlives store outages (logged, then tried again)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .errors import StoreUnavailable

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)


def start_loops(engine: Engine) -> list[asyncio.Task[None]]:
    config = engine.config
    loops: dict[str, Awaitable[None]] = {
        "dispatch": _dispatch_loop(engine),
        "leases": _every(config.lease_ttl / 3, engine.renew_leases, "lease renewal"),
        "liveness": _every(config.heartbeat_interval, engine.check_liveness, "liveness check"),
        "deadlines": _every(config.poll_interval, engine.expire_deadlines, "deadline check"),
        "step timeouts": _every(config.poll_interval, engine.expire_step_attempts, "step timeout check"),
        # Often enough that a node whose process is gone (its presence lock
        # free, on PostgreSQL) is taken over within half a second.
        "nodes": _every(min(config.node_timeout / 3, 0.5), engine.heartbeat_node, "coordinator heartbeat"),
        "clock": _every(10.0, engine.sync_clock, "clock sync"),
        "schedules": _every(min(config.poll_interval, 0.25), engine.fire_schedules, "schedules"),
    }
    if config.retention is not None:
        loops["retention"] = _every(60.0, engine.collect_garbage, "retention sweep")
    return [asyncio.create_task(loop, name=f"keel-{name}") for name, loop in loops.items()]  # type: ignore[arg-type]


async def _every(interval: float, tick: Callable[[], Awaitable[object]], what: str) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await tick()
        except StoreUnavailable as e:
            log.warning("%s failed: %s", what, e)
        except Exception:
            log.exception("%s failed", what)


async def _dispatch_loop(engine: Engine) -> None:
    work = engine.ctx.work
    while True:
        try:
            await asyncio.wait_for(work.wake.wait(), engine.config.poll_interval)
        except asyncio.TimeoutError:
            # Safety net: other coordinators' work, expired leases.
            work.more()
            work.more_tasks()
            work.more_queued()
        work.wake.clear()
        try:
            await engine.dispatch_workflows()
            await engine.dispatch_tasks()
            await engine.dispatch_queues()
        except StoreUnavailable as e:
            log.warning("dispatch paused, store unavailable: %s", e)
            await asyncio.sleep(engine.config.poll_interval)
        except Exception:
            log.exception("dispatch failed")
