"""The local provider beyond the contract: environment, failures, logs, pid reuse, slow shutdowns."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from provider_harness import HTTP_RUN, processes_with_env, wait_for

from providers import get_provider
from providers.base import CapacityError, LaunchSpec, ProviderUserError, State
from providers.local import ON_DEMAND_PRICE, PREEMPTION_REASON, SPOT_PRICES, LocalProvider
from skyctl.errors import UserError

SVC = f"svc-{uuid.uuid4().hex[:6]}"  # unique, so process checks never see another run's replicas


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def local(tmp_path: Path):
    provider = LocalProvider(tmp_path / "replicas", grace_seconds=0.5, clock=FakeClock())
    yield provider
    provider.terminate([i.id for i in provider.list() if i.state.live])


def _spec(run: str, **kw) -> LaunchSpec:
    return LaunchSpec(**{"service": SVC, "replica_id": "1", "idempotency_key": "svc-1-a", "run": run, **kw})


def _state(p: LocalProvider, inst_id: str) -> State:
    return p.status([inst_id])[inst_id].state


def test_environment_workdir_and_log(local: LocalProvider, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    run = ('echo "$SKYCTL_PORT $SKYCTL_REPLICA_ID $SKYPILOT_SERVE_REPLICA_ID '
           '$SKYPILOT_NUM_GPUS_PER_NODE $GREETING $(pwd)" > seen.txt; exec sleep 30')
    inst = local.launch(_spec(run, replica_id="7", setup="echo setting-up", envs={"GREETING": "hi"},
                              accelerators={"A100": 2}, workdir=str(work), spot=True, zone="local-c"))
    wait_for(lambda: (work / "seen.txt").exists() and (work / "seen.txt").read_text().strip(), what="run")
    port = inst.endpoint.rsplit(":", 1)[1]
    assert (work / "seen.txt").read_text().split() == [port, "7", "7", "2", "hi", str(work)]
    assert "setting-up" in local.log_path(inst.id).read_text()
    assert _state(local, inst.id) == State.RUNNING
    assert inst.launched_at == 1000.0 and inst.price_per_hour == SPOT_PRICES["local-c"]
    record = json.loads(local.log_path(inst.id).with_suffix(".json").read_text())
    assert record["idempotency_key"] == "svc-1-a" and record["pid"] > 0 and record["zone"] == "local-c"


def test_setup_failure_is_failed_and_run_never_starts(local: LocalProvider, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    inst = local.launch(_spec(f"touch {marker}", setup="echo broken >&2; exit 3"))
    wait_for(lambda: _state(local, inst.id) == State.FAILED, what="FAILED")
    seen = local.status([inst.id])[inst.id]
    assert seen.reason == "setup failed: exit 3" and not marker.exists()
    assert "broken" in local.log_path(inst.id).read_text()


def test_run_exiting_on_its_own_is_failed_with_exit_code(local: LocalProvider) -> None:
    inst = local.launch(_spec("exit 7"))
    local.clock.now = 1060.0
    wait_for(lambda: _state(local, inst.id) == State.FAILED, what="FAILED")
    seen = local.status([inst.id])[inst.id]
    assert (seen.reason, seen.ended_at) == ("exit 7", 1060.0)
    local.terminate([inst.id])  # a finished instance stays FAILED: terminate does not rewrite history
    assert _state(local, inst.id) == State.FAILED


def test_terminate_escalates_to_sigkill_for_the_whole_group(local: LocalProvider) -> None:
    inst = local.launch(_spec("trap '' TERM; sleep 30 & sleep 30; wait", service=f"{SVC}-stubborn"))
    wait_for(lambda: len(processes_with_env(f"SKYCTL_SERVICE={SVC}-stubborn")) >= 3, what="children")
    started = time.monotonic()
    local.terminate([inst.id])
    assert time.monotonic() - started >= 0.5  # waited the grace period before SIGKILL
    assert processes_with_env(f"SKYCTL_SERVICE={SVC}-stubborn") == []
    assert _state(local, inst.id) == State.TERMINATED


def test_pid_reuse_guard_never_signals_a_stranger(local: LocalProvider) -> None:
    inst = local.launch(_spec("exec sleep 30"))
    local.terminate([inst.id])
    # Start times have a 10 ms resolution: let one tick pass so the stranger's differs from the replica's.
    time.sleep(0.05)
    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        # Pretend the stranger got the replica's pid: same pid in the record, a different start time.
        path = local.log_path(inst.id).with_suffix(".json")
        record = json.loads(path.read_text())
        record.update(pid=stranger.pid, state="running", stop_reason=None)
        path.write_text(json.dumps(record))
        (path.parent / f"{inst.id}.exit").unlink(missing_ok=True)
        seen = local.status([inst.id])[inst.id]
        assert seen.state == State.FAILED and "vanished" in seen.reason
        local.terminate([inst.id])
        time.sleep(0.1)
        assert stranger.poll() is None  # still alive: never signalled
    finally:
        stranger.kill()
        stranger.wait(5)


def test_preempt_rules(local: LocalProvider) -> None:
    od = local.launch(_spec("exec sleep 30"))
    with pytest.raises(ProviderUserError, match="only spot"):
        local.preempt(od.id)
    with pytest.raises(ProviderUserError) as err:
        local.preempt("local-nothere")
    assert err.value.field == "instance_id"
    spot = local.launch(_spec("exec sleep 30", replica_id="2", idempotency_key="svc-2-a", spot=True))
    assert local.preempt(spot.id).reason == PREEMPTION_REASON
    assert local.preempt(spot.id).state == State.PREEMPTED  # idempotent


def test_launch_interrupted_before_spawn_is_finished_by_a_relaunch(local: LocalProvider,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*_args: object) -> None:
        raise KeyboardInterrupt("controller killed between the record and the process")

    with monkeypatch.context() as m:
        m.setattr(LocalProvider, "_spawn", crash)
        with pytest.raises(KeyboardInterrupt):
            local.launch(_spec(HTTP_RUN))
    [orphan] = local.list(SVC)
    assert orphan.state == State.FAILED and "interrupted" in orphan.reason
    resumed = local.launch(_spec(HTTP_RUN))
    assert resumed.id == orphan.id and resumed.state != State.FAILED
    wait_for(lambda: _state(local, resumed.id) == State.RUNNING, what="RUNNING")
    assert len(local.list(SVC)) == 1


@pytest.mark.parametrize(("field", "kw"), [
    ("service", {"service": "../escape"}), ("run", {"run": ""}), ("region", {"region": "us-east-1"}),
    ("workdir", {"workdir": "/no/such/dir"}), ("zone", {"zone": "local-z"}),
])
def test_bad_launch_input_names_the_field(local: LocalProvider, field: str, kw: dict) -> None:
    with pytest.raises(ProviderUserError) as err:
        local.launch(_spec(**{"run": "true", **kw}))
    assert err.value.field == field and err.value.fix
    assert local.list() == []


def test_prices_and_registry(tmp_path: Path) -> None:
    p = get_provider("LOCAL", root=tmp_path)
    assert p.price(None, spot=False) == ON_DEMAND_PRICE
    assert p.price(None, spot=True, zone="local-b") == SPOT_PRICES["local-b"]
    assert p.price(None, spot=True) == min(SPOT_PRICES.values())
    with pytest.raises(UserError, match="did you mean 'local'"):
        get_provider("lcoal")


def test_spot_capacity_counts_only_live_spot_replicas(local: LocalProvider) -> None:
    def spot_a(rid: str) -> LaunchSpec:
        return _spec("exec sleep 30", replica_id=rid, idempotency_key=f"k{rid}", spot=True, zone="local-a")

    local.set_spot_capacity("local-a", 1)
    first = local.launch(spot_a("1"))
    with pytest.raises(CapacityError, match="no spot capacity"):
        local.launch(spot_a("2"))
    local.preempt(first.id)
    assert local.launch(spot_a("2")).state.live
    local.set_spot_capacity("local-a", None)
    assert local.launch(spot_a("3")).state.live


def test_concurrent_launches_of_one_key_start_one_instance(tmp_path: Path) -> None:
    """Two controllers (here: threads with their own provider objects) racing on the same key."""
    providers = [LocalProvider(tmp_path, grace_seconds=0.5) for _ in range(4)]
    with ThreadPoolExecutor(len(providers)) as pool:
        ids = set(pool.map(lambda p: p.launch(_spec("exec sleep 30")).id, providers))
    try:
        assert len(ids) == 1 and len(providers[0].list(SVC)) == 1
    finally:
        providers[1].terminate(ids)
    assert processes_with_env(f"SKYCTL_SERVICE={SVC}") == []
