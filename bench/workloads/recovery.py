"""recovery: a 5-step workflow on worker A is SIGKILLed in step 3 (the peer's recovery.py).

Step 3 blocks (30 s) on its first attempt only; every step execution is traced
with its pid and time, so re-executions are counted and the restart is timed.

  spare    worker B is connected (and idle) before A is killed:
           rerun_ms         kill -> step 3 starts again on B (trace time)
           kill_to_done_ms  kill -> the client sees the result
  restart  no other worker: A is killed, then a fresh worker process spawned
           (what the peer measures: a new process recovers the workflow):
           restart_to_done_ms  spawn -> the client sees the result
           spawn_to_rerun_ms   spawn -> step 3 starts again
"""

from __future__ import annotations

import signal
import sys
import time
import uuid
from typing import Any

from bench.cluster import cluster, probe, start_worker, trace_lines
from bench.common import ms
from bench.workloads import main
from tests.harness import Cluster, Proc, wait_for
from worker import Client

# Bound of each wait for the recovered workflow (the peer allows its phase 2 120 s).
RESULT_TIMEOUT = 60.0


def start_and_reach_step3(c: Cluster, client: Client, tag: str) -> tuple[Proc, Any]:
    """Worker A (one workflow slot, so it cannot take anything else), the workflow
    started on it, and step 3 running."""
    a = start_worker(c, client, concurrency=1)
    handle = client.start_workflow("bench_recovery", tag, workflow_id=f"recovery-{tag}")
    wait_for(lambda: trace_lines(c, f"{tag}-3"), "step 3 to start on worker A", timeout=60)
    pid = trace_lines(c, f"{tag}-3")[0][0]
    if pid != a.pid:
        raise RuntimeError(f"step 3 ran on pid {pid}, not on worker A ({a.pid})")
    return a, handle


def counts(c: Cluster, tag: str) -> dict[str, int]:
    return {str(i): len(trace_lines(c, f"{tag}-{i}")) for i in range(1, 6)}


def finish(c: Cluster, handle: Any, tag: str, since: float, what: str) -> Any:
    """The workflow's result, or a failure saying how far it got."""
    try:
        return handle.result(timeout=RESULT_TIMEOUT)
    except Exception as e:
        raise RuntimeError(f"{what}: the workflow did not finish ({e}); {time.time() - since:.1f} s "
                           f"after; step executions {counts(c, tag)}, status {handle.status()}") from e


def rerun_time(c: Cluster, tag: str) -> float:
    """When step 3 started its second execution."""
    lines = wait_for(lambda: len(trace_lines(c, f"{tag}-3")) >= 2 and trace_lines(c, f"{tag}-3"),
                     "step 3 to run again", timeout=60)
    return float(lines[1][1])


def spare(store: str) -> dict[str, Any]:
    tag = "spare-" + uuid.uuid4().hex[:8]
    with cluster(store, "recovery") as c:
        client = c.client()
        a, handle = start_and_reach_step3(c, client, tag)
        # B starts now and proves it serves: A's only slot is taken, so the probe
        # can only run on B.
        b = c.start_worker("bench.flows", concurrency=1, wait=False)
        if probe(client, b) != b.pid:
            raise RuntimeError("the readiness probe did not run on worker B")
        t_kill = time.time()
        a.kill()
        result = finish(c, handle, tag, t_kill, "worker A killed, B connected")
        t_done = time.time()
        t_rerun = rerun_time(c, tag)
        assert result == [1, 2, 3, 4, 5], result
        rerun_pid = trace_lines(c, f"{tag}-3")[1][0]
        return {"rerun_ms": ms(t_rerun - t_kill, 1), "kill_to_done_ms": ms(t_done - t_kill, 1),
                "rerun_on_b": rerun_pid == b.pid, "step_exec_counts": counts(c, tag)}


def restart(store: str) -> dict[str, Any]:
    tag = "restart-" + uuid.uuid4().hex[:8]
    with cluster(store, "recovery") as c:
        client = c.client()
        a, handle = start_and_reach_step3(c, client, tag)
        time.sleep(0.2)  # well inside step 3's block, as the peer does
        a.signal(signal.SIGKILL)
        a.popen.wait(10)
        t_spawn = time.time()
        c.start_worker("bench.flows", concurrency=1, wait=False)
        result = finish(c, handle, tag, t_spawn, "worker A killed, a new worker spawned")
        t_done = time.time()
        assert result == [1, 2, 3, 4, 5], result
        return {"restart_to_done_ms": ms(t_done - t_spawn, 1),
                "spawn_to_rerun_ms": ms(rerun_time(c, tag) - t_spawn, 1),
                "step_exec_counts": counts(c, tag)}


def attempt(variant: Any, store: str) -> dict[str, Any]:
    """A variant's figures, or its failure as a figure: one stuck recovery must
    not hide the other variant's numbers."""
    try:
        figures: dict[str, Any] = variant(store)
        return figures
    except (RuntimeError, AssertionError) as e:
        print(f"recovery ({variant.__name__}) on {store} FAILED: {e}", file=sys.stderr)
        return {"error": str(e), "step_exec_counts": {}}


def run(store: str, quick: bool) -> dict[str, Any]:
    s = attempt(spare, store)
    r = attempt(restart, store)
    return {
        # None where a variant failed (its "error" says why).
        "rerun_ms": s.get("rerun_ms"), "kill_to_done_ms": s.get("kill_to_done_ms"),
        "restart_to_done_ms": r.get("restart_to_done_ms"), "spawn_to_rerun_ms": r.get("spawn_to_rerun_ms"),
        "spare": s, "restart": r,
        "step_exec_counts": r["step_exec_counts"],
        "steps_1_2_reexecuted": any(v.get(k, 0) > 1 for v in (s["step_exec_counts"], r["step_exec_counts"])
                                    for k in ("1", "2")),
    }


if __name__ == "__main__":
    main("recovery", run)
