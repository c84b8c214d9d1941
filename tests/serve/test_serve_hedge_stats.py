"""LocationStats: exact half-life decay, hierarchical pooling (zone < region < cloud < all), priors for
unseen locations, exposure accounting, and a JSON round trip that changes no estimate."""

from __future__ import annotations

import json

import pytest

from providers.base import Location
from skyctl.serve import hedge_stats as hs
from skyctl.serve.hedge_stats import Decayed, LocationStats

A1, B1 = Location("aws", "us-east-1", "us-east-1a"), Location("aws", "us-east-1", "us-east-1b")
EU = Location("aws", "eu-west-1", "eu-west-1a")
G = Location("gcp", "us-central1", "us-central1-a")
AZ = Location("azure", "eastus", None)
H = hs.PREEMPTION_HALF_LIFE_SECONDS


def test_decayed_sum_halves_every_half_life():
    d = Decayed()
    d.add(8.0, 100.0, 10.0)
    assert d.get(110.0, 10.0) == pytest.approx(4.0) and d.get(130.0, 10.0) == pytest.approx(1.0)
    d.add(1.0, 110.0, 10.0)
    assert d.get(110.0, 10.0) == pytest.approx(5.0)
    d.add(2.0, 100.0, 10.0)  # an event older than the stored time is decayed, not back-dated
    assert d.get(110.0, 10.0) == pytest.approx(6.0)


def test_unseen_locations_get_the_priors():
    s = LocationStats()
    for loc in (A1, G, AZ, None):
        assert s.preemption_rate(loc, 0) == pytest.approx(hs.PRIOR_PREEMPTIONS_PER_HOUR)
        assert s.launch_success(loc, 0) == pytest.approx(hs.PRIOR_LAUNCH_SUCCESS)
        assert s.seconds_to_ready(loc, 0) == pytest.approx(hs.PRIOR_SECONDS_TO_READY)


def test_a_preemption_raises_its_zone_most_then_siblings_then_other_regions_then_other_clouds():
    s = LocationStats()
    s.record_preemption(A1, 0.0)
    rates = [s.preemption_rate(loc, 0.0) for loc in (A1, B1, EU, G)]
    assert rates == sorted(rates, reverse=True) and len(set(rates)) == 4
    assert rates[0] > 2 * rates[1] and rates[1] > 2 * hs.PRIOR_PREEMPTIONS_PER_HOUR  # siblings: a little
    assert rates[3] > hs.PRIOR_PREEMPTIONS_PER_HOUR  # the service-wide root moved a little too
    assert s.counts(A1, 0.0)["preempt"] == (1.0, 0.0) and s.counts(B1, 0.0)["preempt"] == (0.0, 0.0)


def test_preemption_evidence_decays_back_to_the_prior():
    s = LocationStats()
    for t in (0.0, 600.0, 1200.0):
        s.record_preemption(A1, t)
    assert s.preemption_rate(A1, 1200.0) > 10 * hs.PRIOR_PREEMPTIONS_PER_HOUR
    assert s.counts(A1, 1200.0 + H)["preempt"][0] == pytest.approx(
        s.counts(A1, 1200.0)["preempt"][0] / 2)
    assert s.preemption_rate(A1, 1200.0 + 20 * H) == pytest.approx(hs.PRIOR_PREEMPTIONS_PER_HOUR, rel=0.01)


def test_calm_exposure_lowers_the_rate_and_is_independent_of_how_it_is_sampled():
    one, many = LocationStats(), LocationStats()
    one.set_live({A1: 3}, 0.0)
    many.set_live({A1: 3}, 0.0)
    for t in range(600, 36_001, 600):
        many.set_live({A1: 3}, float(t))
    one.set_live({A1: 3}, 36_000.0)
    exposure = one.counts(A1, 36_000.0)["preempt"][1]
    assert exposure == pytest.approx(many.counts(A1, 36_000.0)["preempt"][1], rel=1e-9)
    assert 3 * 10 * 0.5 < exposure < 3 * 10  # 30 replica-hours, decayed
    assert one.preemption_rate(A1, 36_000.0) < hs.PRIOR_PREEMPTIONS_PER_HOUR / 5
    assert one.counts(B1, 36_000.0)["preempt"] == (0.0, 0.0)


def test_add_live_tracks_launches_and_preemptions():
    s = LocationStats()
    s.add_live(A1, +1, 0.0)
    s.add_live(A1, +1, 0.0)
    s.add_live(A1, -1, 3600.0)  # 2 replicas for an hour
    s.add_live(A1, -1, 7200.0)  # then 1 for an hour
    exact = sum(n * H * (1 - 0.5 ** (3600 / H)) / 0.6931471805599453 / 3600 * 0.5 ** (age / H)
                for n, age in ((2, 3600.0), (1, 0.0)))
    assert s.counts(A1, 7200.0)["preempt"][1] == pytest.approx(exact)
    assert s.dump()["live"] == {}


def test_capacity_errors_lower_launch_success_and_recover():
    s = LocationStats()
    s.record_launch(A1, ok=False, now=0.0)
    s.record_launch(A1, ok=False, now=10.0)
    assert s.launch_success(A1, 10.0) < 0.5 < s.launch_success(EU, 10.0) < hs.PRIOR_LAUNCH_SUCCESS
    s.record_launch(B1, ok=True, now=20.0)
    assert s.launch_success(B1, 20.0) > s.launch_success(A1, 20.0)
    later = 20.0 + 10 * hs.LAUNCH_HALF_LIFE_SECONDS
    assert s.launch_success(A1, later) == pytest.approx(hs.PRIOR_LAUNCH_SUCCESS, abs=0.01)


def test_time_to_ready_is_a_pooled_mean_and_zoneless_locations_use_the_region():
    s = LocationStats()
    for _ in range(20):
        s.record_ready(AZ, 100.0, 0.0)
    assert s.seconds_to_ready(AZ, 0.0) == pytest.approx(100.0, rel=0.05)
    assert 100.0 < s.seconds_to_ready(None, 0.0) < hs.PRIOR_SECONDS_TO_READY
    assert s.seconds_to_ready(G, 0.0) == s.seconds_to_ready(None, 0.0)  # an unseen cloud inherits the root


def test_dump_load_round_trip_is_json_and_exact():
    s = LocationStats()
    s.set_live({A1: 2, EU: 1}, 0.0)
    s.record_preemption(A1, 500.0)
    s.record_launch(EU, ok=False, now=700.0)
    s.record_ready(G, 95.0, 800.0)
    s.set_live({A1: 1, EU: 1}, 900.0)
    t = LocationStats()
    t.load(json.loads(json.dumps(s.dump())))
    assert t.dump() == s.dump()
    for loc in (A1, B1, EU, G, None):
        for f in ("preemption_rate", "launch_success", "seconds_to_ready"):
            assert getattr(t, f)(loc, 5000.0) == getattr(s, f)(loc, 5000.0)
    s.set_live({}, 4000.0)
    t.set_live({}, 4000.0)
    assert t.dump() == s.dump()


def test_load_tolerates_garbage():
    s = LocationStats()
    s.load({"nodes": {"aws": {"preempt": "x"}, "gcp": None}, "live": {"aws/r/z": "2"}, "live_since": "now"})
    assert s.dump() == {"nodes": {}, "live": {}, "live_since": None}
    s.load(None)
    assert s.preemption_rate(A1, 0) == pytest.approx(hs.PRIOR_PREEMPTIONS_PER_HOUR)
