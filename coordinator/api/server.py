"""Builds the grpc.aio server over an engine: our services behind the error
interceptor, health, reflection, keepalive. Running and stopping it is the
composition root's job (coordinator/server.py)."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from keel.v1 import (
    client_service_pb2,
    client_service_pb2_grpc,
    worker_service_pb2,
    worker_service_pb2_grpc,
)

from ..core.engine import Engine
from ..core.tokens import Tokens
from ..settings import Settings
from .auth import AuthInterceptor
from .client_servicer import ClientServicer
from .errors import add_servicer
from .tls import server_credentials
from .worker_servicer import WorkerServicer

SERVICE_NAMES = [
    worker_service_pb2.DESCRIPTOR.services_by_name["WorkerService"].full_name,
    client_service_pb2.DESCRIPTOR.services_by_name["ClientService"].full_name,
]


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


@dataclass
class ApiServer:
    server: grpc.aio.Server
    health: health.aio.HealthServicer

    async def serving(self) -> None:
        """Report every service as serving (once the engine and server run)."""
        for name in ["", *SERVICE_NAMES]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)


def build_server(engine: Engine, settings: Settings, tokens: Tokens | None = None) -> ApiServer:
    """The server with all services added, listening on settings.listen (not started).
    With `tokens`, every call to our services is checked (api/auth.py); with
    settings.tls, the port speaks TLS (api/tls.py)."""
    # A refused call never reaches a handler. Without tokens no interceptor
    # runs: each costs every call a chain of coroutines.
    interceptors = [AuthInterceptor(tokens)] if tokens is not None else None
    server = grpc.aio.server(options=server_options(settings), interceptors=interceptors)
    # Each handler of our services applies the table of api/errors.py.
    add_servicer(worker_service_pb2_grpc.add_WorkerServiceServicer_to_server,
                 WorkerServicer(engine, settings), server)
    add_servicer(client_service_pb2_grpc.add_ClientServiceServicer_to_server,
                 ClientServicer(engine, settings), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    if settings.tls:
        port = server.add_secure_port(settings.listen, server_credentials(settings))
    else:
        port = server.add_insecure_port(settings.listen)
    if port == 0:
        raise OSError(f"cannot listen on {settings.listen}")
    return ApiServer(server, health_servicer)
