"""The operating verbs of the CLI: resume, fork, schedule, gc, and what `list`
and `serve` take for them (--since, --page-token, --retention). Durations read
as 90s, 15m, 12h, 30d."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from keel.v1 import client_service_pb2 as cpb
from keel.v1 import common_pb2 as pb

from .core.engine import Engine, EngineConfig
from .core.errors import CoordinatorError
from .core.tokens import parse_duration_ms
from .settings import redact_url
from .store import StoreUnavailable, store_from_url

OPS_VERBS = ("resume", "fork", "schedule")


def duration_s(text: str) -> float:
    """An argparse type: '90s', '15m', '12h', '30d' in seconds."""
    try:
        return parse_duration_ms(text) / 1000
    except CoordinatorError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def since(text: str) -> Timestamp:
    """An argparse type: an ISO 8601 time (UTC unless it says), or a duration ago ('2h')."""
    ts = Timestamp()
    try:
        when = datetime.datetime.fromisoformat(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        ts.FromMilliseconds(int(when.timestamp() * 1000))
        return ts
    except ValueError:
        pass
    ago = duration_s(text)
    ts.FromMilliseconds(int((datetime.datetime.now(datetime.timezone.utc).timestamp() - ago) * 1000))
    return ts


def add_list_flags(ls: argparse.ArgumentParser) -> None:
    ls.add_argument("--since", type=since, default=None,
                    help="only workflows created since then: an ISO 8601 time, or a duration ago (2h)")
    ls.add_argument("--page-token", default="", help="the next page of an earlier listing")


def list_request_extras(args: argparse.Namespace) -> dict[str, Any]:
    """ListWorkflowsRequest fields from --since and --page-token."""
    extras: dict[str, Any] = {"page_token": args.page_token}
    if args.since is not None:
        extras["created_after"] = args.since
    return extras


def add_ops_verbs(verbs: Any, admin: Callable[..., argparse.ArgumentParser],
                  db_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    admin("resume", "make a CANCELLED or ERROR workflow run again after its last successful step")
    f = admin("fork", "start a copy of a workflow whose steps from --from-step on run again")
    f.add_argument("--from-step", type=int, required=True, help="the first step that runs again (0: all)")
    f.add_argument("--new-id", default="", help="the new workflow's ID (default: a random one)")

    sch = admin("schedule", "cron schedules: set, list, delete, pause, resume", with_id=False)
    sch.add_argument("action", choices=["set", "list", "delete", "pause", "resume"])
    sch.add_argument("name", nargs="?", default="")
    sch.add_argument("--workflow", default="", help="set: the workflow each tick starts")
    sch.add_argument("--cron", default="", help="set: five fields, or six with seconds last")
    sch.add_argument("--args", default="[]", help="set: the workflow's arguments, a JSON array")
    sch.add_argument("--timezone", default="UTC", help="set: IANA time zone of the expression")

    gc = verbs.add_parser("gc", help="delete finished workflows older than --older-than, with their history")
    db_flag(gc)
    gc.add_argument("--older-than", type=duration_s, required=True, help="e.g. 30d, 12h")
    gc.add_argument("--dry-run", action="store_true", help="only count them")


def ops_call(args: argparse.Namespace, stub: Any) -> None:
    """Run an operating verb over the client service (grpc.RpcError escapes)."""
    if args.verb == "resume":
        _print(stub.ResumeWorkflow(cpb.ResumeWorkflowRequest(workflow_id=args.workflow_id), timeout=30))
    elif args.verb == "fork":
        request = cpb.ForkWorkflowRequest(workflow_id=args.workflow_id, start_step=args.from_step,
                                          new_workflow_id=args.new_id)
        _print(stub.ForkWorkflow(request, timeout=30))
    elif args.action == "list":
        for s in stub.ListSchedules(cpb.ListSchedulesRequest(), timeout=30).schedules:
            state = "paused" if s.paused else f"next {s.next_tick.ToJsonString()}"
            print(f"{s.name}\t{s.workflow_name}\t{s.cron}\t{s.timezone}\t{state}")
    elif not args.name:
        raise SystemExit(f"coordinator: schedule {args.action} needs a NAME")
    elif args.action == "set":
        request = cpb.SetScheduleRequest(name=args.name, workflow_name=args.workflow, cron=args.cron,
                                         timezone=args.timezone, input=_arguments(args.args))
        _print(stub.SetSchedule(request, timeout=30))
    elif args.action == "delete":
        stub.DeleteSchedule(cpb.DeleteScheduleRequest(name=args.name), timeout=30)
        print(f"schedule {args.name} deleted")
    elif args.action == "pause":
        _print(stub.PauseSchedule(cpb.PauseScheduleRequest(name=args.name), timeout=30))
    else:
        _print(stub.ResumeSchedule(cpb.ResumeScheduleRequest(name=args.name), timeout=30))


def _arguments(text: str) -> pb.Payload:
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise SystemExit(f"coordinator: --args is not JSON: {e}") from None
    if isinstance(doc, list):
        doc = {"args": doc, "kwargs": {}}
    return pb.Payload(encoding="json", data=json.dumps(doc).encode())


def _print(msg: Any) -> None:
    print(json.dumps(json_format.MessageToDict(msg), indent=2))


def gc_verb(args: argparse.Namespace) -> int:
    """`coordinator gc`: straight on the store, in small batches, like the
    --retention sweep of a running coordinator."""
    async def sweep() -> int:
        store = store_from_url(args.db)
        await store.open()
        try:
            engine = Engine(store, EngineConfig(node_id="gc"))
            await engine.sync_clock()
            return await engine.collect_garbage(int(args.older_than * 1000), args.dry_run)
        finally:
            await store.close()

    try:
        count = asyncio.run(sweep())
    except (StoreUnavailable, ValueError) as e:
        print(f"coordinator: {e}", file=sys.stderr)
        return 2
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{redact_url(args.db)}: {verb} {count} finished workflows older than {args.older_than:.0f} s")
    return 0
