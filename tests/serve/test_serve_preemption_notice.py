"""A cloud's preemption notice (`Instance.warning`) on a READY spot replica, given through the real local
provider (`LocalProvider.announce_preemption`, the way AWS's spot request status says it two minutes
ahead): in the same tick the replica leaves the load balancer's set, the placer hears of the preemption
and the autoscaler launches the replacement without waiting for its next decision; the noticed replica
drains, then is terminated, or simply ends if the cloud takes it first. Controller on a VirtualClock,
rows in real SQLite, replicas as real processes, probes scripted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_helpers import Rig, service, spec_dict

from providers.base import ProviderUserError, State
from providers.local import PREEMPTION_NOTICE, LocalProvider
from skyctl.serve.config import ControllerConfig
from skyctl.serve.controller import Controller
from skyctl.serve.load_balancer.sync import DbStore

DRAIN = 30.0
DECISIONS = 20.0


pytestmark = pytest.mark.usefixtures("serve_home")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    policy = {"min_replicas": 1, "max_replicas": 1, "spot_placer": "dynamic_fallback"}
    spec = spec_dict(spot=True, zones=("local-a", "local-b", "local-c"), policy=policy)
    config = ControllerConfig(decision_interval_seconds=DECISIONS, drain_seconds=DRAIN)
    r = Rig("noticed", spec, tmp_path / "home" / "replicas", config=config)
    yield r
    r.close()


def routable(rig: Rig) -> list[int]:
    """The replica ids the load balancer would route to now (its own database read)."""
    return [b.replica_id for b in DbStore(rig.service_id).read().backends]


def placer_zones(rig: Rig) -> dict[str, str]:
    state = service(rig.service_id).placer_state
    return {item["location"]["zone"]: item["status"] for item in state["locations"]}


def ready_then_notice(rig: Rig) -> tuple[str, float]:
    rig.tick_until(lambda: rig.status_of() == {1: "READY"}, "first replica READY")
    rig.tick(3)  # well inside the autoscaler's 20 s decision interval
    assert routable(rig) == [1]
    first = rig.rows()[0].instance_id
    assert first and rig.provider.announce_preemption(first).warning == PREEMPTION_NOTICE
    noticed_at = rig.clock.now()
    rig.tick()
    return first, noticed_at


def test_noticed_replica_leaves_the_lb_and_is_replaced_at_once(rig: Rig) -> None:
    first, noticed_at = ready_then_notice(rig)
    rows = {r.replica_id: r for r in rig.rows()}
    one = rows[1]
    assert one.status == "PREEMPTED" and one.preempted and one.ended_at is None
    assert one.failure == f"preemption notice: {PREEMPTION_NOTICE}"
    assert one.drain_until == noticed_at + DRAIN
    assert routable(rig) == []  # the load balancer drops it now, not when the cloud ends it
    assert 2 in rows and rows[2].spot and rows[2].zone != "local-a"  # launched in the notice's tick
    assert placer_zones(rig)["local-a"] == "PREEMPTED"
    assert {i.id: i.state for i in rig.live_instances()}[first] is State.RUNNING  # still draining

    rig.tick_until(lambda: rig.status_of().get(2) == "READY", "replacement READY")
    assert routable(rig) == [2]
    rig.tick_until(lambda: rig.rows()[0].ended_at is not None, "noticed replica terminated after drain",
                   real_pause=0.0)
    one = rig.rows()[0]
    assert one.status == "PREEMPTED" and one.ended_at >= noticed_at + DRAIN
    ended = {i.id: i for i in rig.provider.list(rig.name)}[first]
    assert ended.state is State.TERMINATED and ended.warning is None  # our terminate, after the drain
    assert [i.id for i in rig.live_instances()] == [rig.rows()[1].instance_id]
    assert service(rig.service_id).status == "READY"


def test_cloud_taking_it_during_the_drain_just_ends_the_row(rig: Rig) -> None:
    first, _ = ready_then_notice(rig)
    rig.tick(2)
    rig.provider.preempt(first)  # the two minutes ran out before our drain did
    rig.tick()
    one = rig.rows()[0]
    assert one.status == "PREEMPTED" and one.ended_at == rig.clock.now() - 1.0
    assert one.failure == f"preemption notice: {PREEMPTION_NOTICE}"  # the first word is kept
    assert len(rig.rows()) == 2  # one replacement, not a second one for the same preemption


def test_restarted_controller_finishes_the_drain(rig: Rig) -> None:
    first, noticed_at = ready_then_notice(rig)
    rig.controller.close()
    rig.controller = Controller(rig.service_id, provider_factory=lambda _cloud: rig.provider,
                                clock=rig.clock, config=rig.config, prober=rig.prober)
    rig.tick_until(lambda: rig.rows()[0].ended_at is not None, "drain finished after restart",
                   real_pause=0.0)
    assert rig.rows()[0].status == "PREEMPTED" and rig.rows()[0].ended_at >= noticed_at + DRAIN
    assert first not in [i.id for i in rig.live_instances()]


def test_notice_before_ready_terminates_at_once(tmp_path: Path) -> None:
    spec = spec_dict(spot=True, zones=("local-a", "local-b"), run="exec sleep 60")  # never serves HTTP
    rig = Rig("early", spec, tmp_path / "home" / "replicas", prober=None,
              config=ControllerConfig(decision_interval_seconds=DECISIONS, drain_seconds=DRAIN))
    rig.prober.rule = lambda _target: False
    try:
        rig.tick_until(lambda: rig.rows()[0].instance_id is not None, "first replica launched")
        first = rig.rows()[0].instance_id
        rig.provider.announce_preemption(first)
        rig.tick()
        rows = {r.replica_id: r for r in rig.rows()}
        assert rows[1].status == "PREEMPTED" and rows[1].ended_at is not None  # nothing to drain
        assert first not in [i.id for i in rig.live_instances()] and 2 in rows
    finally:
        rig.close()


def test_local_notice_is_recorded_for_other_processes_and_checked(tmp_path: Path) -> None:
    rig = Rig("solo", spec_dict(spot=True), tmp_path / "home" / "replicas")
    other = LocalProvider(tmp_path / "home" / "replicas")  # e.g. the CLI, in another process
    try:
        rig.tick_until(lambda: rig.rows()[0].instance_id is not None, "launched")
        inst_id = rig.rows()[0].instance_id
        assert other.status([inst_id])[inst_id].warning is None
        rig.provider.announce_preemption(inst_id)
        assert other.status([inst_id])[inst_id].warning == PREEMPTION_NOTICE
        with pytest.raises(ProviderUserError) as err:
            other.announce_preemption("local-nope")
        assert err.value.field == "instance_id" and err.value.value == "local-nope"
    finally:
        rig.close()
