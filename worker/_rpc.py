"""Channel set-up and retries shared by the worker runtime and the client."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from ._errors import CoordinatorError

T = TypeVar("T")

MAX_MESSAGE_BYTES = 4 * 1024 * 1024

# Matched with the coordinator's keepalive policy (it allows a ping every second).
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    # Bandwidth probes are pings too; with long calls in flight the server can
    # count them as strikes and close the channel (too_many_pings).
    ("grpc.http2.bdp_probe", 0),
    ("grpc.enable_retries", 0),  # we retry ourselves, with our own idempotency rules
]

RETRYABLE = {grpc.StatusCode.UNAVAILABLE}


def channel(address: str) -> grpc.Channel:
    return grpc.insecure_channel(address, options=CHANNEL_OPTIONS)


def backoff_delays(first: float = 0.05, cap: float = 2.0) -> Any:
    """Exponential delays with full jitter, so restarted peers do not stampede."""
    delay = first
    while True:
        yield random.uniform(delay / 2, delay)
        delay = min(cap, delay * 2)


def call(
    method: Callable[..., T],
    request: Any,
    doing: str,
    *,
    give_up: Callable[[], bool] = lambda: False,
    deadline: float | None = None,
    call_timeout: float | None = None,
    sleep: Callable[[float], Any] = time.sleep,
) -> T:
    """Call a unary method, retrying UNAVAILABLE with jittered backoff until it
    works, `give_up()` is true or the monotonic `deadline` passes."""
    delays = backoff_delays()
    while True:
        timeout = call_timeout
        if deadline is not None:
            left = deadline - time.monotonic()
            timeout = left if timeout is None else min(timeout, left)
        try:
            return method(request, timeout=timeout)
        except grpc.RpcError as err:
            if err.code() not in RETRYABLE or give_up():
                raise CoordinatorError.from_rpc(err, doing) from None
            pause = next(delays)
            if deadline is not None and time.monotonic() + pause >= deadline:
                raise CoordinatorError.from_rpc(err, doing) from None
            sleep(pause)
