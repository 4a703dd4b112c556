"""Channels to the coordinator and the SDK's one retry policy.

Every retry in the SDK goes through `Retry`: unary calls (`call`), calls
started without blocking (`call_async`), requests sent on the worker stream,
and the reconnect loops of the worker stream and of `Client.watch_events`.
To change how the SDK retries, change `RetryPolicy` and its two instances here.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Security:
    """How to reach a coordinator that requires TLS or tokens.

    `tls_ca`: PEM file of the CA to trust (TLS is on when it, or a client
    certificate, is given); `tls_cert`/`tls_key`: this side's certificate for
    mutual TLS; `token`: a role token, sent on every call as
    `authorization: Bearer <token>`. Paths are read once, here.
    """

    token: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    def __post_init__(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("tls_cert and tls_key go together (mutual TLS)")

    def __repr__(self) -> str:  # never show the token
        return (f"Security(token={'***' if self.token else None}, tls_ca={self.tls_ca!r}, "
                f"tls_cert={self.tls_cert!r}, tls_key={self.tls_key!r})")

    @property
    def tls(self) -> bool:
        return bool(self.tls_ca or self.tls_cert)

    def credentials(self) -> grpc.ChannelCredentials:
        def read(path: str | None) -> bytes | None:
            if not path:
                return None
            try:
                with open(path, "rb") as f:
                    return f.read()
            except OSError as e:
                raise ValueError(f"cannot read {path!r}: {e.strerror}") from None

        return grpc.ssl_channel_credentials(read(self.tls_ca), read(self.tls_key), read(self.tls_cert))


class _Bearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
              grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Adds the token's metadata to every call (a plaintext channel too, unlike
    call credentials: tests and loopback deployments use tokens without TLS)."""

    def __init__(self, token: str) -> None:
        self._entry = ("authorization", f"Bearer {token}")

    def _with_token(self, details: Any) -> Any:
        return details._replace(metadata=[*(details.metadata or ()), self._entry])

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._with_token(details), request)

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._with_token(details), requests)

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._with_token(details), requests)


def channel(address: str, security: Security | None = None) -> grpc.Channel:
    """A channel to one gRPC target, with TLS and the token if `security` says so."""
    if security is not None and security.tls:
        ch = grpc.secure_channel(address, security.credentials(), options=CHANNEL_OPTIONS)
    else:
        ch = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
    if security is not None and security.token:
        ch = grpc.intercept_channel(ch, _Bearer(security.token))
    return ch


def split_targets(target: str) -> list[str]:
    """`host1:port1,host2:port2` as a list; a target naming a gRPC resolver
    (`dns:///name:port`, `ipv4:a:p,b:p`) is one target, resolved by gRPC."""
    if "://" in target or target.split(":", 1)[0] in ("dns", "ipv4", "ipv6", "unix", "unix-abstract"):
        return [target]
    targets = [t.strip() for t in target.split(",") if t.strip()]
    if not targets:
        raise ValueError(f"no coordinator address in {target!r}")
    return targets


class Endpoints:
    """The coordinators a client or worker may talk to, one at a time.

    Calls go to the current one. A call that finds it UNAVAILABLE moves the
    current one on to the next address, so the retry that follows (under the
    one retry policy) reaches another coordinator; a worker whose stream ends
    does the same before it reconnects. Channels are made once per address."""

    def __init__(self, target: str, security: Security | None = None) -> None:
        self.addresses = split_targets(target)
        self._security = security
        self._channels: dict[int, grpc.Channel] = {}
        self._current = 0
        self._lock = threading.Lock()

    def current(self) -> tuple[int, grpc.Channel]:
        with self._lock:
            index = self._current
            ch = self._channels.get(index)
            if ch is None:
                ch = self._channels[index] = channel(self.addresses[index], self._security)
            return index, ch

    def failed(self, index: int) -> None:
        """The coordinator at `index` seems gone: use the next one (unless
        another caller moved on already)."""
        with self._lock:
            if index == self._current and len(self.addresses) > 1:
                self._current = (index + 1) % len(self.addresses)

    def address(self, index: int) -> str:
        return self.addresses[index]

    def stub(self, factory: Callable[[grpc.Channel], Any]) -> Any:
        """A stub whose every call goes to the current coordinator."""
        return _FailoverStub(self, factory)

    def close(self) -> None:
        with self._lock:
            channels, self._channels = list(self._channels.values()), {}
        for ch in channels:
            ch.close()


class _FailoverStub:
    def __init__(self, endpoints: Endpoints, factory: Callable[[grpc.Channel], Any]) -> None:
        self.endpoints = endpoints
        self._factory = factory
        self._stubs: dict[int, Any] = {}

    def current(self) -> tuple[int, Any]:
        index, ch = self.endpoints.current()
        stub = self._stubs.get(index)
        if stub is None:
            stub = self._stubs[index] = self._factory(ch)
        return index, stub

    def __getattr__(self, name: str) -> _FailoverMethod:
        return _FailoverMethod(self, name)


class _FailoverMethod:
    """One RPC of a _FailoverStub: resolved against the current coordinator at
    each call, so a retry after UNAVAILABLE goes to the next."""

    def __init__(self, stub: _FailoverStub, name: str) -> None:
        self._stub = stub
        self._name = name

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        index, stub = self._stub.current()
        try:
            return getattr(stub, self._name)(request, **kwargs)
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.UNAVAILABLE:
                self._stub.endpoints.failed(index)
            raise

    def future(self, request: Any, **kwargs: Any) -> Any:
        index, stub = self._stub.current()
        call = getattr(stub, self._name).future(request, **kwargs)

        def moved_on(done: Any) -> None:
            if done.code() == grpc.StatusCode.UNAVAILABLE:
                self._stub.endpoints.failed(index)

        call.add_done_callback(moved_on)
        return call


@dataclass(frozen=True)
class RetryPolicy:
    """Which failures are retried and how long to wait between attempts.

    Waits grow exponentially from `first` to `cap`, each drawn with jitter from
    the upper half of the current step, so peers restarted together do not
    stampede. `codes` are the gRPC status names retried; None retries any.
    """

    first: float = 0.05
    cap: float = 2.0
    codes: frozenset[str] | None = frozenset({"UNAVAILABLE"})

    def retries(self, code: str) -> bool:
        return self.codes is None or code in self.codes

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield random.uniform(delay / 2, delay)
            delay = min(self.cap, delay * 2)


# Calls, stream requests and the watch_events reconnect: only UNAVAILABLE is
# retried. Every RPC of the protocol may be repeated under that code (the
# coordinator either did not see it or answers a repeat with the same
# outcome); any other code is an answer, not a failure to reach it.
CALLS = RetryPolicy()
# The worker's assignment stream reconnects whatever ended it, until the
# worker stops, more slowly: a reconnect re-registers and is re-assigned work.
WORKER_STREAM = RetryPolicy(first=0.1, cap=5.0, codes=None)
# Answers no retry can change: the worker's credentials are refused.
REFUSED = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED"})


class Retry:
    """One sequence of attempts under a policy: after each failure, `pause`
    says how long to wait before the next attempt, or None to give up.

    It gives up when the policy does not retry the code, when `give_up()` is
    true, or when the wait would end past the monotonic `deadline`.
    """

    def __init__(self, policy: RetryPolicy = CALLS, *, give_up: Callable[[], bool] = lambda: False,
                 deadline: float | None = None) -> None:
        self.policy = policy
        self.give_up = give_up
        self.deadline = deadline
        self._delays: Iterator[float] | None = None  # made at the first failure

    def reset(self) -> None:
        """Start the backoff again from its first step (after a success)."""
        self._delays = None

    def time_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def pause(self, code: str) -> float | None:
        if not self.policy.retries(code) or self.give_up():
            return None
        if self._delays is None:
            self._delays = self.policy.delays()
        pause = next(self._delays)
        if self.deadline is not None and time.monotonic() + pause >= self.deadline:
            return None
        return pause


def _as_coordinator_error(err: BaseException, doing: str) -> CoordinatorError:
    if isinstance(err, grpc.RpcError):
        return CoordinatorError.from_rpc(err, doing)
    assert isinstance(err, CoordinatorError)
    return CoordinatorError(f"{doing}: {err.code}: {err}", err.code)


def retrying(
    attempt: Callable[[float | None], T],
    doing: str,
    retry: Retry,
    *,
    sleep: Callable[[float], Any] = time.sleep,
    failed: BaseException | None = None,
) -> T:
    """Call `attempt(timeout)` until it works or `retry` gives up.

    `attempt` may fail with grpc.RpcError or CoordinatorError; the error that
    ends the loop is raised as a CoordinatorError saying what we were `doing`.
    `timeout` is the time left before the deadline (None without one).
    `failed`: the error of an attempt made before, without the loop (the
    common case, a first attempt that works, then pays nothing for it).
    """
    error = None if failed is None else _as_coordinator_error(failed, doing)
    while True:
        if error is not None:
            pause = retry.pause(error.code)
            if pause is None:
                raise error from None
            sleep(pause)
            # Whatever set give_up while we slept (a fenced execution) ends it now.
            if retry.give_up():
                raise error from None
        try:
            return attempt(retry.time_left())
        except (grpc.RpcError, CoordinatorError) as err:
            error = _as_coordinator_error(err, doing)


def call(
    method: Callable[..., T],
    request: Any,
    doing: str,
    *,
    give_up: Callable[[], bool] = lambda: False,
    deadline: float | None = None,
    sleep: Callable[[float], Any] = time.sleep,
    policy: RetryPolicy = CALLS,
) -> T:
    """Call a unary method, retrying UNAVAILABLE with jittered backoff until it
    works, `give_up()` is true or the monotonic `deadline` passes."""
    retry = Retry(policy, give_up=give_up, deadline=deadline)
    return retrying(lambda timeout: method(request, timeout=timeout), doing, retry, sleep=sleep)


def call_async(
    method: Any,
    request: Any,
    doing: str,
    *,
    on_result: Callable[[Any], None],
    on_error: Callable[[CoordinatorError], None],
    give_up: Callable[[], bool] = lambda: False,
    policy: RetryPolicy = CALLS,
) -> None:
    """Start a unary call without blocking (`method.future`), retried under the
    same policy from timer threads; exactly one of `on_result` and `on_error`
    is called, from a gRPC or timer thread. No thread waits meanwhile, so many
    calls in flight cost none each."""
    retry = Retry(policy, give_up=give_up)

    def issue() -> None:
        method.future(request).add_done_callback(done)

    def done(future: Any) -> None:
        try:
            response = future.result()
        except grpc.RpcError as err:
            error = CoordinatorError.from_rpc(err, doing)
            pause = retry.pause(error.code)
            if pause is None:
                on_error(error)
                return
            timer = threading.Timer(pause, lambda: on_error(error) if give_up() else issue())
            timer.daemon = True
            timer.start()
            return
        on_result(response)

    issue()
