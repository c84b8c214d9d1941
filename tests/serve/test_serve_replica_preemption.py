"""A spot preemption of a local replica, taken back exactly as a cloud would (`LocalProvider.preempt`),
is noticed by the controller, recorded for the cost report, fed to the placer, and replaced by a new
replica that real HTTP readiness probes find READY."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serve_helpers import Rig, service, spec_dict

from skyctl.serve.prober import HttpProber

pytestmark = pytest.mark.usefixtures("serve_home")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    policy = {"min_replicas": 1, "max_replicas": 1, "spot_placer": "dynamic_fallback"}
    spec = spec_dict(spot=True, zones=("local-a", "local-b", "local-c"), policy=policy)
    r = Rig("spotty", spec, tmp_path / "home" / "replicas", prober=HttpProber())
    yield r
    r.close()


def test_preempted_spot_replica_is_replaced_elsewhere_and_ready(rig: Rig) -> None:
    rig.tick_until(lambda: rig.status_of() == {1: "READY"}, "first replica READY", real_pause=0.1)
    first = rig.rows()[0]
    assert first.zone == "local-a"  # the cheapest spot zone
    assert httpx.get(first.endpoint + "/", timeout=5).status_code == 200

    rig.provider.preempt(first.instance_id)
    rig.tick()
    rows = {r.replica_id: r for r in rig.rows()}
    assert rows[1].status == "PREEMPTED" and rows[1].preempted
    assert rows[1].ended_at == rig.clock.now() - 1.0 and rows[1].failure == "local-spot-preemption"
    # SpotHedge's placer took local-a out of the active set (persisted for a restarted controller)
    state = service(rig.service_id).placer_state
    placed = {item["location"]["zone"]: item["status"] for item in state["locations"]}
    assert placed == {"local-a": "PREEMPTED", "local-b": "ACTIVE", "local-c": "ACTIVE"}

    rig.tick_until(lambda: rig.status_of().get(2) == "READY", "replacement READY", real_pause=0.1)
    second = {r.replica_id: r for r in rig.rows()}[2]
    assert second.spot and second.zone != "local-a" and second.instance_id != first.instance_id
    assert httpx.get(second.endpoint + "/", timeout=5).status_code == 200
    assert service(rig.service_id).status == "READY"
    live = rig.live_instances()
    assert [i.id for i in live] == [second.instance_id]
