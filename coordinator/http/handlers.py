"""The console's JSON API and the probes: HTTP in, an engine call, JSON out.

/api/overview tells the page which operations the engine has (FEATURES); an
operation it lacks answers `501` and the page hides its controls.
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web

from ..core.engine import Engine
from ..core.errors import (
    AlreadyExists,
    CoordinatorError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from ..core.records import WorkflowStatus
from . import keys, views
from .auth import Handler
from .metrics import CONTENT_TYPE, Metrics

log = logging.getLogger(__name__)

PAGE_DEFAULT, PAGE_MAX = 50, 500
READY_TIMEOUT = 2.0  # seconds the store has to answer /readyz
_STATUS = {InvalidArgument: 400, Unauthenticated: 401, PermissionDenied: 403, NotFound: 404,
           FailedPrecondition: 409, AlreadyExists: 409, Unavailable: 503}
# What the engine of this version can do; the page shows the controls of these.
FEATURES = ("queues", "resume", "fork")


def _engine(request: web.Request) -> Engine:
    engine: Engine = request.app[keys.ENGINE]
    return engine


def _error(e: CoordinatorError) -> web.Response:
    status = next((code for cls, code in _STATUS.items() if isinstance(e, cls)), 500)
    return web.json_response({"error": str(e)}, status=status)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one table of domain error -> HTTP status."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except CoordinatorError as e:
        return _error(e)


# -- probes and metrics ---------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    engine = _engine(request)
    if not engine.dispatch.accepting:
        return web.json_response({"ready": False, "why": "draining"}, status=503)
    try:
        await asyncio.wait_for(engine.check_store(), READY_TIMEOUT)
    except Exception as e:
        return web.json_response({"ready": False, "why": f"the store does not answer: {e}"}, status=503)
    return web.json_response({"ready": True})


async def metrics(request: web.Request) -> web.Response:
    m: Metrics = request.app[keys.METRICS]
    return web.Response(body=await m.render(), headers={"Content-Type": CONTENT_TYPE})


# -- the console's API ----------------------------------------------------------


def features(engine: Engine) -> dict[str, bool]:
    """Which of the operations still to come the engine has."""
    names = {"queues": "list_queues", "resume": "resume_workflow", "fork": "fork_workflow"}
    return {f: hasattr(engine, names[f]) for f in FEATURES}


async def overview(request: web.Request) -> web.Response:
    engine = _engine(request)
    pending, parked = await engine.count_pending()
    return web.json_response({
        "node_id": engine.config.node_id, "auth": request.app[keys.TOKENS] is not None,
        "features": features(engine), "pending": pending, "parked": parked,
        "workers": len(engine.workers()), "now": engine.clock.now_ms(),
    })


def _page_args(request: web.Request) -> tuple[WorkflowStatus | None, str | None, tuple[int, str] | None, int]:
    q = request.query
    try:
        status = WorkflowStatus(q["status"]) if q.get("status") else None
    except ValueError:
        raise InvalidArgument(f"unknown status {q['status'][:40]!r}: use one of "
                              f"{', '.join(s.value for s in WorkflowStatus)}") from None
    try:
        limit = int(q.get("limit") or PAGE_DEFAULT)
    except ValueError:
        raise InvalidArgument("limit must be a number") from None
    if not 1 <= limit <= PAGE_MAX:
        raise InvalidArgument(f"limit must be 1 to {PAGE_MAX}")
    before = None
    if q.get("after"):
        at, sep, workflow_id = q["after"].partition(":")
        if not sep or not at.isdigit():
            raise InvalidArgument("after must be a cursor from the previous page (CREATED_AT:ID)")
        before = (int(at), workflow_id)
    return status, q.get("name") or None, before, limit


async def list_workflows(request: web.Request) -> web.Response:
    """A page of workflows, newest first; `id` finds one by its exact ID."""
    engine = _engine(request)
    if request.query.get("id"):
        try:
            found = [await engine.get_workflow(request.query["id"])]
        except NotFound:
            found = []
        return web.json_response({"workflows": [views.workflow_summary(wf) for wf in found], "next": None})
    status, name, before, limit = _page_args(request)
    page = await engine.list_workflows_page(status, name, before, limit + 1)
    more, page = len(page) > limit, page[:limit]
    last = page[-1] if page else None
    return web.json_response({
        "workflows": [views.workflow_summary(wf) for wf in page],
        "next": f"{last.created_at}:{last.workflow_id}" if more and last else None,
    })


async def get_workflow(request: web.Request) -> web.Response:
    engine = _engine(request)
    view = await engine.inspect_workflow(request.match_info["workflow_id"])
    return web.json_response(views.workflow_view(view, engine.clock.now_ms()))


async def live(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the workflow (event `workflow`) now and after each
    change, then `end` once it is final. The browser's EventSource reconnects
    by itself after a cut."""
    engine = _engine(request)
    workflow_id = request.match_info["workflow_id"]
    await engine.get_workflow(workflow_id)  # 404 before the stream starts
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    streams: set[asyncio.Task[object]] = request.app[keys.LIVE]
    me = asyncio.current_task()
    assert me is not None
    streams.add(me)
    try:
        async for view in engine.watch_workflow(workflow_id):
            data = json.dumps(views.workflow_view(view, engine.clock.now_ms()), separators=(",", ":"))
            await response.write(f"event: workflow\ndata: {data}\n\n".encode())
        await response.write(b"event: end\ndata: {}\n\n")
    except ConnectionResetError:
        pass  # the browser left (a stop of the coordinator cancels us: that goes on up)
    except CoordinatorError as e:
        log.info("live view of %s ended: %s", workflow_id, e)
    finally:
        streams.discard(me)
    return response


async def cancel(request: web.Request) -> web.Response:
    engine = _engine(request)
    wf = await engine.cancel_workflow(request.match_info["workflow_id"])
    log.info("workflow %s cancelled from the console", wf.workflow_id)
    return web.json_response(views.workflow_summary(wf))


async def resume(request: web.Request) -> web.Response:
    wf = await _engine(request).resume_workflow(request.match_info["workflow_id"])
    log.info("workflow %s resumed from the console", wf.workflow_id)
    return web.json_response(views.workflow_summary(wf))


async def fork(request: web.Request) -> web.Response:
    """A new workflow from this one's step `from_step` on (a query parameter;
    0, a restart, by default); answers the fork."""
    raw = request.query.get("from_step", "0")
    if not raw.isdigit():
        raise InvalidArgument(f"from_step must be a step number, got {raw[:20]!r}")
    wf = await _engine(request).fork_workflow(request.match_info["workflow_id"], int(raw))
    log.info("workflow %s forked from the console as %s", request.match_info["workflow_id"],
             wf.workflow_id)
    return web.json_response(views.workflow_summary(wf))


async def queues(request: web.Request) -> web.Response:
    states = await _engine(request).list_queues()
    return web.json_response({"supported": True, "queues": [views.queue(q) for q in states]})


async def workers(request: web.Request) -> web.Response:
    return web.json_response({"workers": [views.worker(w) for w in _engine(request).workers()]})
