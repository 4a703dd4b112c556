"""`make demo`: a coordinator on SQLite with its web console, a worker, and one
checkout, end to end; the console shows the checkout's timeline (its select
and its events) and stays up until Ctrl-C (with --exit, or without a
terminal, the demo ends after the checkout).

With --no-spawn it only starts the workflow, against a coordinator and a
worker you run yourself (see examples/checkout.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from worker import Client  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(client: Client, coordinator: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if coordinator.poll() is not None:
            sys.exit(f"the coordinator exited:\n{log.read_text()}")
        try:
            client.list_workflows(limit=1)
            return
        except Exception:
            time.sleep(0.1)
    sys.exit(f"the coordinator did not start within 20 s:\n{log.read_text()}")


def run_checkout(address: str, console: str | None = None) -> str:
    order = f"order-{uuid.uuid4().hex[:6]}"
    with Client(address) as client:
        print(f"starting workflow checkout for {order}")
        if console:
            print(f"watch it live: {console}#/workflow/{order}")
        handle = client.start_workflow("checkout", order, ["keyboard", "mouse"], 12900, workflow_id=order)
        result = handle.result(timeout=60)
        print(f"workflow {handle.workflow_id} finished: {handle.status()}")
        print(f"result: {result}")
        print("recorded steps (each checkpointed by the coordinator before the workflow went on):")
        for s in handle.steps():
            took = (s.completed_at - s.started_at).total_seconds() * 1000
            print(f"  step {s.step_number}: {s.kind:<9} {s.name:<14} -> {s.output!r} ({took:.0f} ms)")
    return order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-spawn", action="store_true", help="use a running coordinator and worker")
    parser.add_argument("--address", default="127.0.0.1:50051")
    parser.add_argument("--exit", action="store_true", help="stop once the checkout is done")
    args = parser.parse_args()
    if args.no_spawn:
        run_checkout(args.address)
        return

    tmp = Path(tempfile.mkdtemp(prefix="keel-demo-"))
    address = f"127.0.0.1:{free_port()}"
    console = f"http://127.0.0.1:{free_port()}/"
    db = f"sqlite:///{tmp / 'demo.db'}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = tmp / "coordinator.log"
    print(f"coordinator on {address}, store {db}")
    print(f"console: {console}")
    coordinator = subprocess.Popen(
        [sys.executable, "-m", "coordinator", "serve", "--listen", address, "--db", db,
         "--http", console.removeprefix("http://").rstrip("/")],
        cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    worker: subprocess.Popen[bytes] | None = None
    try:
        with Client(address) as client:
            wait_ready(client, coordinator, log)
        worker = subprocess.Popen(
            [sys.executable, "-m", "worker", "run", "examples.checkout", "--coordinator", address,
             "--log-level", "WARNING"], cwd=ROOT, env=env)
        order = run_checkout(address, console)
        if not args.exit and sys.stdin.isatty():
            print(f"\nthe console is up: {console}#/workflow/{order}  (Ctrl-C to stop)")
            try:
                while coordinator.poll() is None:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                print()
    finally:
        procs = [p for p in (worker, coordinator) if p is not None]
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"done; the coordinator's log is in {log}")


if __name__ == "__main__":
    main()
