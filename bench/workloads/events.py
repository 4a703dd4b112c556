"""events: a workflow sets n events e1..en with a step between (the peer's events.py).

Each event's value is time.time() just before set_event, so an observer can
compute set -> observed delay. Two observers run at once:
  get_event    one thread calls Client.get_event(wfid, "e{i}", timeout=10) in
               order, started before the workflow exists (like the peer's reader)
  watch        another iterates Client.watch_events(wfid) (started once the
               workflow exists: watching an unknown ID is NOT_FOUND)
  paced   : the step between events sleeps `pause`, so the readers already wait
            when each set happens (pure wake-up latency)
  unpaced : the step is a no-op (readers may lag; shows the back-to-back cost)
set_ms_* is the cost of ctx.set_event measured inside the workflow. A timeout
probe shows get_event's value and real blocking time for keys never set.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from bench.cluster import cluster, start_worker
from bench.common import med, pct
from bench.workloads import main
from worker import Client


def observe(client: Client, n: int, pause: float, wfid: str) -> dict[str, Any]:
    delays: list[float] = []
    watch_delays: list[float] = []
    missing = 0

    def reader() -> None:
        nonlocal missing
        for i in range(1, n + 1):
            v = client.get_event(wfid, f"e{i}", timeout=10)
            if v is None:
                missing += 1
            else:
                delays.append(time.time() - v)

    def watcher() -> None:
        for event in client.watch_events(wfid):
            if event.key.startswith("e"):
                watch_delays.append(time.time() - event.value)

    r = threading.Thread(target=reader)
    r.start()
    t0 = time.perf_counter()
    handle = client.start_workflow("bench_events", n, pause, workflow_id=wfid)
    w = threading.Thread(target=watcher)
    w.start()
    set_costs = handle.result(timeout=120)
    wf_s = time.perf_counter() - t0
    r.join(60)
    w.join(60)
    if r.is_alive() or w.is_alive():
        raise RuntimeError(f"event observers of {wfid} still running 60 s after the workflow ended")
    return {
        "set_ms_p50": round(med(set_costs) * 1e3, 2),
        "set_ms_p99": round(pct(set_costs, 99) * 1e3, 2),
        "delay_ms_p50": round(med(delays) * 1e3, 2),
        "delay_ms_p99": round(pct(delays, 99) * 1e3, 2),
        "delay_ms_max": round(max(delays) * 1e3, 2),
        "missing": missing,
        "watch_delay_ms_p50": round(med(watch_delays) * 1e3, 2),
        "watch_delay_ms_p99": round(pct(watch_delays, 99) * 1e3, 2),
        "watch_seen": len(watch_delays),
        "wf_s": round(wf_s, 3),
    }


def timeout_probe(client: Client, wfid: str) -> dict[str, Any]:
    """The peer's probe: what get_event returns for keys never set, and how long it blocks."""
    out = {}
    for label, wid, key, to in (("unset_key_0.5s", wfid, "never", 0.5),
                                ("unset_key_2s", wfid, "never", 2.0),
                                ("unset_key_0s", wfid, "never", 0.0),
                                ("unknown_wf_0.5s", "no-such-workflow", "k", 0.5)):
        t0 = time.perf_counter()
        v = client.get_event(wid, key, timeout=to)
        out[label] = {"returned": repr(v), "blocked_ms": round((time.perf_counter() - t0) * 1e3, 1)}
    t0 = time.perf_counter()
    v = client.get_event(wfid, "e1", timeout=5)
    out["existing_key"] = {"returned": repr(v)[:20], "blocked_ms": round((time.perf_counter() - t0) * 1e3, 1)}
    return out


def run(store: str, quick: bool) -> dict[str, Any]:
    n, pause = (30 if quick else 100), 0.02
    with cluster(store, "events") as c:
        client = c.client()
        start_worker(c, client)
        tag = uuid.uuid4().hex[:8]
        observe(client, 10, pause, "ev-warmup-" + tag)  # warm-up
        paced = observe(client, n, pause, "ev-paced-" + tag)
        unpaced = observe(client, n, 0.0, "ev-unpaced-" + tag)
        probe = timeout_probe(client, "ev-paced-" + tag)
    return {"n": n, "pause_s": pause, "paced": paced, "unpaced": unpaced,
            "set_ms_p50": paced["set_ms_p50"], "timeout": probe}


if __name__ == "__main__":
    main("events", run)
