"""The composition root: opens the store, builds the engine and the gRPC server
(coordinator/api), runs them, and stops them gracefully."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal

from .api.server import build_server
from .core.engine import Engine, EngineConfig
from .core.tokens import Tokens
from .http.app import HttpServer, start_http
from .settings import Settings, redact_url
from .store import store_from_url

log = logging.getLogger(__name__)


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set or SIGTERM/SIGINT arrives, then drain and close."""
    settings = dataclasses.replace(settings, node_id=settings.resolved_node_id())
    settings.check_limits()
    store = store_from_url(settings.db_url)
    await store.open()
    engine = Engine(store, EngineConfig(
        node_id=settings.node_id,
        heartbeat_interval=settings.heartbeat_interval,
        worker_timeout=settings.worker_timeout,
        lease_ttl=settings.lease_ttl,
        node_timeout=settings.node_timeout,
        poll_interval=settings.poll_interval,
        retention=settings.retention,
        step_timeout=settings.step_timeout,
    ))
    tokens = Tokens(store, engine.clock) if settings.require_auth else None
    try:
        api = build_server(engine, settings, tokens)
    except BaseException:
        await store.close()
        raise
    await engine.start()
    await api.server.start()
    await api.serving()
    http: HttpServer | None = None
    if settings.http:
        http = await start_http(engine, settings, tokens)
        log.info("console on %s (metrics on %smetrics)", http.url, http.url)
        if not tokens and not _loopback(settings.http):
            log.warning("the console on %s needs no token: anyone who reaches it can cancel workflows; "
                        "use --require-auth (docs/console.md)", settings.http)
    log.info("coordinator %s listening on %s (%s%s), store %s", settings.node_id, settings.listen,
             ("mutual TLS" if settings.tls_client_ca else "TLS") if settings.tls else "plaintext",
             ", tokens required" if tokens else "", redact_url(settings.db_url))
    if not settings.tls and not _loopback(settings.listen):
        log.warning("serving plaintext on %s: anyone on the network can read the traffic%s; "
                    "use --tls-cert/--tls-key (docs/security.md)", settings.listen,
                    " and the tokens" if tokens else "")

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass  # not the main thread: the caller sets `stop`
    await stop.wait()

    log.info("draining: no new assignments, %.1f s grace for calls in flight", settings.grace)
    engine.stop_accepting()
    await api.health.enter_graceful_shutdown()
    # Bounded steps: a shutdown never hangs on a wedged connection.
    steps = [("engine", engine.stop()), ("server", api.server.stop(settings.grace)),
             ("store", store.close())]
    if http is not None:
        steps.insert(0, ("console", http.stop()))
    for what, step in steps:
        try:
            await asyncio.wait_for(step, settings.grace + 5)
        except asyncio.TimeoutError:
            log.warning("stopping the %s took longer than %.0f s; going on", what, settings.grace + 5)
    log.info("coordinator stopped")


def _loopback(listen: str) -> bool:
    host = listen.rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")
