"""SkyServe's autoscaling rules, table-driven on explicit `now` values 20 s apart (a virtual clock)."""

from __future__ import annotations

import json

import pytest

from skyctl.clock import VirtualClock
from skyctl.serve.autoscalers import (
    FallbackRequestRateAutoscaler,
    InstanceAwareFallbackAutoscaler,
    InstanceAwareRequestRateAutoscaler,
    RequestRateAutoscaler,
    make_autoscaler,
)
from skyctl.serve.status import ReplicaStatus as S
from skyctl.serve.types import ReplicaView, ScaleDown, ScaleUp
from skyctl.spec import spec_from_dict

UP, TGT, OVER, FB, BASE = ScaleUp(None, "target"), "target", "overprovision", "fallback", "base_ondemand"


def spec(use_spot: bool = False, accelerators: object = None, **policy: object):
    resources: dict = {"cloud": "local", "use_spot": use_spot}
    if accelerators:
        resources["accelerators"] = accelerators
    return spec_from_dict({"service": {"readiness_probe": "/", "replica_policy": policy},
                           "resources": resources, "run": "python -m http.server"})


def rv(rid: int, status: S = S.READY, version: int = 1, spot: bool = False, acc: str | None = None,
       purpose: str = "target") -> ReplicaView:
    return ReplicaView(replica_id=rid, version=version, status=status, spot=spot, accelerator=acc,
                       accelerator_count=1 if acc else 0, purpose=purpose,
                       ready_at=0.0 if status in (S.READY, S.NOT_READY) else None)


def run(auto, replicas, qps_seq, clock: VirtualClock | None = None, version: int = 1):
    """Decide once per qps value, 20 s apart; the decisions of the last call."""
    clock = clock or VirtualClock(1000.0)
    out = []
    for qps in qps_seq:
        out = auto.decide(clock.now(), replicas, qps, latest_version=version, active_versions=[version],
                          update_mode="rolling")
        clock.advance(20)
    return out


P = {"min_replicas": 1, "max_replicas": 3, "target_qps_per_replica": 2}
READY1 = [rv(1)]
READY3 = [rv(1), rv(2), rv(3)]

# (case, policy, loaded state, replicas, qps per decision, expected last decisions, expected target)
CASES = [
    ("steady", P, {}, READY1, [2.0] * 30, [], 1),
    ("upscale not at 14", P, {}, READY1, [4.0] * 14, [], 1),
    ("upscale at 15", P, {}, READY1, [4.0] * 15, [UP], 2),
    ("upscale jumps to latest candidate", P, {}, READY1, [4.0] * 14 + [6.0], [UP, UP], 3),
    ("clipped at max", P, {}, READY1, [100.0] * 15, [UP, UP], 3),
    ("counter reset when candidate == target", P, {}, READY1, [4.0] * 14 + [2.0] + [4.0] * 14, [], 1),
    ("counter reset, then 15 again", P, {}, READY1, [4.0] * 14 + [2.0] + [4.0] * 15, [UP], 2),
    ("downscale not at 59", P, {"target": 3}, READY3, [0.0] * 59, [], 3),
    ("downscale at 60, newest first", P, {"target": 3}, READY3, [0.0] * 60,
     [ScaleDown(3), ScaleDown(2)], 1),
    ("up counter zeroes down counter", P, {"target": 2}, [rv(1), rv(2)], [0.0] * 59 + [6.0] + [0.0] * 59,
     [], 2),
    ("custom delays: int(40/20)=2", {**P, "upscale_delay_seconds": 59}, {}, READY1, [4.0] * 2, [UP], 2),
    ("zero delay scales at once", {**P, "upscale_delay_seconds": 0}, {}, READY1, [4.0], [UP], 2),
    ("scale from zero at once", {**P, "min_replicas": 0}, {"target": 0}, [], [1 / 60], [UP], 1),
    ("scale from zero to the candidate", {**P, "min_replicas": 0}, {"target": 0}, [], [5.0], [UP] * 3, 3),
    ("stays at zero without traffic", {**P, "min_replicas": 0}, {"target": 0}, [], [0.0] * 100, [], 0),
    ("fixed replicas ignore qps", {"min_replicas": 2}, {}, [rv(1)], [50.0] * 20, [UP], 2),
    ("overprovision on top of the target", {**P, "num_overprovision": 1, "min_replicas": 2}, {}, [],
     [0.0], [UP, UP, ScaleUp(None, OVER)], 2),
    ("overprovision keeps purposes of alive replicas", {**P, "num_overprovision": 1, "min_replicas": 2}, {},
     [rv(1), rv(2, purpose=OVER)], [0.0], [UP], 2),
    ("terminal replicas do not count", P, {}, [rv(1, S.PREEMPTED), rv(2, S.FAILED_PROBING)], [0.0], [UP], 1),
]


@pytest.mark.parametrize(("policy", "state", "replicas", "qps", "expected", "target"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_request_rate_rules(policy, state, replicas, qps, expected, target):
    auto = make_autoscaler(spec(**policy))
    assert type(auto) is RequestRateAutoscaler
    auto.load({"target": state.get("target", auto.target)})
    assert run(auto, replicas, qps) == expected
    assert auto.target == target


def test_decision_interval_is_5s_only_at_final_target_zero():
    auto = make_autoscaler(spec(**{**P, "min_replicas": 0}))
    assert (auto.target, auto.decision_interval([])) == (0, 5.0)
    run(auto, [], [0.5])
    assert (auto.target, auto.decision_interval([])) == (1, 20.0)
    over = make_autoscaler(spec(**{**P, "min_replicas": 0, "num_overprovision": 1}))
    assert (over.target, over.final_target, over.decision_interval([])) == (0, 1, 20.0)


def test_scale_down_victim_order():
    """PENDING, PROVISIONING, STARTING, NOT_READY, READY; older version first; higher id first."""
    auto = make_autoscaler(spec(min_replicas=1))
    replicas = [rv(1, S.READY, 2), rv(2, S.NOT_READY, 2), rv(3, S.STARTING, 2), rv(4, S.PROVISIONING, 2),
                rv(5, S.PENDING, 2), rv(6, S.PENDING, 2), rv(7, S.READY, 2), rv(8, S.SHUTTING_DOWN, 2)]
    # Seven alive, target 1: six victims. Version-1 replicas are outdated and handled by rollout rules.
    got = run(auto, replicas, [0.0], version=2)
    assert got == [ScaleDown(i) for i in (6, 5, 4, 3, 2, 7)]


def test_victim_order_prefers_older_version_within_a_status():
    from skyctl.serve.rollout import pick_victims
    replicas = [rv(1, S.READY, 2), rv(2, S.READY, 1), rv(3, S.READY, 1), rv(4, S.STARTING, 2)]
    assert pick_victims(3, replicas) == [4, 3, 2]


def test_fail_fast_on_unrecoverable_failure_of_a_never_ready_version():
    auto = make_autoscaler(spec(min_replicas=2))
    for failed in (S.FAILED, S.FAILED_INITIAL_DELAY):
        assert run(auto, [rv(1, failed), rv(2, S.STARTING)], [0.0]) == []
    # A failure that is not the app's own (capacity, probing) keeps replacing.
    assert run(auto, [rv(1, S.FAILED_PROVISION), rv(2, S.STARTING)], [0.0]) == [UP]
    # Once the version has been READY, an app failure is treated as a replica failure.
    assert run(auto, [rv(1, S.FAILED), rv(2, S.READY)], [0.0]) == [UP]
    assert run(auto, [rv(1, S.FAILED), rv(2, S.STARTING)], [0.0]) == [UP]
    # A new version starts unproven again.
    assert run(auto, [rv(1, S.READY), rv(3, S.FAILED, 2)], [0.0], version=2) == []


# Fallback: (case, policy, replicas, expected decisions). Target 2 (min) unless said, max 5: room to spare.
FB2 = {"min_replicas": 2, "max_replicas": 5, "target_qps_per_replica": 100, "dynamic_ondemand_fallback": True}
FALLBACK_CASES = [
    ("empty: spot and on-demand cover", FB2, [], [ScaleUp(True, TGT)] * 2 + [ScaleUp(False, FB)] * 2),
    ("provisioning spot still covered", FB2, [rv(1, S.PROVISIONING, spot=True), rv(2, S.READY, spot=True),
                                          rv(3, S.READY, purpose=FB)], []),
    ("ready spot releases on-demand", FB2, [rv(1, S.READY, spot=True), rv(2, S.READY, spot=True),
                                         rv(3, S.READY, purpose=FB)], [ScaleDown(3)]),
    ("preempted spot: replace and cover", FB2, [rv(1, S.PREEMPTED, spot=True), rv(2, S.READY, spot=True)],
     [ScaleUp(True, TGT), ScaleUp(False, FB)]),
    ("base on-demand", {"min_replicas": 3, "base_ondemand_fallback_replicas": 1}, [],
     [ScaleUp(True, TGT)] * 2 + [ScaleUp(False, BASE)]),
    ("base + dynamic with a provisioning spot", {**FB2, "min_replicas": 3,
                                                 "base_ondemand_fallback_replicas": 1},
     [rv(1, S.READY, spot=True), rv(2, S.PROVISIONING, spot=True), rv(3, S.READY, purpose=BASE)],
     [ScaleUp(False, FB)]),
    ("base + dynamic, all spot ready", {**FB2, "min_replicas": 3, "base_ondemand_fallback_replicas": 1},
     [rv(1, S.READY, spot=True), rv(2, S.READY, spot=True), rv(3, S.READY, purpose=BASE),
      rv(4, S.STARTING, purpose=FB)], [ScaleDown(4)]),
    ("on-demand capped at target, not final target",
     {**FB2, "num_overprovision": 1}, [],
     [ScaleUp(True, TGT)] * 2 + [ScaleUp(True, OVER)] + [ScaleUp(False, FB)] * 2),
    ("surplus spot removed least progressed first", FB2,
     [rv(1, S.READY, spot=True), rv(2, S.STARTING, spot=True), rv(3, S.READY, spot=True)], [ScaleDown(2)]),
]


@pytest.mark.parametrize(("policy", "replicas", "expected"), [c[1:] for c in FALLBACK_CASES],
                         ids=[c[0] for c in FALLBACK_CASES])
def test_fallback_rules(policy, replicas, expected):
    auto = make_autoscaler(spec(use_spot=True, **policy))
    assert type(auto) is FallbackRequestRateAutoscaler
    assert run(auto, replicas, [0.0]) == expected


ACC = {"L4": 1, "A100": 1}
IA = {"min_replicas": 1, "max_replicas": 4, "target_qps_per_replica": {"L4": 2, "A100": 5}}


def test_instance_aware_upscale_counts_capacity():
    auto = make_autoscaler(spec(accelerators=ACC, **IA))
    assert type(auto) is InstanceAwareRequestRateAutoscaler
    a100 = [rv(1, acc="A100-40GB")]
    # 9 qps over capacity 5: 1 + ceil(4 / 5) = 2 after 15 decisions; 5 qps fits on the A100 alone.
    assert run(auto, a100, [9.0] * 14) == [] and auto.target == 1
    assert run(auto, a100, [9.0]) == [UP] and auto.target == 2
    l4 = make_autoscaler(spec(accelerators=ACC, **IA))
    run(l4, [rv(1, acc="L4")], [5.0] * 15)  # capacity 2: 1 + ceil(3 / 5) = 2
    assert l4.target == 2


def test_instance_aware_downscale_keeps_biggest_and_removes_lowest_qps_type():
    auto = make_autoscaler(spec(accelerators=ACC, **IA))
    auto.load({"target": 2})
    replicas = [rv(1, acc="L4"), rv(2, acc="A100-40GB")]
    assert run(auto, replicas, [4.0] * 59) == [] and auto.target == 2
    # The A100 alone exceeds 4 qps; the plain order would remove id 2, instance-aware removes the L4.
    assert run(auto, replicas, [4.0]) == [ScaleDown(1)] and auto.target == 1


def test_instance_aware_wakes_from_zero_and_unknown_accelerator_gets_smallest_target():
    auto = make_autoscaler(spec(accelerators=ACC, **{**IA, "min_replicas": 0}))
    auto.load({"target": 0})
    assert run(auto, [], [6.0]) == [UP, UP] and auto.target == 2  # ceil(6 / 5)
    other = make_autoscaler(spec(accelerators=ACC, **IA))
    run(other, [rv(1, S.PENDING)], [3.0] * 15)  # unknown accelerator counts as 2 qps: 1 + ceil(1 / 5)
    assert other.target == 2


def test_instance_aware_with_fallback_composes():
    auto = make_autoscaler(spec(use_spot=True, accelerators=ACC, dynamic_ondemand_fallback=True, **IA))
    assert type(auto) is InstanceAwareFallbackAutoscaler
    assert run(auto, [], [0.0]) == [ScaleUp(True, TGT), ScaleUp(False, FB)]


def test_dump_load_round_trip_mid_hysteresis_gives_the_same_next_decision():
    policy, two = {**P, "num_overprovision": 1}, [rv(1), rv(2, purpose=OVER)]
    straight, clock = make_autoscaler(spec(**policy)), VirtualClock(0.0)
    run(straight, two, [4.0] * 10, clock)
    state = json.loads(json.dumps(straight.dump()))
    assert state["upscale_counter"] == 10
    restarted = make_autoscaler(spec(**policy))
    restarted.load(state)
    later = VirtualClock(clock.now())
    for _ in range(4):
        assert run(straight, two, [4.0], clock) == run(restarted, two, [4.0], later) == []
    assert run(straight, two, [4.0], clock) == run(restarted, two, [4.0], later) == [UP]  # 15th decision
    assert restarted.dump() == straight.dump()


def test_counters_restart_after_a_long_gap():
    auto, clock = make_autoscaler(spec(**P)), VirtualClock(0.0)
    run(auto, READY1, [4.0] * 14, clock)
    clock.advance(600)  # controller was down for 10 minutes: the 14 decisions are not consecutive
    assert run(auto, READY1, [4.0], clock) == []
    assert auto.dump()["upscale_counter"] == 1


def test_load_ignores_garbage_and_reclips():
    auto = make_autoscaler(spec(**P))
    auto.load({"target": 99, "upscale_counter": "x", "downscale_counter": -3, "last_qps": float("nan")})
    assert (auto.target, auto.dump()["upscale_counter"], auto.dump()["last_qps"]) == (3, 0, 0.0)
