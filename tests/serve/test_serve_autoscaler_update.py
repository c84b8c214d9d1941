"""`serve update` and the fixes to SkyServe's known bugs: the max bound (#3255) and scale-to-zero (#3359)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from skyctl.serve.autoscalers import (
    FallbackRequestRateAutoscaler,
    RequestRateAutoscaler,
    make_autoscaler,
)
from skyctl.serve.status import ALIVE, UNRECOVERABLE
from skyctl.serve.status import ReplicaStatus as S
from skyctl.serve.types import ReplicaView, ScaleDown, ScaleUp
from skyctl.spec import spec_from_dict


def spec(use_spot: bool = False, **policy: object):
    return spec_from_dict({"service": {"readiness_probe": "/", "replica_policy": policy},
                           "resources": {"cloud": "local", "use_spot": use_spot},
                           "run": "python -m http.server"})


class Fleet:
    """Applies decisions the way the controller does: a ScaleUp becomes a PROVISIONING replica of the latest
    version, a ScaleDown ends one. Tests move statuses by hand (READY, PREEMPTED, FAILED_PROVISION)."""

    def __init__(self, replicas: list[ReplicaView] | None = None) -> None:
        self.replicas = {r.replica_id: r for r in replicas or []}
        self.ids = itertools.count(max(self.replicas, default=0) + 1)

    def apply(self, decisions, version: int) -> None:
        for d in decisions:
            if isinstance(d, ScaleUp):
                rid = next(self.ids)
                self.replicas[rid] = ReplicaView(rid, version, S.PROVISIONING, spot=bool(d.spot),
                                                 purpose=d.purpose)
            else:
                self.set(d.replica_id, S.TERMINATED)

    def set(self, rid: int, status: S) -> None:
        r = self.replicas[rid]
        was_ready = status == S.READY or r.ready_at is not None
        self.replicas[rid] = ReplicaView(rid, r.version, status, r.spot, purpose=r.purpose,
                                         ready_at=0.0 if was_ready else None)

    def ready_all(self) -> None:
        for rid, r in list(self.replicas.items()):
            if r.status == S.PROVISIONING:
                self.set(rid, S.READY)

    def alive(self, version: int, spot: bool | None = None) -> list[ReplicaView]:
        return [r for r in self.replicas.values() if r.status in ALIVE and r.version == version
                and (spot is None or r.spot == spot)]

    def step(self, auto, now: float, qps: float, version: int, mode: str = "rolling") -> list:
        view = list(self.replicas.values())
        active = sorted({r.version for r in view if r.status == S.READY}) or [version]
        out = auto.decide(now, view, qps, latest_version=version, active_versions=active, update_mode=mode)
        self.apply(out, version)
        return out


def test_issue_3255_update_to_fallback_never_exceeds_max():
    """SkyServe's repro: `replicas: 2`, then update to min = max = 5 with one base on-demand replica, while
    spot launches keep failing. Alive latest replicas stay <= 5 and old ones go once 5 new are READY."""
    fleet = Fleet()
    auto = make_autoscaler(spec(min_replicas=2))
    fleet.step(auto, 0, 0.0, 1)
    fleet.ready_all()
    auto = auto.update_spec(spec(use_spot=True, min_replicas=5, base_ondemand_fallback_replicas=1))
    assert type(auto) is FallbackRequestRateAutoscaler and auto.target == 5
    for t in range(1, 30):
        fleet.step(auto, 20.0 * t, 0.0, 2)
        assert len(fleet.alive(2)) <= 5
        for r in fleet.alive(2, spot=True):
            if r.status == S.PROVISIONING and t < 10:
                fleet.set(r.replica_id, S.FAILED_PROVISION)  # no spot capacity for a while
        fleet.ready_all()
    assert len(fleet.alive(2)) == 5 and len(fleet.alive(2, spot=False)) == 1
    assert fleet.alive(1) == []


def test_dynamic_fallback_at_max_stays_bounded_and_converges_back_to_spot():
    """At max with dynamic fallback SkyServe would run 4 spot + 3 on-demand (7 > max 3 + 1). We cover
    with on-demand inside the bound, keep one slot launching spot, and end on spot only."""
    policy = dict(min_replicas=3, max_replicas=3, target_qps_per_replica=1, num_overprovision=1,
                  dynamic_ondemand_fallback=True)
    auto, fleet = make_autoscaler(spec(use_spot=True, **policy)), Fleet()
    first = fleet.step(auto, 0, 3.0, 1)
    assert first == [ScaleUp(True, "target"), ScaleUp(False, "fallback"), ScaleUp(False, "fallback"),
                     ScaleUp(False, "fallback")]
    t = 0
    while fleet.alive(1, spot=False) and t < 20:
        t += 1
        fleet.ready_all()
        fleet.step(auto, 20.0 * t, 3.0, 1)
        assert len(fleet.alive(1)) <= 4
        ready = sum(r.status == S.READY for r in fleet.alive(1))
        assert ready >= 3 or t == 1  # target capacity kept once the first launches are READY
    fleet.ready_all()
    fleet.step(auto, 20.0 * (t + 1), 3.0, 1)
    assert len(fleet.alive(1, spot=True)) == 4 and fleet.alive(1, spot=False) == []
    # A preemption is absorbed by the overprovisioned spot: replace it with spot, no on-demand.
    victim = fleet.alive(1, spot=True)[0]
    fleet.set(victim.replica_id, S.PREEMPTED)
    assert fleet.step(auto, 1000.0, 3.0, 1) == [ScaleUp(True, victim.purpose)]


@settings(max_examples=100, deadline=None)
@given(min_r=st.integers(0, 3), extra=st.integers(0, 3), over=st.integers(0, 2), base=st.integers(0, 2),
       dynamic=st.booleans(), qps=st.lists(st.floats(0, 20), min_size=1, max_size=5),
       statuses=st.lists(st.tuples(st.sampled_from(sorted(set(S) - UNRECOVERABLE)), st.booleans()),
                         max_size=10))
def test_alive_latest_never_exceeds_max_plus_overprovision(min_r, extra, over, base, dynamic, qps, statuses):
    """Any starting fleet (fail-fast aside, which decides nothing), any knobs, any traffic."""
    hi = min_r + extra
    base = min(base, hi)
    if not (dynamic or base):
        dynamic = True
    auto = make_autoscaler(spec(use_spot=True, min_replicas=min_r, max_replicas=hi, target_qps_per_replica=1,
                                upscale_delay_seconds=0, downscale_delay_seconds=0, num_overprovision=over,
                                base_ondemand_fallback_replicas=base, dynamic_ondemand_fallback=dynamic))
    fleet = Fleet([ReplicaView(i + 1, 1, status, spot) for i, (status, spot) in enumerate(statuses)])
    for i, q in enumerate(qps):
        fleet.step(auto, 20.0 * i, q, 1)
        # Replicas that were already alive beyond the bound are removed in the same decision.
        assert len(fleet.alive(1)) <= hi + over


def test_issue_3359_update_to_min_zero_keeps_serving_traffic():
    auto = make_autoscaler(spec(min_replicas=1, max_replicas=3, target_qps_per_replica=2))
    fleet = Fleet()
    fleet.step(auto, 0, 0.5, 1)
    auto = auto.update_spec(spec(min_replicas=0, max_replicas=3, target_qps_per_replica=2))
    assert auto.target == 1  # traffic in the window: no drop to zero on update
    idle = make_autoscaler(spec(min_replicas=1, max_replicas=3, target_qps_per_replica=2))
    idle.decide(0, [], 0.0, latest_version=1, active_versions=[1], update_mode="rolling")
    assert idle.update_spec(spec(min_replicas=0, max_replicas=3, target_qps_per_replica=2)).target == 0


def test_issue_3359_one_request_wakes_a_scaled_to_zero_service():
    policy = dict(min_replicas=0, max_replicas=3, target_qps_per_replica=2, downscale_delay_seconds=20)
    auto, fleet = make_autoscaler(spec(**policy)), Fleet()
    assert auto.decision_interval([]) == 5.0
    assert fleet.step(auto, 0, 0.0, 1) == []
    assert fleet.step(auto, 5, 1 / 60, 1) == [ScaleUp(None, "target")]  # one request in 60 s
    fleet.ready_all()
    assert fleet.step(auto, 25, 0.0, 1) == [ScaleDown(1)]  # idle again: back to zero after the delay
    assert auto.target == 0 and auto.decision_interval([]) == 5.0


def test_update_spec_changes_type_and_carries_state():
    auto = make_autoscaler(spec(min_replicas=1, max_replicas=4, target_qps_per_replica=1))
    for t in range(15):
        auto.decide(20.0 * t, [], 3.0, latest_version=1, active_versions=[1], update_mode="rolling")
    assert auto.target == 3
    nxt = auto.update_spec(spec(use_spot=True, min_replicas=1, max_replicas=2, target_qps_per_replica=1,
                                dynamic_ondemand_fallback=True))
    assert type(nxt) is FallbackRequestRateAutoscaler
    state = nxt.dump()
    assert (nxt.target, state["kind"], state["last_qps"], state["upscale_counter"]) == (2, "fallback", 3.0, 0)
    back = nxt.update_spec(spec(min_replicas=1, max_replicas=4, target_qps_per_replica=0.5))
    assert type(back) is RequestRateAutoscaler and back.target == 4  # ceil(3 / 0.5) clipped to 4, no delay
