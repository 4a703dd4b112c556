"""select_wake: a message sent -> the select it wins recorded (issue 11).

  parked : n workflows each wait in select([go_recv, go_sleep(3600)]) until
           parked (their slot given back); then one message each, paced, and
           the delay from the send to the SELECT step's commit (its
           completed_at, the coordinator's clock on this same host).
  held   : one workflow runs n such selects in a row, announcing each with an
           event; the message goes as soon as the announcement is seen, while
           the coordinator still holds the select (before it would park).
The target: within 1.5x of get_event delivery (events' paced delay, measured
here too on the same cluster as `get_event`).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from bench.cluster import cluster, start_worker
from bench.common import med, pct
from bench.workloads import main
from bench.workloads.events import observe
from worker import Client


def decided_at(client: Client, workflow_id: str, after_step: int = -1) -> list[float]:
    """When each SELECT of the workflow was committed (s since the epoch), in order."""
    steps = client.retrieve_workflow(workflow_id).steps()
    return [s.completed_at.timestamp() for s in steps if s.kind == "SELECT" and s.step_number > after_step]


def figures(delays: list[float]) -> dict[str, float]:
    return {"p50_ms": round(med(delays) * 1e3, 2), "p99_ms": round(pct(delays, 99) * 1e3, 2),
            "max_ms": round(max(delays) * 1e3, 2)}


def parked(client: Client, n: int, tag: str, pause: float) -> dict[str, Any]:
    ids = [f"sel-parked-{tag}-{i}" for i in range(n)]
    for wid in ids:
        client.start_workflow("bench_select_parked", workflow_id=wid)
    deadline = time.monotonic() + 120
    while any(client.get_workflow(wid).epoch < 2 for wid in ids):
        if time.monotonic() > deadline:
            raise RuntimeError("the selects did not all park within 120 s")
        time.sleep(0.2)
    sent = {}
    for wid in ids:
        sent[wid] = time.time()
        client.send(wid, "go", topic="go")
        time.sleep(pause)
    for wid in ids:
        client.retrieve_workflow(wid).result(timeout=60)
    return figures([decided_at(client, wid)[0] - sent[wid] for wid in ids])


def held(client: Client, n: int, tag: str) -> dict[str, Any]:
    wid = f"sel-held-{tag}"
    handle = client.start_workflow("bench_select_held", n, workflow_id=wid)
    sent = []
    for i in range(n):
        if client.get_event(wid, f"w{i}", timeout=30) is None:
            raise RuntimeError(f"select {i} of {wid} was never announced")
        sent.append(time.time())
        client.send(wid, i, topic="go")
    handle.result(timeout=60)
    return figures([d - s for d, s in zip(decided_at(client, wid), sent, strict=True)])


def run(store: str, quick: bool) -> dict[str, Any]:
    n, pause = (10 if quick else 100), 0.02
    with cluster(store, "select_wake") as c:
        client = c.client()
        start_worker(c, client, concurrency=16)
        tag = uuid.uuid4().hex[:8]
        held(client, 5, "warmup-" + tag)
        held_figures = held(client, n, tag)
        parked_figures = parked(client, n, tag, pause)
        baseline = observe(client, n, pause, "sel-ev-" + tag)
    base = baseline["delay_ms_p50"]
    return {"n": n, "held": held_figures, "parked": parked_figures,
            "get_event": {"p50_ms": base, "p99_ms": baseline["delay_ms_p99"]},
            "held_vs_get_event": round(held_figures["p50_ms"] / base, 2) if base else None,
            "parked_vs_get_event": round(parked_figures["p50_ms"] / base, 2) if base else None}


if __name__ == "__main__":
    main("select_wake", run)
