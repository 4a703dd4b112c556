"""The worker process: holds the assignment stream and runs what it is handed.

Workflow executions run in threads of their own (up to `concurrency`), assigned
steps in a pool of `step_concurrency` threads. When the stream breaks, every
execution in flight is fenced off (the coordinator hands them out again) and
the worker reconnects with jittered backoff.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

import grpc
from keel.v1 import client_service_pb2_grpc as cgrpc
from keel.v1 import worker_service_pb2 as wpb
from keel.v1 import worker_service_pb2_grpc as wgrpc

from . import _batching, _codec, _transport
from ._errors import CoordinatorError, LeaseLost, status_code
from ._execution import Execution, record_outcome
from ._registry import REGISTRY, Registry
from ._steps import now, run_step_function
from ._threads import Runners

log = logging.getLogger(__name__)

SDK = "python/0.1.0"


class _Waiter:
    """One request sent on the stream, waiting for its Reply (`done` once: whoever
    takes the waiter out of the replies answers it).

    A lock held from the start and released by `done`: a third of an Event's
    work (its Condition) on the path of every step."""

    __slots__ = ("_ready", "_reply")

    def __init__(self) -> None:
        self._ready = threading.Lock()
        self._ready.acquire()
        self._reply: wpb.Reply | None = None

    def done(self, reply: wpb.Reply) -> None:
        self._reply = reply
        self._ready.release()

    def wait(self, stop: threading.Event) -> wpb.Reply:
        while not self._ready.acquire(timeout=0.05):
            if stop.is_set():
                raise LeaseLost("execution stopped while waiting for the coordinator")
        assert self._reply is not None
        return self._reply


class Worker:
    """Serves the registered workflows and steps to a coordinator.

    `run()` blocks until `stop()` or SIGTERM/SIGINT (from the main thread);
    `start()` runs it in a background thread. Also a context manager.
    """

    def __init__(
        self,
        coordinator: str = "127.0.0.1:50051",
        *,
        concurrency: int = 16,
        step_concurrency: int = 32,
        worker_id: str | None = None,
        registry: Registry | None = None,
        grace: float = 30.0,
        park_after: float = 1.0,
        token: str | None = None,
        tls_ca: str | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
    ) -> None:
        """`token` (a worker or admin role token) and `tls_ca`, `tls_cert`,
        `tls_key` (paths to PEM files) as for `Client`."""
        if concurrency < 1 or step_concurrency < 1:
            raise ValueError("concurrency and step_concurrency must be at least 1")
        self.coordinator = coordinator
        self.concurrency = concurrency
        self.step_concurrency = step_concurrency
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.registry = registry or REGISTRY
        self.grace = grace
        # A workflow waiting (sleep, recv, get_event) longer than this gives its
        # slot back; at once if every slot is taken.
        self.park_after = park_after
        # One address or a comma-separated list: on disconnect the worker
        # moves to the next coordinator, and unary calls fail over the same way.
        self._endpoints = _transport.Endpoints(
            coordinator, _transport.Security(token, tls_ca, tls_cert, tls_key))
        self._stub = self._endpoints.stub(wgrpc.WorkerServiceStub)
        self._client_stub = self._endpoints.stub(cgrpc.ClientServiceStub)  # WorkflowFuture's reads
        self._endpoint = 0  # index of the coordinator the stream goes to
        self._session_stub: Any = self._stub  # replaced by each session's own
        self.coordinator_address = self._endpoints.address(0)
        self._steps_pool = ThreadPoolExecutor(step_concurrency, thread_name_prefix="keel-step")
        self._executions: dict[str, Execution] = {}
        self._runners = Runners("keel-wf")
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._steps_running = 0
        self._stopping = threading.Event()
        self._outbox: queue.SimpleQueue[wpb.WorkerMessage | None] | None = None
        self._seq = 0
        self._thread: threading.Thread | None = None
        # Requests sent on the stream, by seq, waiting for their Reply.
        self._replies: dict[int, _Waiter] = {}
        self.connected = threading.Event()
        # Set when the coordinator refused our credentials: the worker stopped.
        self.refused: str | None = None

    # -- life cycle ------------------------------------------------------------

    def start(self) -> Worker:
        self._thread = threading.Thread(target=self._serve, name="keel-worker", daemon=True)
        self._thread.start()
        return self

    def run(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: threading.Thread(target=self.stop, daemon=True).start())
        self.start()
        assert self._thread is not None
        while self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self, grace: float | None = None) -> None:
        """Take no new work, let what runs finish within `grace` seconds, disconnect."""
        if self._stopping.is_set():
            return
        grace = self.grace if grace is None else grace
        log.info("worker %s draining (%.0f s grace)", self.worker_id, grace)
        self._send(wpb.WorkerMessage(drain=wpb.Drain()))
        deadline = time.monotonic() + grace
        with self._idle:
            while (self._executions or self._steps_running) and time.monotonic() < deadline:
                self._idle.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            left = len(self._executions) + self._steps_running
        if left:
            log.warning("worker %s stopping with %d assignments unfinished; they will be "
                        "handed to other workers", self.worker_id, left)
        self._stopping.set()
        self._end_stream()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._steps_pool.shutdown(wait=False, cancel_futures=True)
        self._endpoints.close()

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- the stream ----------------------------------------------------------

    def _serve(self) -> None:
        # Reconnects whatever ended the stream, until the worker stops; the
        # backoff starts again after each session that registered.
        retry = _transport.Retry(_transport.WORKER_STREAM, give_up=self._stopping.is_set)
        failures = 0
        while not self._stopping.is_set():
            ended = "OK"  # the status name that ended the session
            try:
                if self._session():
                    retry.reset()
                    failures = 0
            except grpc.RpcError as e:
                ended = e.code().name
                if ended in _transport.REFUSED:
                    # No retry changes that: stop, loudly, rather than knock for ever.
                    self.refused = f"{ended}: {e.details()}"
                    log.error("worker %s refused by the coordinator at %s (%s); stopping",
                              self.worker_id, self.coordinator, self.refused)
                    self._stopping.set()
                    return
                failures += 1
                # Say it once per outage, not on every retry.
                level = logging.WARNING if failures == 1 else logging.DEBUG
                if not self._stopping.is_set():
                    log.log(level, "worker %s cannot reach the coordinator at %s (%s: %s); "
                            "retrying with backoff", self.worker_id, self.coordinator,
                            e.code().name, e.details())
            except Exception:
                ended = "UNKNOWN"
                log.exception("worker %s stream failed", self.worker_id)
            finally:
                self.connected.clear()
                self._fence_all("stream to the coordinator was lost")
                if not self._stopping.is_set():
                    self._endpoints.failed(self._endpoint)  # reconnect to the next one
            pause = retry.pause(ended)
            if pause is None:
                return
            self._stopping.wait(pause)

    def _session(self) -> bool:
        """Register and serve assignments until the stream ends; True if it registered."""
        # SimpleQueue: its put and get are C, with no Condition of Python around them.
        outbox: queue.SimpleQueue[wpb.WorkerMessage | None] = queue.SimpleQueue()
        with self._lock:
            self._outbox, self._seq = outbox, 0
        registered = False
        self._send(wpb.WorkerMessage(register=wpb.Register(
            worker_id=self.worker_id,
            workflows=sorted(self.registry.workflows),
            steps=sorted(self.registry.steps),
            workflow_slots=self.concurrency,
            step_slots=self.step_concurrency,
            sdk=SDK,
            batches=True,
        )))
        self._endpoint, stub = self._stub.current()
        # Every call made for this session's assignments goes to the coordinator
        # that holds its stream (it runs them); only reconnecting moves on.
        self._session_stub = stub
        self.coordinator_address = self._endpoints.address(self._endpoint)
        peer_batches = False  # the coordinator reads WorkerBatch (from Registered)
        responses = stub.Connect(_batching.requests(outbox, lambda: peer_batches))
        try:
            for msg in (m for batch in responses for m in _batching.unbatch(batch)):
                body = msg.WhichOneof("body")
                if body == "reply":  # the commonest: one for each step recorded
                    with self._lock:
                        waiter = self._replies.pop(msg.reply.request_seq, None)
                    if waiter is not None:
                        waiter.done(msg.reply)
                elif body == "registered":
                    registered = True
                    peer_batches = msg.registered.batches
                    interval = msg.registered.heartbeat_interval.ToMilliseconds() / 1000 or 1.0
                    threading.Thread(target=self._heartbeat, args=(outbox, interval),
                                     name="keel-heartbeat", daemon=True).start()
                    log.info("worker %s connected to %s (%s)", self.worker_id, self.coordinator_address,
                             msg.registered.coordinator_id)
                    self.connected.set()
                elif body == "run_workflow":
                    self._start_execution(msg.run_workflow)
                elif body == "run_step":
                    self._start_step(msg.run_step)
                elif body == "revoke":
                    self._revoke(msg.revoke)
        finally:
            outbox.put(None)
            responses.cancel()
            with self._lock:
                self._outbox = None
                lost, self._replies = self._replies, {}
            for waiter in lost.values():
                waiter.done(wpb.Reply(error=wpb.CallError(
                    code=grpc.StatusCode.UNAVAILABLE.value[0], message="stream to the coordinator lost")))
        return registered

    def _send(self, msg: wpb.WorkerMessage) -> None:
        with self._lock:
            if self._outbox is None:
                return
            self._seq += 1
            msg.seq = self._seq
            self._outbox.put(msg)

    def stream_call(self, field: str, request: Any, stop: threading.Event) -> Any:
        """Send a request on the stream (cheaper than a unary call) and wait for its Reply."""
        waiter = _Waiter()
        with self._lock:
            if self._outbox is None:
                raise CoordinatorError("not connected to the coordinator", "UNAVAILABLE")
            self._seq += 1
            self._replies[self._seq] = waiter
            self._outbox.put(wpb.WorkerMessage(seq=self._seq, **{field: request}))
        reply = waiter.wait(stop)
        if reply.WhichOneof("result") == "error":
            raise CoordinatorError(reply.error.message, status_code(reply.error.code).name)
        return getattr(reply, field)

    def _end_stream(self) -> None:
        with self._lock:
            if self._outbox is not None:
                self._outbox.put(None)

    def _heartbeat(self, outbox: queue.SimpleQueue[Any], interval: float) -> None:
        while self._outbox is outbox and not self._stopping.wait(interval):
            if self._outbox is outbox:
                self._send(wpb.WorkerMessage(heartbeat=wpb.Heartbeat()))

    # -- assignments ---------------------------------------------------------

    def _start_execution(self, assignment: wpb.WorkflowAssignment) -> None:
        if assignment.name not in self.registry.workflows:
            log.error("assigned unknown workflow %r; ignoring", assignment.name)
            return
        execution = Execution(assignment, self._session_stub, self.registry, park_after=self.park_after,
                              spare_slots=lambda: len(self._executions) < self.concurrency,
                              stream=self.stream_call)
        execution.client_stub = self._client_stub
        with self._lock:
            old = self._executions.get(assignment.workflow_id)
            if old is not None:
                old.stop.set()
            self._executions[assignment.workflow_id] = execution
        self._runners.submit(self._run_execution, execution, name=f"keel-wf-{assignment.workflow_id[:20]}")

    def _run_execution(self, execution: Execution) -> None:
        try:
            execution.run()
        finally:
            with self._idle:
                if self._executions.get(execution.workflow_id) is execution:
                    del self._executions[execution.workflow_id]
                self._idle.notify_all()

    def _revoke(self, revoke: wpb.Revoke) -> None:
        with self._lock:
            execution = self._executions.get(revoke.workflow_id)
        if execution is not None and execution.epoch == revoke.epoch:
            log.info("%s revoked: %s", execution, revoke.reason)
            execution.stop.set()

    def _fence_all(self, reason: str) -> None:
        with self._lock:
            executions = list(self._executions.values())
        for execution in executions:
            execution.stop.set()
        if executions:
            log.info("worker %s: %d executions fenced off: %s", self.worker_id, len(executions), reason)

    def _start_step(self, assignment: wpb.StepAssignment) -> None:
        with self._lock:
            self._steps_running += 1
        self._steps_pool.submit(self._run_step, assignment, self._session_stub)

    def _run_step(self, a: wpb.StepAssignment, stub: Any) -> None:
        """Run an assigned step; its outcome goes to the coordinator that assigned it (`stub`)."""
        where = f"workflow {a.workflow_id} step {a.step_number} ({a.name}) attempt {a.attempt}"
        try:
            definition = self.registry.steps.get(a.name)
            started = now()
            outcome: Any
            if definition is None:
                outcome = _codec.error_info(LookupError(f"step {a.name!r} is not registered here"))
            else:
                try:
                    args, kwargs = _codec.decode_args(a.input)
                except (TypeError, ValueError) as e:  # an input this SDK cannot read
                    outcome = _codec.error_info(e)
                else:
                    outcome = run_step_function(definition, args, kwargs, self._stopping, lambda: where)
            request = wpb.RecordStepRequest(
                workflow_id=a.workflow_id, epoch=a.epoch, step_number=a.step_number, name=a.name,
                attempt=a.attempt, started_at=started,
            )
            record_outcome(
                lambda r: _transport.call(stub.RecordStep, r, f"recording {where}",
                                          give_up=self._stopping.is_set, sleep=self._stopping.wait),
                request, outcome,
            )
        except CoordinatorError as e:
            log.info("%s: outcome not recorded: %s", where, e)
        except LeaseLost:
            pass
        except Exception:
            log.exception("%s: bug in the worker runtime", where)
        finally:
            with self._idle:
                self._steps_running -= 1
                self._idle.notify_all()
