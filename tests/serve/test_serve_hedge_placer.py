"""HedgePlacer (`spot_placer: skyctl`) on hand-made event sequences where the right choice is known."""

from __future__ import annotations

import json

import pytest

from providers.base import Location
from skyctl.serve import hedge_placer as hp
from skyctl.serve import hedge_stats as hs
from skyctl.serve.hedge_placer import HedgePlacer, spot_caps
from skyctl.serve.placers import make_placer
from skyctl.serve.plan import LaunchPlan
from skyctl.serve.types import Candidate
from skyctl.spec import Resources, parse_service_spec

SPOT = Resources(accelerator="L4", accelerator_count=1, use_spot=True)
A, B = Location("aws", "us-east-1", "us-east-1a"), Location("aws", "us-east-1", "us-east-1b")
C = Location("aws", "us-west-2", "us-west-2a")
PRICES = {A: (0.30, 0.90), B: (0.32, 0.85), C: (0.40, 0.80)}


def placer(locations=(A, B, C), floor_extra: int = 0) -> HedgePlacer:
    cands = [Candidate(loc, SPOT, "g6.xlarge", *PRICES[loc]) for loc in locations]
    return HedgePlacer(LaunchPlan(cands, [], False, [0] * len(cands)), floor_extra)


def order(p: HedgePlacer, live=(), now=0.0) -> list[Location]:
    return [c.location for c in p.choose(spot=True, live_spot=list(live), now=now)]


def test_without_evidence_cheapest_first_and_ondemand_by_ondemand_price():
    p = placer()
    assert order(p) == [A, B, C]
    assert [c.location for c in p.choose(spot=False, live_spot=[], now=0)] == [C, B, A]


def test_repeated_preemptions_push_a_zone_back_until_its_rate_decays():
    p = placer()
    live = [A]
    for t in (0.0, 900.0, 1800.0):
        p.on_launched(A, spot=True, now=t)
        p.on_preempted(A, now=t + 300)
    assert order(p, now=2100.0)[0] == B
    assert p.score(p.plan.candidates[0], 2100.0) > 1.3 * p.score(p.plan.candidates[1], 2100.0)
    later = 2100.0 + 6 * hs.PREEMPTION_HALF_LIFE_SECONDS
    assert order(p, now=later)[0] == B  # still marked: no launch has succeeded there since
    p.on_launched(A, spot=True, now=later)
    assert order(p, now=later)[0] == A  # forgiven: cheapest again
    assert live == [A]


def test_a_preemption_in_one_zone_also_lowers_its_sibling_below_the_other_region():
    prices = {A: (0.30, 0.9), B: (0.32, 0.9), C: (0.33, 0.9)}
    cands = [Candidate(loc, SPOT, "g6.xlarge", *prices[loc]) for loc in (A, B, C)]
    p = HedgePlacer(LaunchPlan(cands, [], False, [0, 0, 0]))
    assert order(p) == [A, B, C]
    p.on_preempted(A, now=0.0)
    assert order(p, now=1.0) == [C, B, A]  # correlated: us-east-1b is suspect too, us-west-2 is not


def test_capacity_errors_push_a_location_back_and_recover():
    p = placer()
    p.on_capacity_error(A, spot=True, now=0.0)
    assert order(p, now=1.0) == [B, C, A]
    p.on_capacity_error(B, spot=True, now=2.0)
    assert order(p, now=3.0)[0] == C
    assert order(p, now=hp.CAPACITY_MARK_SECONDS - 1) == [C, A, B]  # both still marked
    later = 3.0 + 8 * hs.LAUNCH_HALF_LIFE_SECONDS
    assert later > 2.0 + hp.CAPACITY_MARK_SECONDS
    assert order(p, now=later) == [A, B, C]  # the pools refill: both marks lapsed, the failures decayed
    p.on_launched(A, spot=True, now=later)
    p.on_launched(B, spot=True, now=later)
    assert order(p, now=later) == [A, B, C]


def test_a_preemption_mark_lasts_until_a_launch_succeeds_and_a_capacity_mark_lapses():
    p = placer()
    p.on_preempted(A, now=0.0)
    p.on_capacity_error(B, spot=True, now=0.0)
    late = 10 * hs.PREEMPTION_HALF_LIFE_SECONDS  # every statistic has decayed back to the prior
    assert order(p, now=late) == [B, C, A]
    # a capacity error after the preemption replaces its mark: that one lapses too
    p.on_capacity_error(A, spot=True, now=late)
    assert order(p, now=late + 1) == [B, C, A]
    assert order(p, now=late + 8 * hs.LAUNCH_HALF_LIFE_SECONDS)[0] == A  # lapsed, and the failure decayed


def test_an_old_capacity_failure_no_longer_outranks_the_caps():
    """A relaunch wave after a zone's mass preemption spreads over the caps instead of piling into the one
    unmarked zone because the other failed a launch hours ago (AWS 1's traces: both zones then drop)."""
    p = placer(locations=(A, C))
    p.on_capacity_error(C, spot=True, now=0.0)
    p.on_launched(A, spot=True, now=1.0)
    assert order(p, [A], now=2.0) == [A, C]  # fresh capacity error: C after everything
    assert order(p, [A], now=2.0 + hp.CAPACITY_MARK_SECONDS) == [C, A]  # A is at its cap of 1


def test_ondemand_capacity_errors_do_not_touch_spot_statistics():
    p = placer()
    p.on_capacity_error(C, spot=False, now=0.0)
    assert [c.location for c in p.choose(spot=False, live_spot=[], now=1.0)] == [B, A, C]  # backoff
    assert order(p, now=1.0) == [A, B, C] and p.stats.counts(C, 1.0)["launch"] == (0.0, 0.0)


@pytest.mark.parametrize(("total", "floor", "zones", "regions", "caps"), [
    (1, 0, 3, 2, (1, 1)), (2, 0, 3, 2, (1, 1)), (3, 0, 3, 2, (1, 2)), (4, 1, 3, 2, (2, 2)),
    (4, 2, 9, 3, (2, 2)), (4, 3, 9, 3, (3, 3)), (4, 1, 1, 1, (4, 4)), (3, 1, 2, 1, (2, 3)),
])
def test_spot_caps(total, floor, zones, regions, caps):
    assert spot_caps(total, floor, zones, regions) == caps


def test_caps_spread_over_regions_before_filling_a_cheap_region():
    p = placer()
    live: list[Location] = []
    for _ in range(3):
        loc = order(p, live)[0]
        p.on_launched(loc, spot=True, now=0.0)
        live.append(loc)
    assert live == [A, C, B]  # the second goes to the other region although B is cheaper
    assert order(p, live) == [C, A, B]  # a 4th: two per zone and per region, so us-west-2 again


def test_floor_extra_lets_that_many_share_the_cheapest_zone():
    p = placer(locations=(A, B), floor_extra=2)
    assert order(p, [A]) == [A, B]  # losing us-east-1a loses 2 <= the 2 extra replicas
    assert order(p, [A, A]) == [B, A]
    assert order(placer(locations=(A, B)), [A]) == [B, A]


def test_over_cap_candidates_stay_in_the_list_so_launches_never_fail_on_caps():
    p = placer()
    assert order(p, [A, B, C]) == [C, A, B]  # A and B would make us-east-1 hold 3 > 2: listed last
    p.on_capacity_error(C, spot=True, now=0.0)
    # C's failure marks it: after every unmarked location, whatever the caps say (B already hosts one)
    assert order(p, [B], now=1.0) == [A, B, C]


def test_a_hopeless_zone_does_not_force_the_caps():
    p = placer(locations=(A, B))
    for t in range(0, 6000, 600):
        p.on_preempted(B, now=float(t))
    assert order(p, [A], now=6000.0) == [A, B]  # B scores > 2x A: the cap is 2 per zone


def test_dump_load_continues_with_the_same_choices():
    events = [("launched", A, 0.0), ("ready", A, 120.0), ("capacity", B, 200.0), ("launched", C, 210.0),
              ("preempted", A, 3000.0), ("capacity", C, 3010.0), ("launched", B, 3020.0),
              ("preempted", B, 5000.0), ("launched", A, 5010.0), ("ready", A, 5200.0)]

    def apply(p: HedgePlacer, event) -> list[Location]:
        kind, loc, t = event
        if kind == "launched":
            p.on_launched(loc, spot=True, now=t)
        elif kind == "capacity":
            p.on_capacity_error(loc, spot=True, now=t)
        elif kind == "preempted":
            p.on_preempted(loc, now=t)
        else:
            p.on_ready(loc, spot=True, seconds_to_ready=117.0, now=t)
        return order(p, now=t + 1)

    straight = placer()
    expected = [apply(straight, e) for e in events]
    restarted = placer()
    got = [apply(restarted, e) for e in events[:5]]
    saved = json.loads(json.dumps(restarted.dump()))
    restarted = placer()
    restarted.load(saved)
    got += [apply(restarted, e) for e in events[5:]]
    assert got == expected and straight.dump() == restarted.dump()
    assert len({tuple(x) for x in expected}) > 1  # the sequence does change the choice


def test_marks_keep_their_cause_across_a_restart_and_old_dumps_load_as_preemptions():
    p = placer()
    p.on_capacity_error(A, spot=True, now=0.0)
    p.on_preempted(B, now=0.0)
    state = json.loads(json.dumps(p.dump()))
    q = placer()
    q.load(state)
    after = hp.CAPACITY_MARK_SECONDS + 1.0
    assert order(q, now=after) == order(p, now=after) and order(q, now=after)[-1] == B
    for item in state["marked"]:
        del item["cause"]  # a dump written before causes were kept
    old = placer()
    old.load(state)
    assert order(old, now=after)[0] == C  # both kept as preemptions: they never lapse


def test_load_ignores_other_placers_and_garbage():
    p = placer()
    p.on_preempted(A, now=0.0)
    q = placer()
    q.load({"kind": "dynamic_fallback", "locations": []})
    q.load({"kind": "skyctl", "stats": "nonsense", "ondemand": None})
    assert order(q) == [A, B, C] and order(p, now=1.0)[0] != A


def test_make_placer_picks_hedge_for_skyctl():
    spec = parse_service_spec({"service": {"replica_policy": {"min_replicas": 1, "num_overprovision": 2,
                                                              "spot_placer": "skyctl"}},
                               "run": "x", "resources": {"cloud": "local", "use_spot": True}})
    made = make_placer(spec, placer().plan)
    assert isinstance(made, HedgePlacer) and made.floor_extra == 2


def test_exact_ties_are_drawn_at_random_and_restored_by_load():
    zones = [Location("aws", "us-east-1", f"us-east-1{z}") for z in "abcd"]
    cands = [Candidate(loc, SPOT, "g6.xlarge", 0.5, 1.5) for loc in zones]

    def fresh() -> HedgePlacer:
        return HedgePlacer(LaunchPlan(cands, [], False, [0] * 4), 1, seed="svc")

    p = fresh()
    assert {order(p)[0] for _ in range(40)} == set(zones)  # equal zones share the first pick
    q = fresh()
    q.load(json.loads(json.dumps(p.dump())))
    assert [order(q) for _ in range(5)] == [order(p) for _ in range(5)]
