"""Builds and runs the gRPC server: services, health, reflection, graceful stop."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from keel.v1 import (
    client_service_pb2,
    client_service_pb2_grpc,
    worker_service_pb2,
    worker_service_pb2_grpc,
)

from .client_service import ClientServicer
from .core.engine import Engine, EngineConfig
from .settings import Settings
from .store import store_from_url
from .worker_service import WorkerServicer

log = logging.getLogger(__name__)


def server_options(settings: Settings) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        # Keepalive, matched with the SDK's: it pings every 10 s, and a peer
        # that stops answering is dropped after 20 + 10 s. Clients' pings are
        # not counted as strikes: with long calls in flight, gRPC core counted
        # the SDK's 10 s pings as "too many" and closed busy channels.
        ("grpc.keepalive_time_ms", 20_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 1_000),
        ("grpc.http2.max_ping_strikes", 0),
        ("grpc.http2.max_pings_without_data", 0),
    ]


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set or SIGTERM/SIGINT arrives, then drain and close."""
    settings = dataclasses.replace(settings, node_id=settings.resolved_node_id())
    store = store_from_url(settings.db_url)
    await store.open()
    engine = Engine(store, EngineConfig(
        node_id=settings.node_id,
        heartbeat_interval=settings.heartbeat_interval,
        worker_timeout=settings.worker_timeout,
        lease_ttl=settings.lease_ttl,
        poll_interval=settings.poll_interval,
    ))
    server = grpc.aio.server(options=server_options(settings))
    worker_service_pb2_grpc.add_WorkerServiceServicer_to_server(WorkerServicer(engine, settings), server)
    client_service_pb2_grpc.add_ClientServiceServicer_to_server(ClientServicer(engine, settings), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [
        worker_service_pb2.DESCRIPTOR.services_by_name["WorkerService"].full_name,
        client_service_pb2.DESCRIPTOR.services_by_name["ClientService"].full_name,
    ]
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    if server.add_insecure_port(settings.listen) == 0:
        raise OSError(f"cannot listen on {settings.listen}")
    await engine.start()
    await server.start()
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("coordinator %s listening on %s, store %s", settings.node_id, settings.listen,
             settings.db_url.split("@")[-1])

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
    await health_servicer.enter_graceful_shutdown()
    # Bounded steps: a shutdown never hangs on a wedged connection.
    for what, step in (("engine", engine.stop()), ("server", server.stop(settings.grace)),
                       ("store", store.close())):
        try:
            await asyncio.wait_for(step, settings.grace + 5)
        except asyncio.TimeoutError:
            log.warning("stopping the %s took longer than %.0f s; going on", what, settings.grace + 5)
    log.info("coordinator stopped")
