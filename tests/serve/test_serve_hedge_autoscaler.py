"""HedgeAutoscaler (`spot_placer: skyctl`): over-provisioning sized from the observed preemption rate and
cold start, on-demand cover held until spot has been READY for the hold time, and restart determinism.
A small deterministic world applies the decisions: launches are READY `COLD` seconds later, preemptions
remove a replica without the autoscaler asking."""

from __future__ import annotations

import json

import pytest

from providers.base import Location
from skyctl.serve import hedge_autoscaler as ha
from skyctl.serve.autoscalers import FallbackRequestRateAutoscaler, make_autoscaler
from skyctl.serve.hedge_autoscaler import HedgeAutoscaler, InstanceAwareHedgeAutoscaler, overprovision
from skyctl.serve.status import ReplicaStatus as S
from skyctl.serve.types import ReplicaView, ScaleDown, ScaleUp
from skyctl.spec import spec_from_dict

ZONES = [Location("aws", "us-east-1", f"us-east-1{z}") for z in "abc"]
FOUR_ZONES = [*ZONES, Location("aws", "us-east-1", "us-east-1d")]
COLD = 120.0


def spec(**policy):
    base = {"min_replicas": 3, "max_replicas": 3, "dynamic_ondemand_fallback": True, "spot_placer": "skyctl"}
    return spec_from_dict({"service": {"readiness_probe": "/", "replica_policy": {**base, **policy}},
                           "resources": {"cloud": "local", "use_spot": True}, "run": "x"})


class World:
    def __init__(self, auto, t: float = 10_000.0, zones: list[Location] | None = None) -> None:
        """Replicas go round-robin over ZONES, or with `zones` given, spot to the emptiest of them."""
        self.auto, self.t, self.next, self.zones = auto, t, 1, zones
        self.reps: dict[int, dict] = {}
        self.failed: dict[int, dict] = {}

    def views(self) -> list[ReplicaView]:
        out = []
        for rid, r in sorted({**self.reps, **self.failed}.items()):
            status = r.get("status") or (S.READY if r["ready_at"] is not None else S.STARTING)
            out.append(ReplicaView(replica_id=rid, version=1, status=status, spot=r["spot"],
                                   location=r["loc"], launched_at=r["launched_at"], ready_at=r["ready_at"]))
        return out

    def step(self, dt: float = 20.0, qps: float = 0.0):
        for r in self.reps.values():
            if r["ready_at"] is None and self.t - r["launched_at"] >= COLD:
                r["ready_at"] = self.t
        decisions = self.auto.decide(self.t, self.views(), qps, latest_version=1, active_versions=[1],
                                     update_mode="rolling")
        for d in decisions:
            if isinstance(d, ScaleUp):
                self.reps[self.next] = {"spot": d.spot, "loc": self.where(d.spot), "launched_at": self.t,
                                        "ready_at": None}
                self.next += 1
            elif isinstance(d, ScaleDown):
                self.reps.pop(d.replica_id)
        self.t += dt
        return decisions

    def where(self, spot: bool | None) -> Location:
        if self.zones is None or not spot:
            return ZONES[self.next % 3]
        return min(self.zones, key=lambda z: sum(r["loc"] == z and r["spot"] for r in self.reps.values()))

    def spot(self, ready: bool = True) -> list[int]:
        return [i for i, r in self.reps.items() if r["spot"] and (r["ready_at"] is not None or not ready)]

    def ondemand(self) -> list[int]:
        return [i for i, r in self.reps.items() if not r["spot"]]


def test_make_autoscaler_picks_the_hedge_autoscaler_only_for_skyctl():
    assert type(make_autoscaler(spec())) is HedgeAutoscaler
    assert type(make_autoscaler(spec(dynamic_ondemand_fallback=False))) is HedgeAutoscaler
    mapped = spec_from_dict({"service": {"readiness_probe": "/", "replica_policy": {
        "min_replicas": 1, "max_replicas": 4, "target_qps_per_replica": {"L4": 1}, "spot_placer": "skyctl"}},
        "resources": {"cloud": "local", "use_spot": True, "accelerators": "L4"}, "run": "x"})
    assert type(make_autoscaler(mapped)) is InstanceAwareHedgeAutoscaler
    assert type(make_autoscaler(spec(spot_placer="dynamic_fallback"))) is FallbackRequestRateAutoscaler


def test_overprovision_model():
    assert overprovision(3, 0.0, 140, floor=0, cap=3) == 0
    assert overprovision(3, 0.0, 140, floor=1, cap=3) == 1  # the spec's num_overprovision is the floor
    assert overprovision(0, 50.0, 140, floor=1, cap=3) == 1  # nothing to protect at target 0
    extras = [overprovision(3, rate, 140, floor=0, cap=3) for rate in (0.001, 0.1, 1.0, 5.0, 50.0)]
    assert extras == sorted(extras) and extras[0] == 0 and extras[-1] == 3  # capped at the target
    assert overprovision(3, 1.0, 600, floor=0, cap=3) > overprovision(3, 1.0, 60, floor=0, cap=3)
    p = 0.1 / 1.1
    assert ha.ready_probability(3, 0, p) == pytest.approx((1 - p) ** 3)
    assert ha.ready_probability(3, 1, p) == pytest.approx((1 - p) ** 4 + 4 * p * (1 - p) ** 3)


@pytest.fixture
def sized(monkeypatch):
    """The availability model free to raise the extra up to the target (the default caps it at the floor)."""
    monkeypatch.setattr(ha, "MAX_EXTRA_PER_TARGET", 1.0)


def test_default_extra_is_one_at_most_for_a_target_of_three_and_zero_when_calm():
    auto = make_autoscaler(spec())
    w = World(auto)
    for _ in range(30):
        w.step()
    assert auto.extra == 1  # the prior (0.1 preemptions/h) asks for one
    for _ in range(6):  # a preemption every 10 minutes for an hour
        w.reps.pop(w.spot(ready=False)[0])
        for _ in range(30):
            w.step()
    assert auto.observed_rate() > 0.5 and auto.extra == 1 and len(w.spot(ready=False)) == 4  # capped
    for _ in range(96 * 60):  # 96 calm hours
        w.step(dt=60.0)
    assert auto.extra == 0 and len(w.spot()) == 3 and not w.ondemand()


def test_extra_rises_with_preemptions_and_falls_to_the_floor_when_calm(sized):
    auto = make_autoscaler(spec())
    w = World(auto)
    for _ in range(30):
        w.step()
    assert auto.extra == 1 and len(w.spot()) == 4  # the prior (0.1 preemptions/h) asks for one extra
    peak = 1
    for _ in range(18):  # a preemption every 10 minutes for 3 hours
        w.reps.pop(w.spot(ready=False)[0])
        for _ in range(30):
            w.step()
        peak = max(peak, auto.extra)
    assert peak >= 2 and auto.observed_rate() > 0.5
    assert len(w.spot(ready=False)) == 3 + auto.extra
    for _ in range(192):  # 96 calm hours
        w.step(dt=1800.0)
    assert auto.extra == 0 and len(w.spot()) == 3 and not w.ondemand()


def test_extra_drops_only_after_the_downscale_delay(sized):
    auto = make_autoscaler(spec())
    auto.load({"target": 3, "extra": 3})
    w = World(auto)
    w.step()
    assert auto.extra == 3 and auto.final_target == 6  # the model wants 1 now, but not for long enough yet
    for _ in range(59):
        w.step()
    assert auto.extra == 3
    w.step()  # 1200 s after the lower value was first wanted
    assert auto.extra == 1


def _mass_preemption(auto, zones=FOUR_ZONES) -> tuple[World, float, list[tuple[float, int]]]:
    """An hour of steady state, then two spot replicas preempted at once (replicas spread over `zones`:
    four zones hold one each). Returns the world, the first decision time with the target READY
    on spot again, and (decision time, on-demand alive after it)."""
    w = World(auto, zones=zones)
    for _ in range(180):
        w.step(qps=3.0)
    assert not w.ondemand() and len(w.spot()) == auto.final_target
    for rid in w.spot()[:2]:
        w.reps.pop(rid)
    counts, back = [], None
    for _ in range(60):
        t = w.t
        w.step(qps=3.0)
        counts.append((t, len(w.ondemand())))
        if back is None and sum(w.reps[i]["ready_at"] is not None for i in w.spot()) >= 3:
            back = t
    return w, back, counts


def test_ondemand_cover_is_held_for_the_hold_time_after_spot_is_ready_then_released():
    """Two spot replicas lost at once (a burst: the hold applies): one on-demand covers the target, and
    stays until the new spot replicas have been READY for the hold time."""
    auto = make_autoscaler(spec(num_overprovision=1, max_replicas=6, target_qps_per_replica=1))
    w, back, counts = _mass_preemption(auto)
    assert back is not None and auto.hold_seconds == ha.ONDEMAND_HOLD_SECONDS
    assert max(n for _, n in counts) == 1  # one READY replica short of the target: one on-demand
    steps = int(auto.hold_seconds // 20)
    held = [n for t, n in counts if back <= t < back + auto.hold_seconds]
    assert len(held) == steps and all(n == 1 for n in held)  # kept while the new spot replicas settle
    assert all(n == 0 for t, n in counts if t >= back + auto.hold_seconds)
    assert not w.ondemand()
    # SkyServe's fallback autoscaler in the same world releases on-demand as soon as spot is READY again
    sky = FallbackRequestRateAutoscaler(spec(num_overprovision=1, max_replicas=6, target_qps_per_replica=1,
                                             spot_placer="dynamic_fallback"))
    _, sky_back, sky_counts = _mass_preemption(sky)
    assert max(n for _, n in sky_counts) == 2  # it also backs the over-provisioned replica
    assert all(n == 0 for t, n in sky_counts if t >= sky_back)


def test_ondemand_is_kept_while_a_burst_left_the_fleet_exposed_to_one_zone():
    """The same burst over three zones: four spot replicas, two in one zone, so losing that zone would
    leave two READY of a target of three. The on-demand cover stays past the hold until the burst is
    EXPOSED_WINDOW_SECONDS old, then goes."""
    auto = make_autoscaler(spec(num_overprovision=1, max_replicas=6, target_qps_per_replica=1))
    w, back, counts = _mass_preemption(auto, zones=ZONES)
    burst = back - next(t for t, n in counts if n)  # back = burst + cold start (+ a decision)
    assert back is not None and burst + auto.hold_seconds < ha.EXPOSED_WINDOW_SECONDS
    kept = [n for t, n in counts if t < counts[0][0] + ha.EXPOSED_WINDOW_SECONDS - 20]
    assert all(n == 1 for n in kept[1:])
    assert all(n == 0 for t, n in counts if t >= counts[0][0] + ha.EXPOSED_WINDOW_SECONDS)
    assert not w.ondemand()


def test_an_isolated_preemption_is_covered_by_its_provisioning_replacement():
    """One spot replica lost with the extra still covering the target: no on-demand at all (SpotHedge
    launches one for the extra and drops it when the replacement is READY); on-demand is for spot that
    cannot launch."""
    auto = make_autoscaler(spec(num_overprovision=1, max_replicas=6, target_qps_per_replica=1))
    w = World(auto)
    for _ in range(180):
        w.step(qps=3.0)
    w.reps.pop(w.spot()[0])
    ods = []
    for _ in range(20):
        w.step(qps=3.0)
        ods.append(len(w.ondemand()))
    assert ods == [0] * 20 and len(w.spot()) == 4


def test_spot_that_cannot_launch_is_hedged_with_ondemand_one_decision_later():
    auto = make_autoscaler(spec(num_overprovision=1, max_replicas=6, target_qps_per_replica=1))
    w = World(auto)
    for _ in range(180):
        w.step(qps=3.0)
    w.reps.pop(w.spot()[0])
    first = w.auto.decide(w.t, w.views(), 3.0, latest_version=1, active_versions=[1], update_mode="rolling")
    assert [d.spot for d in first if isinstance(d, ScaleUp)] == [True]  # the spot launch gets its chance
    w.t += 20.0  # ... and fails: the replica never appears
    second = w.auto.decide(w.t, w.views(), 3.0, latest_version=1, active_versions=[1], update_mode="rolling")
    assert sorted(d.spot for d in second if isinstance(d, ScaleUp)) == [False, True]  # hedged now


def test_hold_scales_with_the_decision_interval():
    assert make_autoscaler(spec(), 2.0).hold_seconds == pytest.approx(ha.ONDEMAND_HOLD_SECONDS / 10)


def test_scale_downs_and_failures_are_not_counted_as_preemptions():
    auto = make_autoscaler(spec(min_replicas=1, max_replicas=3, target_qps_per_replica=1,
                                downscale_delay_seconds=200))
    w = World(auto)
    for _ in range(40):
        w.step(qps=3.0)
    assert len(w.spot()) == 3 + auto.extra
    w.failed[0] = {"spot": True, "loc": ZONES[0], "launched_at": w.t - 200, "ready_at": w.t}  # alive ...
    w.step(qps=3.0)
    w.failed[0]["status"] = S.FAILED_PROBING  # ... then failed: the failure row stays visible
    for _ in range(40):
        w.step(qps=0.0)
    assert auto.target == 1 and len(w.spot()) == 1 + auto.extra
    assert auto.stats.dump()["nodes"]["*"]["preempt"][0][0] == 0.0
    w.reps.pop(w.spot()[0])
    w.step()
    assert auto.stats.dump()["nodes"]["*"]["preempt"][0][0] == pytest.approx(0.25 ** 3)


def test_restart_in_the_middle_makes_the_same_decisions(sized):
    def run(restart_at: int | None) -> list:
        auto = make_autoscaler(spec(num_overprovision=1))
        w = World(auto)
        log = []
        for i in range(200):
            if i == restart_at:
                saved = json.loads(json.dumps(w.auto.dump()))
                w.auto = make_autoscaler(spec(num_overprovision=1))
                w.auto.load(saved)
            if i in (40, 45, 90, 91, 150):
                w.reps.pop(w.spot(ready=False)[0])
            log.append((w.step(), w.auto.extra))
        return log

    straight = run(None)
    assert run(95) == straight and run(42) == straight
    assert any(d for d, _ in straight[41:]) and len({e for _, e in straight}) > 1
