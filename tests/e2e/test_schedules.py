"""A schedule ticking every second under three coordinators on PostgreSQL, one
of them SIGKILLed in the middle: one workflow per tick, no duplicates, no gap
but around the kill; then paused and resumed."""

from __future__ import annotations

import datetime
import time
from typing import Any

from tests.harness import wait_for


def _tick(workflow_id: str, name: str) -> float:
    """The tick time (s since the epoch) in a scheduled workflow's ID."""
    text = workflow_id.removeprefix(f"sched-{name}-")
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def _ticks(client: Any, name: str) -> list[str]:
    ids: list[str] = []
    token = None
    while True:
        page = client.list_workflows(name="ticked", limit=1000, page_token=token)
        ids += [w.workflow_id for w in page if w.workflow_id.startswith(f"sched-{name}-")]
        token = page.next_page_token
        if token is None:
            return sorted(ids)


def test_a_schedule_under_three_coordinators_one_killed(cluster_factory: Any, pg_url: str) -> None:
    c = cluster_factory(pg_url, log_level="INFO")
    c.start_coordinator()
    peers = [c.start_peer() for _ in range(2)]
    victim = peers[1][0]
    addresses = [c.address] + [address for _, address in peers]
    c.start_worker("tests.flows_ops", coordinator=",".join(addresses), wait=False)
    client = c.client(",".join(addresses[:2]))
    client.set_schedule("sec", "ticked", "* * * * * *", "sec")

    wait_for(lambda: len(_ticks(client, "sec")) >= 3, "three ticks", 30)
    killed_at = time.time()
    victim.kill()
    wait_for(lambda: len(_ticks(client, "sec")) >= 8, "five ticks more", 30)
    client.pause_schedule("sec")
    paused_at = time.time()
    fired = _ticks(client, "sec")

    # Each tick started one workflow (its ID is the tick's), and each ran once:
    # a second run only for a workflow in flight on the killed coordinator.
    seconds = [_tick(w, "sec") for w in fired]
    assert len(seconds) == len(set(seconds))
    for wid in fired:
        assert client.retrieve_workflow(wid).result(timeout=60) == f"sec-{wid}-done"
        runs = len(c.runs(f"sec-{wid}"))
        assert runs == 1 or (runs == 2 and abs(_tick(wid, "sec") - killed_at) < 5), (wid, runs)
    # No tick is missing from the first to the last, but around the kill.
    missing = sorted(set(range(int(seconds[0]), int(seconds[-1]) + 1)) - {int(s) for s in seconds})
    assert all(killed_at - 2 <= s <= killed_at + 5 for s in missing), (missing, killed_at)

    # Paused: nothing ticks for a while (a tick fired as the pause committed
    # may land at once).
    def quiet() -> bool:
        late = [w for w in _ticks(client, "sec") if _tick(w, "sec") > paused_at + 1]
        assert not late, late
        return time.time() > paused_at + 3
    wait_for(quiet, "three seconds of pause", 30, every=0.25)
    resumed_at = time.time()
    client.resume_schedule("sec")
    after = wait_for(lambda: [w for w in _ticks(client, "sec") if _tick(w, "sec") >= int(resumed_at)],
                     "a tick after the resume", 30)
    # The ticks missed while paused are not replayed.
    assert not [w for w in _ticks(client, "sec") if paused_at + 1 < _tick(w, "sec") < int(resumed_at)]
    assert client.retrieve_workflow(after[0]).result(timeout=60) == f"sec-{after[0]}-done"
    client.delete_schedule("sec")
