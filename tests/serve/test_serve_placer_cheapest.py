"""CheapestPlacer: price or preference order per mode, and the capacity backoff."""

from __future__ import annotations

import json

from providers.base import Location
from skyctl.serve.placers import BACKOFF_BASE_SECONDS, BACKOFF_MAX_SECONDS, CheapestPlacer
from skyctl.serve.plan import LaunchPlan
from skyctl.serve.types import Candidate
from skyctl.spec import Resources

R = Resources(accelerator="L4", accelerator_count=1)
A, B, C = (Location("gcp", "us-central1", f"us-central1-{z}") for z in "abc")
PRICES = {A: (0.50, 0.70), B: (0.30, 0.90), C: (None, 0.80)}  # (spot, on-demand)


def make_plan(order=(A, B, C), rank=(0, 0, 0), ordered=False) -> LaunchPlan:
    return LaunchPlan([Candidate(loc, R, "g2-standard-4", *PRICES[loc]) for loc in order], [], ordered,
                      list(rank))


def order(placer: CheapestPlacer, *, spot: bool, now: float = 0.0) -> list[Location]:
    return [c.location for c in placer.choose(spot=spot, live_spot=[], now=now)]


def test_cheapest_first_in_the_requested_mode():
    p = CheapestPlacer(make_plan())
    assert order(p, spot=False) == [A, C, B]
    assert order(p, spot=True) == [B, A]  # C has no spot price


def test_ordered_plan_keeps_preference_then_price():
    p = CheapestPlacer(make_plan(order=(B, A, C), rank=(0, 1, 1), ordered=True))
    assert order(p, spot=False) == [B, A, C]
    assert order(p, spot=True) == [B, A]


def test_capacity_error_moves_location_back_for_a_while():
    p = CheapestPlacer(make_plan())
    p.on_capacity_error(A, spot=False, now=100)
    assert order(p, spot=False, now=100) == [C, B, A]
    assert order(p, spot=False, now=100 + BACKOFF_BASE_SECONDS - 1) == [C, B, A]
    assert order(p, spot=False, now=100 + BACKOFF_BASE_SECONDS) == [A, C, B]
    assert order(p, spot=True, now=100) == [B, A]  # spot capacity is a different pool


def test_backoff_doubles_is_capped_and_clears_on_success():
    p = CheapestPlacer(make_plan())
    delays = []
    now = 0.0
    for _ in range(8):
        p.on_capacity_error(A, spot=True, now=now)
        until = p.backoff_until(A, spot=True)
        delays.append(until - now)
        now = until
    assert delays[:4] == [BACKOFF_BASE_SECONDS * k for k in (1, 2, 4, 8)]
    assert delays[-1] == BACKOFF_MAX_SECONDS
    p.on_capacity_error(A, spot=True, now=now)
    assert order(p, spot=True, now=now) == [B, A]
    p.on_launched(A, spot=True, now=now + 1)
    assert p.backoff_until(A, spot=True) is None
    assert order(p, spot=True, now=now + 1) == [B, A]
    p.on_capacity_error(B, spot=True, now=now + 2)
    assert p.backoff_until(B, spot=True) == now + 2 + BACKOFF_BASE_SECONDS  # counting starts over
    assert order(p, spot=True, now=now + 2) == [A, B]


def test_several_cooling_locations_keep_their_order_at_the_back():
    p = CheapestPlacer(make_plan())
    p.on_capacity_error(C, spot=False, now=0)
    p.on_capacity_error(A, spot=False, now=0)
    assert order(p, spot=False, now=1) == [B, A, C]


def test_preemption_and_readiness_do_not_change_the_order():
    p = CheapestPlacer(make_plan())
    p.on_preempted(B, now=0)
    p.on_ready(B, spot=True, seconds_to_ready=900, now=0)
    assert order(p, spot=True) == [B, A]


def test_dump_load_round_trip_gives_the_same_choice():
    p = CheapestPlacer(make_plan())
    p.on_capacity_error(A, spot=False, now=10)
    p.on_capacity_error(A, spot=False, now=80)
    p.on_capacity_error(B, spot=True, now=20)
    q = CheapestPlacer(make_plan())
    q.load(json.loads(json.dumps(p.dump())))
    for now in (20, 79, 81, 199, 200):
        for spot in (True, False):
            assert order(q, spot=spot, now=now) == order(p, spot=spot, now=now)
    assert q.backoff_until(A, spot=False) == 80 + 2 * BACKOFF_BASE_SECONDS
    fresh = CheapestPlacer(make_plan(order=(B, C), rank=(0, 0)))
    fresh.load(p.dump())  # A is no longer in the plan: its entry is dropped
    assert fresh.backoff_until(A, spot=False) is None and fresh.backoff_until(B, spot=True) == 80
