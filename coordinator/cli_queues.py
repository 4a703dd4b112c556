"""`coordinator queue set|list|show`: a queue's limits, through the client RPCs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import grpc
from keel.v1 import client_service_pb2 as cpb
from keel.v1 import client_service_pb2_grpc as cgrpc

from .cli_security import admin_channel


def add_queue_verbs(verbs: argparse._SubParsersAction,  # type: ignore[type-arg]
                    admin_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    q = verbs.add_parser("queue", help="set, list or show queues (their limits, what waits and runs)")
    actions = q.add_subparsers(dest="queue_verb", required=True)
    s = actions.add_parser("set", help="create a queue or replace its limits (unset: no limit)")
    s.add_argument("name")
    s.add_argument("--concurrency", type=int, default=0,
                   help="at most N running at once, across all coordinators and workers")
    s.add_argument("--worker-concurrency", type=int, default=0, help="at most N running on any one worker")
    s.add_argument("--rate", default="", metavar="LIMIT/SECONDS",
                   help="at most LIMIT starts in any window of SECONDS, e.g. 100/60")
    s.add_argument("--partition-concurrency", type=int, default=0,
                   help="at most N running at once per partition key")
    admin_flags(s)
    admin_flags(actions.add_parser("list", help="every queue: limits, enqueued, running"))
    show = actions.add_parser("show", help="one queue")
    show.add_argument("name")
    admin_flags(show)


def _limits(args: argparse.Namespace) -> cpb.QueueLimits:
    limits = cpb.QueueLimits(concurrency=args.concurrency, worker_concurrency=args.worker_concurrency,
                             partition_concurrency=args.partition_concurrency)
    if args.rate:
        count, _, seconds = args.rate.partition("/")
        try:
            limits.rate_limit = int(count)
            limits.rate_period.FromMilliseconds(int(float(seconds) * 1000))
        except ValueError:
            raise ValueError(f"--rate takes LIMIT/SECONDS, e.g. 100/60, got {args.rate!r}") from None
    return limits


def _line(q: cpb.QueueInfo) -> str:
    lim = q.limits
    rate = f"{lim.rate_limit}/{lim.rate_period.ToMilliseconds() / 1000:g}s" if lim.rate_limit else "-"
    return "\t".join([
        q.name, f"concurrency={lim.concurrency or '-'}", f"worker={lim.worker_concurrency or '-'}",
        f"rate={rate}", f"partition={lim.partition_concurrency or '-'}",
        f"enqueued={q.enqueued}", f"running={q.running}"])


def queue_verb(args: argparse.Namespace) -> int:
    try:
        with admin_channel(args) as channel:
            stub = cgrpc.ClientServiceStub(channel)
            if args.queue_verb == "set":
                resp = stub.SetQueue(cpb.SetQueueRequest(name=args.name, limits=_limits(args)), timeout=30)
                print(_line(resp.queue))
            elif args.queue_verb == "show":
                print(_line(stub.GetQueue(cpb.GetQueueRequest(name=args.name), timeout=30).queue))
            else:
                for q in stub.ListQueues(cpb.ListQueuesRequest(), timeout=30).queues:
                    print(_line(q))
    except ValueError as e:
        print(f"coordinator: {e}", file=sys.stderr)
        return 2
    except grpc.RpcError as e:
        print(f"coordinator: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    return 0
