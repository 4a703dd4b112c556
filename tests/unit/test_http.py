"""The HTTP side (coordinator/http) in-process: every endpoint's status codes
and JSON or HTML shape, the live stream, the metrics, and the admin-token
refusals, over the engine on the in-memory store with fake worker links."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from coordinator.core.engine import Engine
from coordinator.core.records import QueueRecord, Role, Value
from coordinator.core.tokens import Tokens
from coordinator.http.app import build_app
from tests.unit.fakes import FakeClock, session
from tests.unit.test_engine import ARGS, make_engine, ok, step

Body = Callable[[TestClient[Any, Any], Engine, FakeClock], Awaitable[None]]


def serve(body: Body, auth: bool = False, metrics_open: bool = False) -> None:
    async def main() -> None:
        clock = FakeClock()
        engine = await make_engine(clock)
        tokens = Tokens(engine.store, engine.clock) if auth else None
        client = TestClient(TestServer(build_app(engine, tokens, metrics_open)))
        await client.start_server()
        try:
            await asyncio.wait_for(body(client, engine, clock), 20)
        finally:
            await client.close()
            await engine.stop()
            await engine.store.close()

    asyncio.run(main())


async def get_json(client: TestClient[Any, Any], path: str, status: int = 200, **kw: Any) -> Any:
    resp = await client.get(path, **kw)
    assert resp.status == status, (path, resp.status, await resp.text())
    return await resp.json()


# -- probes, page, metrics ------------------------------------------------------


def test_probes_the_page_and_its_files() -> None:
    async def body(client: TestClient[Any, Any], engine: Engine, clock: FakeClock) -> None:
        assert await get_json(client, "/healthz") == {"status": "ok"}
        assert await get_json(client, "/readyz") == {"ready": True}
        page = await client.get("/")
        assert page.status == 200 and page.content_type == "text/html"
        html = await page.text()
        assert "/static/console.js" in html and "/static/console.css" in html
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        for name, kind in (("console.js", "javascript"), ("console.css", "text/css")):
            resp = await client.get(f"/static/{name}")
            assert resp.status == 200 and kind in resp.content_type
        assert (await client.get("/static/nothing.js")).status == 404
        assert (await client.get("/login", allow_redirects=False)).headers["Location"] == "/"  # no auth
        engine.stop_accepting()  # draining: no longer ready, still alive
        assert (await get_json(client, "/readyz", 503))["why"] == "draining"
        assert (await client.get("/healthz")).status == 200

    serve(body)


def test_metrics_count_workflows_steps_dispatch_and_commits() -> None:
    async def body(client: TestClient[Any, Any], engine: Engine, clock: FakeClock) -> None:
        engine.register(session("w1", workflows=("wf",), steps=("remote",))[0])
        await engine.start_workflow("wf", ARGS, "m1", None)
        await engine.record_step(step("m1", 1, 0, name="charge"))
        await engine.finish_workflow("m1", 1, ok())
        await engine.start_workflow("other", ARGS, "m2", None)  # nobody serves it: pending
        resp = await client.get("/metrics")
        assert resp.status == 200 and resp.content_type == "text/plain"
        text = await resp.text()
        for line in (
            'keel_workflows_started_total{name="wf"} 1.0',
            'keel_workflows_started_total{name="other"} 1.0',
            'keel_workflows_finished_total{name="wf",status="SUCCESS"} 1.0',
            'keel_step_duration_seconds_count{kind="STEP",name="charge"} 1.0',
            'keel_dispatch_latency_seconds_count{what="workflow"} 1.0',
            'keel_store_commit_seconds_count{operation="record_step"} 1.0',
            'keel_store_commit_seconds_count{operation="create_workflow"} 2.0',
            "keel_workers_connected 1.0",
            'keel_worker_slots{kind="workflow",state="used"} 0.0',
            "keel_workflows_pending 1.0",
            "keel_workflows_parked 0.0",
            "keel_store_up 1.0",
        ):
            assert line in text, line
        assert "# TYPE keel_queue_depth gauge" in text

    serve(body)


# -- the console's API -------------------------------------------------------------


def test_metrics_time_the_claims_a_backlog_waits_on() -> None:
    """A workflow started while no worker serves it waits in the store; the
    claim that hands it to the worker that comes is timed like a commit."""
    async def body(client: TestClient[Any, Any], engine: Engine, clock: FakeClock) -> None:
        await engine.start_workflow("wf", ARGS, "waiting", None)  # nobody serves it yet
        s, link = session("w1", workflows=("wf",))
        engine.register(s)
        await engine.dispatch_workflows()
        assert [wf.workflow_id for wf in link.workflows] == ["waiting"]
        text = await (await client.get("/metrics")).text()
        assert 'keel_store_commit_seconds_count{operation="claim_workflows"} 1.0' in text, text
        assert 'keel_dispatch_latency_seconds_count{what="workflow"} 1.0' in text

    serve(body)

def test_listing_filters_finds_by_id_and_pages_by_cursor() -> None:
    async def body(client: TestClient[Any, Any], engine: Engine, clock: FakeClock) -> None:
        for i in range(5):
            await engine.start_workflow("wf" if i % 2 == 0 else "other", ARGS, f"l{i}", None)
            clock.advance(1)
        await engine.cancel_workflow("l1")
        page = await get_json(client, "/api/workflows?limit=2")
        assert [w["workflow_id"] for w in page["workflows"]] == ["l4", "l3"]
        assert set(page["workflows"][0]) >= {"workflow_id", "name", "status", "created_at", "ended_at"}
        seen = [w["workflow_id"] for w in page["workflows"]]
        while page["next"]:
            page = await get_json(client, f"/api/workflows?limit=2&after={page['next']}")
            seen += [w["workflow_id"] for w in page["workflows"]]
        assert seen == ["l4", "l3", "l2", "l1", "l0"]
        cancelled = await get_json(client, "/api/workflows?status=CANCELLED")
        assert [(w["workflow_id"], w["status"]) for w in cancelled["workflows"]] == [("l1", "CANCELLED")]
        assert cancelled["workflows"][0]["error"]["type"] == "WorkflowCancelled"
        named = await get_json(client, "/api/workflows?name=other")
        assert [w["workflow_id"] for w in named["workflows"]] == ["l3", "l1"]
        found = await get_json(client, "/api/workflows?id=l2")
        assert [w["workflow_id"] for w in found["workflows"]] == ["l2"]
        assert (await get_json(client, "/api/workflows?id=nope"))["workflows"] == []
        for bad in ("status=DONE", "limit=0", "limit=x", "limit=501", "after=nocolon", "after=x:1"):
            assert "error" in await get_json(client, f"/api/workflows?{bad}", 400), bad

    serve(body)


def test_one_workflow_with_a_select_events_and_a_step_in_flight() -> None:
    async def body(client: TestClient[Any, Any], engine: Engine, clock: FakeClock) -> None:
        worker, link = session("w1", workflows=("wf",), steps=("quote",))
        engine.register(worker)
        await engine.start_workflow("wf", Value("json", b'{"args": ["order-1"], "kwargs": {}}'), "d1", None)
        await engine.set_event("d1", 1, 0, "stage", Value("json", b'"started"'))
        a = asyncio.create_task(engine.schedule_step("d1", 1, 1, "quote", ARGS))
        b = asyncio.create_task(engine.schedule_step("d1", 1, 2, "quote", ARGS))
        await asyncio.sleep(0.01)
        view = await get_json(client, "/api/workflows/d1")
        assert [(r["step_number"], r["worker_id"], r["attempt"]) for r in view["running"]] == [
            (1, "w1", 1), (2, "w1", 1)]
        await engine.record_step(step("d1", 1, 2, ok(b'"fast"'), attempt=1, name="quote"))
        await engine.record_step(step("d1", 1, 1, ok(b'"slow"'), attempt=1, name="quote"))
        await asyncio.gather(a, b)
        await engine.select("d1", 1, 3, [1, 2])
        await engine.finish_workflow("d1", 1, ok(b'{"done": true}'))
        view = await get_json(client, "/api/workflows/d1")
        assert view["status"] == "SUCCESS" and view["input"] == {"encoding": "json",
                                                                  "json": {"args": ["order-1"], "kwargs": {}}}
        assert view["output"] == {"encoding": "json", "json": {"done": True}} and view["error"] is None
        steps = {s["step_number"]: s for s in view["steps"]}
        assert steps[0]["kind"] == "SET_EVENT" and steps[0]["output"]["json"] == "started"
        assert steps[1]["worker_id"] == "w1" and steps[1]["attempt"] == 1
        assert steps[3]["select"] == {"index": 1, "winner": 2, "candidates": [1, 2]}
        assert [(e["key"], e["value"]["json"]) for e in view["events"]] == [("stage", "started")]
        assert view["running"] == [] and view["steps_cut"] is False
        assert "error" in await get_json(client, "/api/workflows/nope", 404)

    serve(body)


def test_live_stream_sends_each_change_then_the_end() -> None:
    async def body(client: TestClient[Any, Any], engine: Engine, clock: FakeClock) -> None:
        engine.register(session("w1")[0])
        await engine.start_workflow("wf", ARGS, "s1", None)
        assert (await client.get("/api/workflows/nope/live")).status == 404
        resp = await client.get("/api/workflows/s1/live")
        assert resp.status == 200 and resp.content_type == "text/event-stream"

        async def next_event() -> tuple[str, Any]:
            kind, data = "", None
            while True:
                line = (await resp.content.readline()).decode().rstrip("\n")
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                elif not line and kind:
                    return kind, data

        kind, first = await next_event()
        assert kind == "workflow" and first["status"] == "PENDING" and first["steps"] == []
        assert first["partial"] is False
        await engine.set_event("s1", 1, 0, "stage", Value("json", b'"one"'))
        kind, second = await next_event()
        # After the first message, only what is new: steps and events to add.
        assert second["partial"] is True and [s["kind"] for s in second["steps"]] == ["SET_EVENT"]
        assert [e["key"] for e in second["events"]] == ["stage"]
        await engine.record_step(step("s1", 1, 2))  # out of order (as `go` steps finish)
        assert [s["step_number"] for s in (await next_event())[1]["steps"]] == [2]
        await engine.record_step(step("s1", 1, 1))
        third = (await next_event())[1]
        assert [s["step_number"] for s in third["steps"]] == [1] and third["events"] == []
        await engine.finish_workflow("s1", 1, ok())
        kind, last = await next_event()
        assert last["status"] == "SUCCESS" and last["steps"] == []
        assert (await next_event())[0] == "end"

    serve(body)


def test_cancel_resume_fork_workers_and_queues() -> None:
    async def body(client: TestClient[Any, Any], engine: Engine, clock: FakeClock) -> None:
        engine.register(session("w1", workflows=("wf",), steps=("a", "b"), workflow_slots=3)[0])
        await engine.start_workflow("wf", ARGS, "c1", None)
        resp = await client.post("/api/workflows/c1/cancel")
        assert resp.status == 200 and (await resp.json())["status"] == "CANCELLED"
        assert (await engine.get_workflow("c1")).status.value == "CANCELLED"
        assert (await client.post("/api/workflows/nope/cancel")).status == 404
        workers = (await get_json(client, "/api/workers"))["workers"]
        assert [(w["worker_id"], w["workflows"], w["steps"], w["workflow_slots"], w["workflows_running"])
                for w in workers] == [("w1", ["wf"], ["a", "b"], 3, 0)]
        overview = await get_json(client, "/api/overview")
        assert overview["features"] == {"queues": True, "resume": True, "fork": True}
        assert (overview["auth"], overview["workers"], overview["node_id"]) == (False, 1, "node-a")
        await engine.set_queue(QueueRecord("emails", concurrency=5, rate_limit=100, rate_period_ms=60_000))
        assert await get_json(client, "/api/queues") == {"supported": True, "queues": [{
            "name": "emails", "concurrency": 5, "worker_concurrency": None,
            "rate_limit": {"limit": 100, "seconds": 60.0}, "partition_concurrency": None,
            "enqueued": 0, "running": 0}]}
        resp = await client.post("/api/workflows/c1/resume")  # cancelled: it runs again
        assert resp.status == 200 and (await resp.json())["status"] == "PENDING"
        assert (await client.post("/api/workflows/c1/resume")).status == 409  # PENDING now
        resp = await client.post("/api/workflows/c1/fork?from_step=0")
        forked = await resp.json()
        assert resp.status == 200 and forked["workflow_id"] != "c1" and forked["status"] == "PENDING"
        assert (await client.post("/api/workflows/c1/fork?from_step=x")).status == 400
        assert (await client.post("/api/workflows/nope/fork")).status == 404
        assert (await client.get("/api/workflows/c1/cancel")).status == 405

    serve(body)


# -- with --require-auth -------------------------------------------------------------


def test_the_console_needs_an_admin_token() -> None:
    async def body(client: TestClient[Any, Any], engine: Engine, clock: FakeClock) -> None:
        tokens = Tokens(engine.store, engine.clock)
        _, admin = await tokens.create("ops", Role.ADMIN)
        _, plain = await tokens.create("app", Role.CLIENT)
        await engine.start_workflow("wf", ARGS, "a1", None)
        assert (await client.get("/healthz")).status == 200 and (await client.get("/readyz")).status == 200
        assert (await client.get("/static/console.js")).status == 200
        assert (await client.get("/", allow_redirects=False)).headers["Location"] == "/login"
        assert (await client.get("/login")).status == 200
        assert (await get_json(client, "/api/workflows", 401))["error"].startswith("missing token")
        assert (await client.get("/metrics")).status == 401
        bearer = {"Authorization": f"Bearer {plain}"}
        assert "role admin" in (await get_json(client, "/api/workflows", 403, headers=bearer))["error"]
        assert (await get_json(client, "/api/workflows", 401,
                               headers={"Authorization": "Bearer keel_wrong"}))["error"] == "unknown token"
        bearer = {"Authorization": f"Bearer {admin}"}
        assert len((await get_json(client, "/api/workflows", headers=bearer))["workflows"]) == 1
        assert (await client.get("/metrics", headers=bearer)).status == 200
        assert (await client.post("/api/workflows/a1/cancel", headers=bearer)).status == 200

        # The browser: a refused login says why; an admin's is kept in an HttpOnly cookie.
        refused = await client.post("/login", data={"token": plain}, allow_redirects=False)
        assert refused.status == 302 and "error=" in refused.headers["Location"]
        resp = await client.post("/login", data={"token": admin}, allow_redirects=False)
        assert resp.status == 302 and resp.headers["Location"] == "/"
        cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert (await client.get("/", allow_redirects=False)).status == 200
        assert (await get_json(client, "/api/overview"))["auth"] is True
        await engine.start_workflow("wf", ARGS, "a2", None)
        forged = await client.post("/api/workflows/a2/cancel")  # a cookie alone changes nothing
        assert forged.status == 403 and "X-Keel-Console" in (await forged.json())["error"]
        ok_ = await client.post("/api/workflows/a2/cancel", headers={"X-Keel-Console": "1"})
        assert ok_.status == 200
        await client.get("/logout", allow_redirects=False)
        client.session.cookie_jar.clear()
        assert (await client.get("/api/workflows")).status == 401
        await tokens.revoke("ops")
        await asyncio.sleep(Tokens.CACHE_TTL + 0.1)
        assert (await client.get("/api/workflows", headers=bearer)).status == 401

    serve(body, auth=True)


def test_metrics_may_be_left_open() -> None:
    async def body(client: TestClient[Any, Any], engine: Engine, clock: FakeClock) -> None:
        assert (await client.get("/metrics")).status == 200
        assert (await client.get("/api/workflows")).status == 401

    serve(body, auth=True, metrics_open=True)


def test_any_workflow_id_works_in_paths() -> None:
    async def body(client: TestClient[Any, Any], engine: Engine, clock: FakeClock) -> None:
        await engine.start_workflow("wf", ARGS, "a/b c?d#é", None)
        quoted = "a%2Fb%20c%3Fd%23%C3%A9"
        assert (await get_json(client, f"/api/workflows/{quoted}"))["workflow_id"] == "a/b c?d#é"
        resp = await client.post(f"/api/workflows/{quoted}/cancel")
        assert resp.status == 200 and (await resp.json())["status"] == "CANCELLED"

    serve(body)
