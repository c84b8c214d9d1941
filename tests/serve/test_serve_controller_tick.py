"""The controller's tick on a virtual clock: replicas are real local processes, probe answers are
scripted through the `Prober` interface, the database is real SQLite in a temporary SKYCTL_HOME."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_helpers import Rig, ScriptedProber, processes_with_env, service, spec_dict

from providers.local import ON_DEMAND_PRICE, SPOT_PRICES
from skyctl.serve.config import ControllerConfig
from skyctl.serve.controller_process import teardown_service

pytestmark = pytest.mark.usefixtures("serve_home")


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for rig in made:  # never leave a replica process behind, even when the test failed
        rig.close()


def make(rigs: list[Rig], tmp_path: Path, name: str, spec: dict, **kw) -> Rig:
    rig = Rig(name, spec, tmp_path / "home" / "replicas", **kw)
    rigs.append(rig)
    return rig


def test_replicas_launch_start_and_become_ready(rigs: list[Rig], tmp_path: Path) -> None:
    rig = make(rigs, tmp_path, "web", spec_dict(replicas=2, spot=True))
    t0 = rig.clock.now()
    rig.tick()
    rows = rig.rows()
    assert [r.status for r in rows] == ["PROVISIONING", "PROVISIONING"]
    assert all(r.instance_id and r.idempotency_key and r.cloud == "local" for r in rows)
    rig.tick_until(lambda: service(rig.service_id).status == "READY", "READY")
    rig.tick_until(lambda: set(rig.status_of().values()) == {"READY"}, "both READY")
    svc, rows = service(rig.service_id), rig.rows()
    assert svc.uptime_start is not None and svc.uptime_start > t0
    assert svc.controller_heartbeat == pytest.approx(rig.clock.now() - 1.0)
    for r in rows:
        assert r.spot and r.zone == "local-a"  # cheapest spot zone, no spot placer asked for
        assert r.price_per_hour == SPOT_PRICES["local-a"] and r.ondemand_price_per_hour == ON_DEMAND_PRICE
        assert r.launched_at == t0 and r.ready_at is not None and r.ready_at > r.launched_at
        assert r.endpoint.startswith("http://127.0.0.1:")
    assert len(rig.live_instances()) == 2
    # the autoscaler state and the heartbeat are persisted for the next controller
    assert svc.autoscaler_state.get("target") == 2 and svc.placer_state is not None


def test_ready_not_ready_then_failed_probing_and_replacement(rigs: list[Rig], tmp_path: Path) -> None:
    healthy = {"ok": True}
    prober = ScriptedProber(lambda t: healthy["ok"] or t.replica_id != 1)
    cfg = ControllerConfig(decision_interval_seconds=1.0, probe_interval_seconds=5,
                           probe_failure_timeout_seconds=30)
    rig = make(rigs, tmp_path, "flaky", spec_dict(replicas=1), prober=prober, config=cfg)
    rig.tick_until(lambda: rig.status_of() == {1: "READY"}, "READY")
    healthy["ok"] = False
    rig.tick_until(lambda: rig.status_of()[1] == "NOT_READY", "NOT_READY", max_ticks=10)
    row = rig.rows()[0]
    assert row.not_ready_since is not None and "scripted failure" in row.failure
    started = row.not_ready_since
    first_instance = row.instance_id
    rig.tick_until(lambda: rig.status_of()[1] == "FAILED_PROBING", "FAILED_PROBING", max_ticks=60)
    row = rig.rows()[0]
    assert row.ended_at is not None and row.ended_at - started >= 30
    assert first_instance not in [i.id for i in rig.live_instances()]
    # the autoscaler replaces it (the version was READY once, so no fail-fast) and the new one is READY
    rig.tick_until(lambda: rig.status_of().get(2) == "READY", "replacement READY")
    assert service(rig.service_id).status == "READY"


def test_never_ready_fails_initial_delay_and_fails_fast(rigs: list[Rig], tmp_path: Path) -> None:
    prober = ScriptedProber(lambda t: False)
    rig = make(rigs, tmp_path, "slow", spec_dict(replicas=1, initial_delay=20), prober=prober)
    rig.tick_until(lambda: rig.status_of()[1] == "FAILED_INITIAL_DELAY", "FAILED_INITIAL_DELAY", max_ticks=40)
    row = rig.rows()[0]
    assert "initial_delay_seconds=20" in row.failure and row.ended_at is not None
    assert row.ended_at - row.launched_at > 20
    assert rig.live_instances() == []
    rig.tick(10)
    # fail-fast: a version never READY whose replica failed unrecoverably is not relaunched in a loop
    assert list(rig.status_of()) == [1]
    svc = service(rig.service_id)
    assert svc.status == "FAILED" and "initial_delay_seconds" in svc.message


def test_app_exit_is_failed_with_the_reason(rigs: list[Rig], tmp_path: Path) -> None:
    rig = make(rigs, tmp_path, "crashy", spec_dict(replicas=1, run="echo starting; exit 3"))
    rig.tick_until(lambda: rig.status_of()[1] == "FAILED", "FAILED")
    row = rig.rows()[0]
    assert row.user_app_failed and row.failure == "exit 3" and row.ended_at is not None
    rig.tick(5)
    assert list(rig.status_of()) == [1]  # fail-fast, no crash loop
    assert service(rig.service_id).status == "FAILED"


def test_spot_capacity_error_moves_to_the_next_zone(rigs: list[Rig], tmp_path: Path) -> None:
    rig = make(rigs, tmp_path, "cap", spec_dict(replicas=1, spot=True, zones=("local-a", "local-b")))
    rig.provider.set_spot_capacity("local-a", 0)
    rig.tick()
    row = rig.rows()[0]
    assert row.zone == "local-b" and row.instance_id is not None and row.launch_attempts == 2
    assert row.price_per_hour == SPOT_PRICES["local-b"]
    backoff = service(rig.service_id).placer_state["backoff"]  # the placer learnt, and it is persisted
    assert [(b["location"]["zone"], b["spot"], b["errors"]) for b in backoff] == [("local-a", True, 1)]


def test_no_capacity_anywhere_is_failed_provision_with_the_reasons(rigs: list[Rig], tmp_path: Path) -> None:
    rig = make(rigs, tmp_path, "nocap", spec_dict(replicas=1, spot=True, zones=("local-a", "local-b")))
    rig.provider.set_spot_capacity("local-a", 0)
    rig.provider.set_spot_capacity("local-b", 0)
    rig.tick()
    row = rig.rows()[0]
    assert row.status == "FAILED_PROVISION" and row.ended_at is not None
    assert "no capacity in any of 2 location(s)" in row.failure and "local-spot-capacity" in row.failure
    assert rig.live_instances() == []
    rig.provider.set_spot_capacity("local-b", None)
    rig.tick_until(lambda: "READY" in rig.status_of().values(), "a later replica READY")
    assert service(rig.service_id).status == "READY"


def test_scale_down_drains_then_terminates(rigs: list[Rig], tmp_path: Path) -> None:
    from serve_helpers import add_version

    cfg = ControllerConfig(decision_interval_seconds=1.0, drain_seconds=30)
    rig = make(rigs, tmp_path, "shrink", spec_dict(replicas=2), config=cfg)
    rig.tick_until(lambda: list(rig.status_of().values()) == ["READY", "READY"], "2 READY")
    ids = {r.replica_id: r.instance_id for r in rig.rows()}
    # `serve update` to 1 replica: same task, so both stay (re-labelled in place), then one scales down
    add_version(rig.service_id, spec_dict(replicas=1), now=rig.clock.now())
    rig.tick()
    rows = {r.replica_id: r for r in rig.rows()}
    assert {r.version for r in rows.values()} == {2}
    down = [r for r in rows.values() if r.status == "SHUTTING_DOWN"]
    assert len(down) == 1 and down[0].drain_until == down[0].scale_down_at + 30
    victim = down[0]
    rig.tick(20)
    assert rig.status_of()[victim.replica_id] == "SHUTTING_DOWN"  # still draining
    assert ids[victim.replica_id] in [i.id for i in rig.live_instances()]
    rig.tick(12)
    row = {r.replica_id: r for r in rig.rows()}[victim.replica_id]
    assert row.status == "TERMINATED" and row.ended_at >= row.drain_until
    assert [i.id for i in rig.live_instances()] == [ids[r] for r in ids if r != victim.replica_id]
    assert service(rig.service_id).active_versions == [2]


def test_update_with_a_new_task_rolls_replicas_over(rigs: list[Rig], tmp_path: Path) -> None:
    from serve_helpers import add_version

    cfg = ControllerConfig(decision_interval_seconds=1.0, drain_seconds=0)
    rig = make(rigs, tmp_path, "roll", spec_dict(replicas=1), config=cfg)
    rig.tick_until(lambda: rig.status_of() == {1: "READY"}, "v1 READY")
    new_run = spec_dict(replicas=1)["run"] + " --directory /"
    add_version(rig.service_id, {**spec_dict(replicas=1), "run": new_run}, now=rig.clock.now())
    rig.tick()
    assert service(rig.service_id).active_versions == [1, 2]  # old keeps serving while the new starts
    rig.tick_until(lambda: rig.status_of().get(2) == "READY", "v2 READY")
    rig.tick_until(lambda: rig.status_of()[1] == "TERMINATED", "v1 terminated")
    rows = {r.replica_id: r for r in rig.rows()}
    assert rows[1].version == 1 and rows[2].version == 2
    rig.tick()
    assert service(rig.service_id).active_versions == [2]
    assert [i.replica_id for i in rig.live_instances()] == ["2"]


def test_teardown_terminates_everything_and_marks_down(rigs: list[Rig], tmp_path: Path) -> None:
    rig = make(rigs, tmp_path, "bye", spec_dict(replicas=2))
    rig.tick_until(lambda: list(rig.status_of().values()) == ["READY", "READY"], "2 READY")
    assert len(processes_with_env("SKYCTL_SERVICE=bye")) >= 2
    assert teardown_service(rig.service_id, provider_factory=lambda _c: rig.provider, clock=rig.clock)
    svc = service(rig.service_id)
    assert svc.status == "DOWN" and svc.down_at == rig.clock.now()
    assert all(r.status == "TERMINATED" and r.ended_at == rig.clock.now() for r in rig.rows())
    assert processes_with_env("SKYCTL_SERVICE=bye") == []
    assert rig.tick() is False  # the controller stops once its service is down
