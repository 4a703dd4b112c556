"""The floor PostgreSQL's claims read the unowned workflows from
(coordinator/store/postgres/claim_floor.py): the oldest claimed last, less a
margin; gone after a reset or once a second old."""

from __future__ import annotations

import pytest

from coordinator.store.postgres import claim_floor
from coordinator.store.postgres.claim_floor import MARGIN_MS, TTL_S, ClaimFloor


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [100.0]
    monkeypatch.setattr(claim_floor.time, "monotonic", lambda: now[0])
    return now


def test_a_claim_raises_the_floor_to_its_oldest_less_the_margin(clock: list[float]) -> None:
    floor = ClaimFloor()
    assert floor.get()[0] == 0  # nothing known: read from the start
    _, token = floor.get()
    floor.claimed(token, 50_000)
    assert floor.get()[0] == 50_000 - MARGIN_MS
    floor.claimed(token, 40_000)  # an older one (parked and due, say) never lowers it
    assert floor.get()[0] == 50_000 - MARGIN_MS
    floor.claimed(token, 500)  # near the epoch: still a floor, not "none"
    assert floor.get()[0] == 50_000 - MARGIN_MS


def test_a_reset_drops_it_and_a_claim_begun_before_it_does_not_set_it_again(clock: list[float]) -> None:
    floor = ClaimFloor()
    _, before = floor.get()
    floor.claimed(before, 50_000)
    _, in_flight = floor.get()
    floor.reset()  # a release while that claim ran
    assert floor.get()[0] == 0
    floor.claimed(in_flight, 60_000)
    assert floor.get()[0] == 0
    _, after = floor.get()
    floor.claimed(after, 60_000)
    assert floor.get()[0] == 60_000 - MARGIN_MS


def test_it_ages_out_so_others_releases_are_seen(clock: list[float]) -> None:
    floor = ClaimFloor()
    floor.claimed(floor.get()[1], 50_000)
    clock[0] += TTL_S / 2
    floor.claimed(floor.get()[1], 70_000)  # raised, not renewed: its age is the first read's
    clock[0] += TTL_S / 2 + 0.01
    assert floor.get()[0] == 0

