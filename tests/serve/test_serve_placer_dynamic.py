"""DynamicFallbackPlacer: SkyServe's `dynamic_fallback` rules on hand-made candidate lists."""

from __future__ import annotations

import json

import pytest

from providers.base import Location
from skyctl.serve.hedge_placer import HedgePlacer
from skyctl.serve.placers import (
    CheapestPlacer,
    DynamicFallbackPlacer,
    LocationStatus,
    make_placer,
    paper_min_active,
)
from skyctl.serve.plan import LaunchPlan
from skyctl.serve.types import Candidate
from skyctl.spec import Resources, parse_service_spec

SPOT = Resources(accelerator="L4", accelerator_count=1, use_spot=True)
A, B, C, D = (Location("aws", "us-east-1", f"us-east-1{z}") for z in "abcd")
# spot prices: A cheapest; on-demand prices in the opposite order
PRICES = {A: (0.30, 0.90), B: (0.40, 0.85), C: (0.50, 0.80), D: (0.60, 0.75)}


def make_plan(locations=(A, B, C, D), prices=PRICES) -> LaunchPlan:
    cands = [Candidate(loc, SPOT, "g6.xlarge", *prices[loc]) for loc in locations]
    return LaunchPlan(cands, [], False, [0] * len(cands))


def first(placer: DynamicFallbackPlacer, live=(), now=0.0) -> Location:
    return placer.choose(spot=True, live_spot=list(live), now=now)[0].location


def test_spreads_new_spot_replicas_over_free_active_locations():
    p = DynamicFallbackPlacer(make_plan())
    live: list[Location] = []
    for expected in (A, B, C, D):
        loc = first(p, live)
        assert loc == expected
        p.on_launched(loc, spot=True, now=0)
        live.append(loc)
    assert first(p, live) == A  # every active location hosts one: cheapest active


def test_cheapest_is_by_spot_price_not_list_order():
    prices = {A: (0.70, 1.0), B: (0.20, 1.0), C: (0.50, 1.0), D: (0.60, 1.0)}
    p = DynamicFallbackPlacer(make_plan(prices=prices))
    assert first(p) == B
    assert first(p, [B]) == C


def test_preemption_marks_location_and_moves_placement_away():
    p = DynamicFallbackPlacer(make_plan())
    p.on_preempted(A, now=10)
    assert p.status[A] is LocationStatus.PREEMPTED
    assert first(p) == B
    assert first(p, [B]) == C
    assert first(p, [B, C, D]) == B  # A is preempted: cheapest ACTIVE even though it hosts a replica


def test_spot_capacity_error_marks_preempted_and_launch_marks_active():
    p = DynamicFallbackPlacer(make_plan())
    p.on_capacity_error(A, spot=True, now=0)
    assert p.status[A] is LocationStatus.PREEMPTED
    p.on_launched(A, spot=True, now=5)
    assert p.status[A] is LocationStatus.ACTIVE
    p.on_capacity_error(A, spot=False, now=6)  # an on-demand failure says nothing about spot capacity
    assert p.status[A] is LocationStatus.ACTIVE


def test_reset_when_fewer_than_two_active_remain():
    p = DynamicFallbackPlacer(make_plan((A, B, C)))
    p.on_preempted(A, now=0)
    assert p.active() == [B, C]
    p.on_preempted(B, now=1)  # only C would be left: every location back to ACTIVE
    assert p.active() == [A, B, C]
    assert first(p) == A


def test_choose_lists_what_successive_relaunches_would_pick():
    """SkyServe picks one location per launch; our list is the picks that would follow failures there."""
    listed = DynamicFallbackPlacer(make_plan()).choose(spot=True, live_spot=[B], now=0)
    stepwise = DynamicFallbackPlacer(make_plan())
    picks = []
    for _ in range(len(listed)):
        loc = first(stepwise, [B])
        picks.append(loc)
        stepwise.on_capacity_error(loc, spot=True, now=0)
    assert [c.location for c in listed] == picks == [A, C, D]
    assert first(stepwise, [B]) == A  # the reset after D: the sequence would repeat from here


def test_on_demand_goes_to_cheapest_on_demand_candidate():
    p = DynamicFallbackPlacer(make_plan())
    p.on_preempted(D, now=0)
    assert [c.location for c in p.choose(spot=False, live_spot=[], now=0)] == [D, C, B, A]


def test_locations_without_spot_price_are_on_demand_only():
    prices = {**PRICES, A: (None, 0.10)}
    p = DynamicFallbackPlacer(make_plan(prices=prices))
    assert A not in p.status and first(p) == B
    assert p.choose(spot=False, live_spot=[], now=0)[0].location == A
    p.on_preempted(A, now=0)  # not a spot location of this plan: ignored
    assert p.active() == [B, C, D]


def test_dump_load_round_trip_gives_the_same_next_choice():
    p = DynamicFallbackPlacer(make_plan())
    p.on_preempted(A, now=0)
    p.on_capacity_error(C, spot=True, now=1)
    p.on_capacity_error(D, spot=False, now=2)
    state = json.loads(json.dumps(p.dump()))
    q = DynamicFallbackPlacer(make_plan())
    assert first(q) == A  # fresh: forgets the preemptions
    q.load(state)
    assert q.status == p.status
    for live in ([], [B], [B, D]):
        assert q.choose(spot=True, live_spot=live, now=3) == p.choose(spot=True, live_spot=live, now=3)
    assert q.choose(spot=False, live_spot=[], now=3) == p.choose(spot=False, live_spot=[], now=3)
    assert q.choose(spot=False, live_spot=[], now=3)[-1].location == D  # on-demand backoff restored too


def test_load_keeps_only_known_locations_and_ignores_other_kinds():
    p = DynamicFallbackPlacer(make_plan((A, B, C)))
    p.on_preempted(A, now=0)
    state = p.dump()
    q = DynamicFallbackPlacer(make_plan((A, B, D)))
    q.load(state)
    assert q.status == {A: LocationStatus.PREEMPTED, B: LocationStatus.ACTIVE, D: LocationStatus.ACTIVE}
    q.load(CheapestPlacer(make_plan()).dump())
    assert q.active() == [A, B, D]
    q.load({"kind": "dynamic_fallback", "locations": [{"location": {"cloud": "aws"}, "status": "X"}]})
    assert q.active() == [A, B, D]


def _spec(placer: str | None):
    policy = {"min_replicas": 1, **({"spot_placer": placer} if placer else {})}
    return parse_service_spec({"service": {"replica_policy": policy}, "run": "x",
                               "resources": {"cloud": "local", "use_spot": True}})


@pytest.mark.parametrize(("placer", "cls"), [
    (None, CheapestPlacer), ("dynamic_fallback", DynamicFallbackPlacer), ("skyctl", HedgePlacer)])
def test_make_placer(placer, cls):
    assert type(make_placer(_spec(placer), make_plan())) is cls


EQUAL = {loc: (0.50, 1.0) for loc in (A, B, C, D)}


def test_price_ties_are_drawn_at_random_and_a_restart_draws_the_same():
    p = DynamicFallbackPlacer(make_plan(prices=EQUAL), seed="svc")
    picks = [first(p) for _ in range(40)]
    assert set(picks) == {A, B, C, D}  # upstream's min() would take A every time
    q = DynamicFallbackPlacer(make_plan(prices=EQUAL), seed="svc")
    q.load(json.loads(json.dumps(p.dump())))
    r = DynamicFallbackPlacer(make_plan(prices=EQUAL), seed="svc")
    r.load(json.loads(json.dumps(p.dump())))
    assert [first(q) for _ in range(10)] == [first(r) for _ in range(10)]


def test_ties_only_among_the_cheapest():
    prices = {A: (0.5, 1.0), B: (0.5, 1.0), C: (0.2, 1.0), D: (0.9, 1.0)}
    p = DynamicFallbackPlacer(make_plan(prices=prices), seed="s")
    assert {first(p) for _ in range(20)} == {C}
    assert {first(p, [C]) for _ in range(30)} == {A, B}


def test_paper_reset_rule_stacks_replicas_into_the_one_zone_with_capacity():
    """Three zones, only C has room and hosts a replica: upstream resets after A and B fail and never tries
    C again; the paper's rule keeps C the only ACTIVE zone, so the next replica goes there."""
    assert paper_min_active(3) == 1 and paper_min_active(4) == paper_min_active(9) == 2
    assert paper_min_active(2) == paper_min_active(1) == 1
    upstream = DynamicFallbackPlacer(make_plan((A, B, C)))
    paper = DynamicFallbackPlacer(make_plan((A, B, C)), min_active=paper_min_active(3))
    for placer in (upstream, paper):
        placer.on_capacity_error(A, spot=True, now=0)
        placer.on_capacity_error(B, spot=True, now=0)
    assert first(upstream, [C]) == A
    assert first(paper, [C]) == C
    assert [c.location for c in upstream.choose(spot=True, live_spot=[C], now=0)] == [A, B]
