"""`worker run MODULE [MODULE...]`: import workflow modules and serve them."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from ._registry import REGISTRY
from ._runtime import Worker


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="worker", description="A keel worker process.")
    verbs = parser.add_subparsers(dest="verb", required=True)
    run = verbs.add_parser("run", help="import modules of workflows and steps and serve them")
    run.add_argument("modules", nargs="+", metavar="MODULE",
                     help="dotted module names, e.g. examples.checkout")
    env = os.environ.get
    run.add_argument("--coordinator", default=env("KEEL_COORDINATOR", "127.0.0.1:50051"),
                     help="coordinator address (env KEEL_COORDINATOR, default 127.0.0.1:50051)")
    run.add_argument("--concurrency", type=int, default=int(env("KEEL_CONCURRENCY", "16")),
                     help="workflow executions at once (env KEEL_CONCURRENCY, default 16)")
    run.add_argument("--step-concurrency", type=int,
                     default=int(env("KEEL_STEP_CONCURRENCY", "32")),
                     help="assigned steps at once (env KEEL_STEP_CONCURRENCY, default 32)")
    run.add_argument("--worker-id", default=env("KEEL_WORKER_ID"),
                     help="stable worker ID (env KEEL_WORKER_ID, default host-pid-random)")
    run.add_argument("--grace", type=float, default=float(env("KEEL_GRACE", "30")),
                     help="seconds to finish work on SIGTERM (env KEEL_GRACE, default 30)")
    run.add_argument("--park-after", type=float, default=float(env("KEEL_PARK_AFTER", "1")),
                     help="seconds a waiting workflow keeps its slot before giving it back "
                          "(env KEEL_PARK_AFTER, default 1)")
    run.add_argument("--token", default=env("KEEL_TOKEN"), metavar="SECRET",
                     help="role token (worker or admin) sent on every call (env KEEL_TOKEN, "
                          "preferred: a command line is visible to other users)")
    run.add_argument("--tls-ca", default=env("KEEL_TLS_CA"), metavar="PEM",
                     help="connect with TLS, trusting this CA (env KEEL_TLS_CA)")
    run.add_argument("--tls-cert", default=env("KEEL_TLS_CERT"), metavar="PEM",
                     help="client certificate for mutual TLS (env KEEL_TLS_CERT)")
    run.add_argument("--tls-key", default=env("KEEL_TLS_KEY"), metavar="PEM",
                     help="the client certificate's key (env KEEL_TLS_KEY)")
    run.add_argument("--log-level", default=env("KEEL_LOG_LEVEL", "INFO"),
                     help="logging level (env KEEL_LOG_LEVEL, default INFO)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Our level applies to our loggers; libraries stay at WARNING.
    logging.getLogger("worker").setLevel(args.log_level.upper())
    sys.path.insert(0, os.getcwd())
    for module in args.modules:
        try:
            importlib.import_module(module)
        except ImportError as e:
            print(f"worker: cannot import {module!r}: {e}", file=sys.stderr)
            return 2
    if not REGISTRY.workflows and not REGISTRY.steps:
        print(f"worker: {', '.join(args.modules)} define no @workflow or @step", file=sys.stderr)
        return 2
    try:
        worker = Worker(args.coordinator, concurrency=args.concurrency,
                        step_concurrency=args.step_concurrency, worker_id=args.worker_id,
                        grace=args.grace, park_after=args.park_after, token=args.token,
                        tls_ca=args.tls_ca, tls_cert=args.tls_cert, tls_key=args.tls_key)
    except ValueError as e:
        print(f"worker: {e}", file=sys.stderr)
        return 2
    worker.run()
    if worker.refused:
        print(f"worker: refused by the coordinator: {worker.refused}", file=sys.stderr)
        return 2
    return 0
