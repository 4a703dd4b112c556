"""Builds the HTTP side of the coordinator (aiohttp, on the same event loop as
the gRPC server): the console's page and API, /metrics, /healthz, /readyz.
Running and stopping it is the composition root's job (coordinator/server.py).

The page is plain files in static/ (HTML, CSS, JavaScript; no build step),
served as they are.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from ..core.engine import Engine
from ..core.tokens import Tokens
from ..settings import Settings
from . import auth, handlers, keys
from .metrics import Metrics

STATIC = Path(__file__).parent / "static"


def _page(name: str) -> web.FileResponse:
    return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})


async def index(request: web.Request) -> web.StreamResponse:
    return _page("index.html")


async def login_page(request: web.Request) -> web.StreamResponse:
    if request.app[keys.TOKENS] is None:
        raise web.HTTPFound("/")
    return _page("login.html")


@web.middleware
async def security_headers(request: web.Request, handler: auth.Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'")
    return response


def build_app(engine: Engine, tokens: Tokens | None, metrics_open: bool = False) -> web.Application:
    """The application; it starts reporting the engine's metrics at once."""
    app = web.Application(middlewares=[security_headers, auth.middleware(tokens, metrics_open),
                                       handlers.errors])
    app[keys.ENGINE] = engine
    app[keys.TOKENS] = tokens
    app[keys.METRICS] = metrics = Metrics(engine)
    app[keys.LIVE] = set()
    engine.observe(metrics)
    r = app.router
    r.add_get("/", index)
    r.add_get("/login", login_page)
    r.add_post("/login", auth.login)
    r.add_get("/logout", auth.logout)
    r.add_post("/logout", auth.logout)
    r.add_static("/static/", STATIC, append_version=False)
    r.add_get("/healthz", handlers.healthz)
    r.add_get("/readyz", handlers.readyz)
    r.add_get("/metrics", handlers.metrics)
    r.add_get("/api/overview", handlers.overview)
    r.add_get("/api/workflows", handlers.list_workflows)
    r.add_get("/api/workflows/{workflow_id}", handlers.get_workflow)
    r.add_get("/api/workflows/{workflow_id}/live", handlers.live)
    r.add_post("/api/workflows/{workflow_id}/cancel", handlers.cancel)
    r.add_post("/api/workflows/{workflow_id}/resume", handlers.resume)
    r.add_post("/api/workflows/{workflow_id}/fork", handlers.fork)
    r.add_get("/api/workers", handlers.workers)
    r.add_get("/api/queues", handlers.queues)
    app.on_shutdown.append(_end_live_streams)
    return app


async def _end_live_streams(app: web.Application) -> None:
    streams = app[keys.LIVE]
    for task in list(streams):
        task.cancel()


@dataclass
class HttpServer:
    runner: web.AppRunner
    url: str

    async def stop(self) -> None:
        await self.runner.cleanup()


def _ssl(settings: Settings) -> ssl.SSLContext | None:
    """HTTPS with the gRPC port's certificate, when it has one."""
    if not settings.tls:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context


async def start_http(engine: Engine, settings: Settings, tokens: Tokens | None) -> HttpServer:
    """Listen on settings.http (HOST:PORT; port 0 picks a free one)."""
    host, sep, port = settings.http.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--http must be HOST:PORT, not {settings.http!r}")
    host = host.strip("[]") or "127.0.0.1"
    runner = web.AppRunner(build_app(engine, tokens, settings.metrics_open), handle_signals=False,
                           access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    context = _ssl(settings)
    site = web.TCPSite(runner, host, int(port), ssl_context=context)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1] if runner.addresses else int(port)
    shown = f"[{host}]" if ":" in host else host
    return HttpServer(runner, f"{'https' if context else 'http'}://{shown}:{bound}/")
