"""`coordinator serve`, `coordinator migrate`, `coordinator token` and the admin
verbs (list, show, steps, events, cancel); TLS and token flags in cli_security.py;
resume, fork, schedule and gc in cli_ops.py; `queue` verbs in cli_queues.py."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import grpc
from google.protobuf import json_format
from keel.v1 import client_service_pb2 as cpb
from keel.v1 import client_service_pb2_grpc as cgrpc
from keel.v1 import common_pb2 as pb

from .cli_ops import (
    OPS_VERBS,
    add_list_flags,
    add_ops_verbs,
    duration_s,
    gc_verb,
    list_request_extras,
    ops_call,
)
from .cli_queues import add_queue_verbs, queue_verb
from .cli_security import add_client_flags, add_serve_flags, add_token_verbs, admin_channel, token_verb
from .server import serve
from .settings import Settings, redact_url
from .store import StoreUnavailable, check, migrate

DEFAULTS = Settings()


def _env(name: str, default: Any, cast: Callable[[str], Any] = str) -> Any:
    raw = os.environ.get(name)
    return default if raw is None else cast(raw)


def _flag(p: argparse.ArgumentParser, flag: str, env: str, default: Any, help: str,
          cast: Callable[[str], Any] = str) -> None:
    p.add_argument(flag, default=_env(env, default, cast), type=cast,
                   help=f"{help} (env {env}, default {default!r})")


def _run(main: Coroutine[Any, Any, None], loop: str) -> None:
    """Run the service on uvloop where asked and installed: about 8 % less
    coordinator CPU per workflow than asyncio's own loop (bench/FINDINGS.md)."""
    if loop == "uvloop":
        try:
            import uvloop
        except ImportError:  # not built for this platform: asyncio's loop does the same job
            pass
        else:
            uvloop.run(main)
            return
    asyncio.run(main)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coordinator", description="The keel workflow coordinator.")
    verbs = parser.add_subparsers(dest="verb", required=True)

    s = verbs.add_parser("serve", help="run the coordinator service")
    _flag(s, "--listen", "KEEL_LISTEN", DEFAULTS.listen, "address to listen on, HOST:PORT")
    _flag(s, "--db", "KEEL_DB", DEFAULTS.db_url,
          "store URL: sqlite:///relative.db, sqlite:////abs.db or postgresql://user@host:port/db")
    _flag(s, "--node-id", "KEEL_NODE_ID", "", "name of this coordinator's leases (default HOST:PORT)")
    _flag(s, "--heartbeat-interval", "KEEL_HEARTBEAT_INTERVAL", DEFAULTS.heartbeat_interval,
          "seconds between worker heartbeats", float)
    _flag(s, "--worker-timeout", "KEEL_WORKER_TIMEOUT", DEFAULTS.worker_timeout,
          "seconds of silence before a worker's work is handed to others", float)
    _flag(s, "--lease-ttl", "KEEL_LEASE_TTL", DEFAULTS.lease_ttl,
          "seconds a claimed workflow stays this coordinator's without renewal", float)
    _flag(s, "--node-timeout", "KEEL_NODE_TIMEOUT", DEFAULTS.node_timeout,
          "seconds of silence before other coordinators take this one's work over", float)
    _flag(s, "--step-timeout", "KEEL_STEP_TIMEOUT", DEFAULTS.step_timeout,
          "seconds a dispatched step attempt may run when its workflow set no timeout", float)
    _flag(s, "--grace", "KEEL_GRACE", DEFAULTS.grace, "seconds to let calls finish on SIGTERM", float)
    _flag(s, "--max-message-bytes", "KEEL_MAX_MESSAGE_BYTES", DEFAULTS.max_message_bytes,
          "largest gRPC message accepted", int)
    _flag(s, "--max-payload-bytes", "KEEL_MAX_PAYLOAD_BYTES", DEFAULTS.max_payload_bytes,
          "largest input, output or error accepted", int)
    _flag(s, "--log-level", "KEEL_LOG_LEVEL", "INFO", "logging level")
    s.add_argument("--event-loop", choices=["uvloop", "asyncio"],
                   default=os.environ.get("KEEL_EVENT_LOOP", "uvloop"),
                   help="uvloop (a cheaper loop, where installed; else asyncio) or asyncio's own "
                        "(env KEEL_EVENT_LOOP, default 'uvloop')")
    _flag(s, "--retention", "KEEL_RETENTION", None,
          "delete finished workflows older than this (90s, 15m, 12h, 30d); none: keep them", duration_s)
    add_serve_flags(s)
    _flag(s, "--http", "KEEL_HTTP", DEFAULTS.http,
          "serve the web console, /metrics, /healthz and /readyz on HOST:PORT (off when empty)")
    s.add_argument("--metrics-open", action="store_true",
                   default=os.environ.get("KEEL_METRICS_OPEN", "").lower() in ("1", "true", "yes", "on"),
                   help="with --require-auth, serve /metrics without a token (env KEEL_METRICS_OPEN=1)")

    def admin(name: str, help: str, with_id: bool = True) -> argparse.ArgumentParser:
        a = verbs.add_parser(name, help=help)
        _flag(a, "--address", "KEEL_COORDINATOR", DEFAULTS.listen, "coordinator address")
        add_client_flags(a)
        if with_id:
            a.add_argument("workflow_id")
        return a

    ls = admin("list", "list workflows, newest first", with_id=False)
    ls.add_argument("--status", choices=["ENQUEUED", "PENDING", "SUCCESS", "ERROR", "CANCELLED"])
    ls.add_argument("--name", default="")
    ls.add_argument("--limit", type=int, default=20)
    add_list_flags(ls)
    admin("show", "show one workflow")
    admin("steps", "list a workflow's recorded steps")
    ev = admin("events", "print a workflow's events (all so far; --follow: live, until it ends)")
    ev.add_argument("--follow", action="store_true")
    admin("cancel", "cancel a pending workflow")

    def admin_flags(a: argparse.ArgumentParser) -> None:
        _flag(a, "--address", "KEEL_COORDINATOR", DEFAULTS.listen, "coordinator address")
        add_client_flags(a)

    add_queue_verbs(verbs, admin_flags)

    m = verbs.add_parser("migrate", help="bring a store's schema to this version (also done at start-up)")
    _flag(m, "--db", "KEEL_DB", DEFAULTS.db_url, "store URL, as for serve")
    m.add_argument("--check", action="store_true",
                   help="change nothing: exit 0 if the store is at the current schema version, else 1")
    def db_flag(p: argparse.ArgumentParser) -> None:
        _flag(p, "--db", "KEEL_DB", DEFAULTS.db_url, "store URL, as for serve")

    add_token_verbs(verbs, db_flag)
    add_ops_verbs(verbs, admin, db_flag)
    return parser


def _migrate_verb(args: argparse.Namespace) -> int:
    try:
        state = asyncio.run(check(args.db) if args.check else migrate(args.db))
    except (StoreUnavailable, ValueError) as e:
        print(f"coordinator: {e}", file=sys.stderr)
        return 2
    where = redact_url(args.db)
    if state.up_to_date:
        print(f"{where}: schema version {state.current}, up to date")
        return 0
    if state.current > state.latest:
        print(f"{where}: schema version {state.current} is newer than this coordinator's "
              f"({state.latest}): upgrade keel")
    else:
        print(f"{where}: schema version {state.current}, {state.latest - state.current} migrations "
              f"pending (run: coordinator migrate --db URL)")
    return 1


def _print(msg: Any) -> None:
    print(json.dumps(json_format.MessageToDict(msg), indent=2))


def _admin(args: argparse.Namespace) -> int:
    with admin_channel(args) as channel:
        stub = cgrpc.ClientServiceStub(channel)
        try:
            if args.verb == "list":
                status = pb.WorkflowStatus.Value(f"WORKFLOW_STATUS_{args.status}") if args.status else 0
                resp = stub.ListWorkflows(cpb.ListWorkflowsRequest(
                    status=status, name=args.name, limit=args.limit, **list_request_extras(args)), timeout=30)
                for wf in resp.workflows:
                    status_name = pb.WorkflowStatus.Name(wf.status).removeprefix("WORKFLOW_STATUS_")
                    print(f"{wf.workflow_id}\t{wf.name}\t{status_name}\t{wf.created_at.ToJsonString()}")
                if resp.next_page_token:
                    print(f"more: --page-token {resp.next_page_token}", file=sys.stderr)
            elif args.verb == "show":
                _print(stub.GetWorkflow(cpb.GetWorkflowRequest(workflow_id=args.workflow_id), timeout=30))
            elif args.verb == "steps":
                every, first, more = cpb.ListStepsResponse(), 0, True
                while more:  # ListSteps answers in pages; print them as one
                    page = stub.ListSteps(cpb.ListStepsRequest(
                        workflow_id=args.workflow_id, from_step_number=first), timeout=30)
                    every.steps.extend(page.steps)
                    more = page.more and bool(page.steps)
                    first = page.steps[-1].step_number + 1 if page.steps else first
                _print(every)
            elif args.verb == "events":
                request = cpb.WatchEventsRequest(workflow_id=args.workflow_id)
                # Without --follow, stop once the events so far have arrived.
                stream = stub.WatchEvents(request, timeout=None if args.follow else 2)
                try:
                    for event in stream:
                        print(json.dumps(json_format.MessageToDict(event)))
                except grpc.RpcError as e:
                    if e.code() != grpc.StatusCode.DEADLINE_EXCEEDED or args.follow:
                        raise
            elif args.verb == "cancel":
                request = cpb.CancelWorkflowRequest(workflow_id=args.workflow_id)
                _print(stub.CancelWorkflow(request, timeout=30))
            elif args.verb in OPS_VERBS:
                ops_call(args, stub)
        except grpc.RpcError as e:
            print(f"coordinator: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.verb == "migrate":
        return _migrate_verb(args)
    if args.verb == "token":
        return token_verb(args)
    if args.verb == "gc":
        return gc_verb(args)
    if args.verb == "queue":
        return queue_verb(args)
    if args.verb != "serve":
        return _admin(args)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Our level applies to our loggers; libraries stay at WARNING.
    logging.getLogger("coordinator").setLevel(args.log_level.upper())
    settings = Settings(
        listen=args.listen,
        db_url=args.db,
        node_id=args.node_id,
        heartbeat_interval=args.heartbeat_interval,
        worker_timeout=args.worker_timeout,
        lease_ttl=args.lease_ttl,
        node_timeout=args.node_timeout,
        step_timeout=args.step_timeout,
        grace=args.grace,
        max_message_bytes=args.max_message_bytes,
        max_payload_bytes=args.max_payload_bytes,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        require_auth=args.require_auth,
        max_workers=args.max_workers,
        max_watch_streams=args.max_watch_streams,
        retention=args.retention,
        http=args.http,
        metrics_open=args.metrics_open,
    )
    try:
        _run(serve(settings), args.event_loop)
    except (OSError, ValueError) as e:
        print(f"coordinator: {e}", file=sys.stderr)
        return 2
    return 0
