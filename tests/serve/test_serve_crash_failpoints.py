"""Crash safety with real processes: a controller frozen at a failpoint (mid-launch before and after the
provider call, mid-scale-down before the terminate) is killed with SIGKILL, restarted the way every
`skyctl serve` command restarts it (`ensure_controller`), and then the provider's inventory holds exactly
the expected instances: no orphan, no duplicate, no lost service."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from serve_helpers import (
    FAST_ENV,
    add_version,
    create_service,
    free_port,
    kill_service_processes,
    processes_with_env,
    replicas,
    service,
    spawn_controller,
    spec_dict,
    wait_for,
)

from providers.local import LocalProvider
from skyctl.clock import REAL_CLOCK
from skyctl.serve import controller_process as cp
from skyctl.serve import failpoints
from skyctl.state import dispose_engines


@dataclass
class Env:
    home: Path
    provider: LocalProvider
    children: list[subprocess.Popen[bytes]]

    def spawn(self, name: str, failpoint: str | None = None) -> subprocess.Popen[bytes]:
        env = {**os.environ, failpoints.ENV: failpoint or ""}
        child = spawn_controller(name, env)
        self.children.append(child)
        return child

    def hit(self, name: str) -> Path:
        return self.home / "failpoints" / f"{name}.hit"

    def live(self, name: str) -> list:
        return [i for i in self.provider.list(name) if i.state.live]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    home = tmp_path / "home"
    monkeypatch.setenv("SKYCTL_HOME", str(home))
    monkeypatch.delenv("SKYCTL_DB_URL", raising=False)
    monkeypatch.delenv(failpoints.ENV, raising=False)
    for key, value in FAST_ENV.items():
        monkeypatch.setenv(key, value)
    e = Env(home, LocalProvider(home / "replicas", grace_seconds=2.0), [])
    yield e
    # Finalizer: no controller, load balancer or replica outlives the test, whatever happened.
    for child in e.children:
        child.kill()
        child.wait(timeout=10)
    kill_service_processes()
    e.provider.terminate([i.id for i in e.provider.list() if i.state.live])
    dispose_engines()


def crash_at(env: Env, name: str, point: str, child: subprocess.Popen[bytes]) -> None:
    wait_for(lambda: env.hit(point).exists(), 30, f"failpoint {point}")
    assert env.hit(point).read_text() == str(child.pid)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)


def restart_and_settle(env: Env, name: str, sid: int, ready: int) -> None:
    assert cp.ensure_controller(name)  # what every `skyctl serve` command does
    wait_for(lambda: cp.controller_alive(service(sid)), 20, "restarted controller")
    wait_for(lambda: [r.status for r in replicas(sid) if r.status == "READY"] == ["READY"] * ready,
             30, f"{ready} READY after restart")


def assert_inventory(env: Env, name: str, sid: int) -> None:
    """Every live instance belongs to exactly one READY row, and every READY row has its instance."""
    live = env.live(name)
    rows = {r.instance_id: r for r in replicas(sid) if r.status == "READY"}
    assert sorted(i.id for i in live) == sorted(rows)  # no orphan, no duplicate
    for inst in live:
        assert inst.idempotency_key == rows[inst.id].idempotency_key


def _own_processes(name: str) -> set[int]:
    """This test's processes of the service (a same-named service of another run does not count)."""
    home = f"SKYCTL_HOME={os.environ['SKYCTL_HOME']}"
    return set(processes_with_env(f"SKYCTL_SERVICE={name}")) & set(processes_with_env(home))


def tear_down(name: str, sid: int) -> None:
    cp.request_down(name)
    wait_for(lambda: service(sid).status == "DOWN", 30, "DOWN")
    wait_for(lambda: _own_processes(name) == set(), 10, "no replica process")
    svc = service(sid)
    wait_for(lambda: not cp.controller_alive(svc) and not cp.lb_alive(svc), 10, "controller and LB gone")


@pytest.mark.slow
@pytest.mark.parametrize("point", [failpoints.BEFORE_LAUNCH, failpoints.AFTER_LAUNCH])
def test_kill_mid_launch_then_restart_has_one_instance(env: Env, point: str) -> None:
    name = f"crash-{point.replace('_', '-')}"
    sid = create_service(name, spec_dict(replicas=1), now=REAL_CLOCK.now(), lb_port=free_port())
    crash_at(env, name, point, env.spawn(name, point))

    [row] = replicas(sid)
    assert row.status == "PROVISIONING" and row.instance_id is None and row.idempotency_key
    launched = env.live(name)
    if point == failpoints.BEFORE_LAUNCH:
        assert launched == []  # the row (write-ahead) exists, the launch never happened
    else:
        assert [i.idempotency_key for i in launched] == [row.idempotency_key]  # launched, not recorded

    restart_and_settle(env, name, sid, ready=1)
    [row] = replicas(sid)  # no second replica row: the interrupted one was finished, not replaced
    assert row.replica_id == 1 and row.status == "READY"
    if point == failpoints.AFTER_LAUNCH:
        assert row.instance_id == launched[0].id  # adopted, not launched again
    assert_inventory(env, name, sid)
    assert len(env.provider.list(name)) == 1  # not even a terminated duplicate
    tear_down(name, sid)


@pytest.mark.slow
def test_kill_mid_scale_down_then_restart_finishes_it(env: Env) -> None:
    name = "crash-scale-down"
    sid = create_service(name, spec_dict(replicas=2), now=REAL_CLOCK.now(), lb_port=free_port())
    child = env.spawn(name, failpoints.BEFORE_TERMINATE)
    wait_for(lambda: [r.status for r in replicas(sid)] == ["READY", "READY"], 30, "2 READY")
    before = {i.id for i in env.live(name)}
    add_version(sid, spec_dict(replicas=1), now=REAL_CLOCK.now())  # `serve update` to one replica
    crash_at(env, name, failpoints.BEFORE_TERMINATE, child)

    rows = {r.replica_id: r for r in replicas(sid)}
    [victim] = [r for r in rows.values() if r.status == "SHUTTING_DOWN"]
    assert victim.scale_down_at is not None and victim.ended_at is None
    assert {i.id for i in env.live(name)} == before  # the terminate never happened

    restart_and_settle(env, name, sid, ready=1)
    wait_for(lambda: {r.replica_id: r.status for r in replicas(sid)}[victim.replica_id] == "TERMINATED",
             20, "scale-down finished")
    assert victim.instance_id not in {i.id for i in env.live(name)}
    assert len(replicas(sid)) == 2  # nothing relaunched
    assert_inventory(env, name, sid)
    tear_down(name, sid)
