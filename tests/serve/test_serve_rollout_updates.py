"""Rolling and blue-green update sequences: outdated-replica selection and the LB's active versions."""

from __future__ import annotations

import pytest

from skyctl.serve.autoscalers import make_autoscaler
from skyctl.serve.rollout import next_active_versions, outdated_to_scale_down
from skyctl.serve.status import ReplicaStatus as S
from skyctl.serve.types import ReplicaView, ScaleDown, ScaleUp
from skyctl.spec import spec_from_dict


def rv(rid: int, version: int, status: S = S.READY) -> ReplicaView:
    return ReplicaView(replica_id=rid, version=version, status=status, spot=False)


OLD3 = [rv(1, 1), rv(2, 1), rv(3, 1, S.STARTING)]

# (case, replicas, final_target, expected outdated victims) -- rolling, latest version 2
ROLLING = [
    ("no new READY: keep all old", [*OLD3, rv(4, 2, S.PROVISIONING)], 3, []),
    ("one new READY: drop one, least progressed", [*OLD3, rv(4, 2), rv(5, 2, S.STARTING)], 3, [3]),
    ("two new READY: drop two", [*OLD3, rv(4, 2), rv(5, 2)], 3, [3, 2]),
    ("target reached: drop all old", [*OLD3, rv(4, 2), rv(5, 2), rv(6, 2)], 3, [3, 2, 1]),
    ("terminal old ones are not chosen", [rv(1, 1, S.PREEMPTED), rv(2, 1), rv(4, 2)], 1, [2]),
]


@pytest.mark.parametrize(("replicas", "final_target", "expected"), [c[1:] for c in ROLLING],
                         ids=[c[0] for c in ROLLING])
def test_rolling_outdated(replicas, final_target, expected):
    got = outdated_to_scale_down(replicas, latest_version=2, final_target=final_target,
                                 active_versions=[1, 2], update_mode="rolling")
    assert got == expected


def test_rolling_keeps_both_versions_active_while_old_ones_remain():
    kw = dict(latest_version=2, min_replicas=2, update_mode="rolling")
    assert next_active_versions([*OLD3, rv(4, 2, S.STARTING)], active_versions=[1], **kw) == [1, 2]
    assert next_active_versions([rv(1, 1, S.TERMINATED), rv(4, 2)], active_versions=[1, 2], **kw) == [2]


def test_blue_green_sequence():
    """The LB switches once the new version has min_replicas READY; then every old replica goes."""
    kw = dict(latest_version=2, min_replicas=2, update_mode="blue_green")
    steps = [
        ([*OLD3, rv(4, 2, S.PROVISIONING), rv(5, 2, S.PROVISIONING)], [1], []),
        ([*OLD3, rv(4, 2), rv(5, 2, S.STARTING)], [1], []),
        ([*OLD3, rv(4, 2), rv(5, 2)], [2], [3, 2, 1]),
    ]
    active = [1]
    for replicas, want_active, want_outdated in steps:
        active = next_active_versions(replicas, active_versions=active, **kw)
        assert active == want_active
        assert outdated_to_scale_down(replicas, latest_version=2, final_target=2, active_versions=active,
                                      update_mode="blue_green") == want_outdated
    assert outdated_to_scale_down(OLD3, latest_version=2, final_target=2, active_versions=[],
                                  update_mode="blue_green") == []


def test_blue_green_switches_when_nothing_old_is_serving():
    kw = dict(latest_version=2, min_replicas=2, update_mode="blue_green")
    replicas = [rv(1, 1, S.NOT_READY), rv(4, 2, S.STARTING)]
    assert next_active_versions(replicas, active_versions=[1], **kw) == [2]
    assert next_active_versions([], active_versions=[], latest_version=1, min_replicas=1,
                                update_mode="blue_green") == [1]


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="canary"):
        next_active_versions([], latest_version=1, active_versions=[], min_replicas=1, update_mode="canary")


def test_autoscaler_rolls_through_an_update():
    """The autoscaler launches the new version's replicas and removes old ones as new ones become READY."""
    spec = spec_from_dict({"service": {"readiness_probe": "/", "replicas": 2},
                           "resources": {"cloud": "local"}, "run": "python -m http.server"})
    auto = make_autoscaler(spec)
    old = [rv(1, 1), rv(2, 1)]
    kw = dict(latest_version=2, active_versions=[1, 2], update_mode="rolling")
    assert auto.decide(0, old, 0.0, **kw) == [ScaleUp(None, "target")] * 2
    outdated = "outdated version"
    assert auto.decide(20, [*old, rv(3, 2), rv(4, 2, S.STARTING)], 0.0, **kw) == [ScaleDown(2, outdated)]
    assert auto.decide(40, [*old, rv(3, 2), rv(4, 2)], 0.0, **kw) == [ScaleDown(2, outdated),
                                                                     ScaleDown(1, outdated)]
