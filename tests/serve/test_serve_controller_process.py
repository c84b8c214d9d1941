"""The controller as a process: one per service (flock), SIGTERM stops it after its tick while replicas
and the load balancer keep serving, `ensure_controller` restarts it without relaunching anything, it
restarts a dead load balancer on the same port, and a teardown with no controller leaves nothing running."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serve_helpers import (
    FAST_ENV,
    create_service,
    free_port,
    kill_service_processes,
    processes_with_env,
    replicas,
    service,
    spec_dict,
    wait_for,
)

from providers import local_process as proc
from providers.local import LocalProvider
from skyctl.clock import REAL_CLOCK
from skyctl.errors import UserError
from skyctl.serve import controller_process as cp
from skyctl.serve import paths
from skyctl.serve.config import ControllerConfig
from skyctl.state import dispose_engines


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    monkeypatch.setenv("SKYCTL_HOME", str(home))
    monkeypatch.delenv("SKYCTL_DB_URL", raising=False)
    for key, value in FAST_ENV.items():
        monkeypatch.setenv(key, value)
    yield home
    kill_service_processes()  # finalizer: kill whatever this test started
    provider = LocalProvider(home / "replicas")
    provider.terminate([i.id for i in provider.list() if i.state.live])
    dispose_engines()


def lb_answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_controller_process_lifecycle(home: Path) -> None:
    name, port = "proc-web", free_port()
    sid = create_service(name, spec_dict(replicas=2), now=REAL_CLOCK.now(), lb_port=port)
    provider = LocalProvider(home / "replicas")

    # two starts race: exactly one controller runs, the other leaves at once
    first, second = cp.start_controller(name), cp.start_controller(name)
    wait_for(lambda: service(sid).status == "READY", 30, "service READY")
    svc = service(sid)
    assert cp.controller_alive(svc) and svc.controller_pid in (first, second)
    loser = second if svc.controller_pid == first else first
    wait_for(lambda: not proc.is_alive(loser, None), 10, "second controller to exit")
    assert "another controller of proc-web is running" in paths.controller_log(name).read_text()
    assert cp.lock_held(name)

    # the load balancer is up on the recorded port and routes to the replicas
    wait_for(lambda: lb_answers(port), 20, "load balancer routing")
    instances = sorted(i.id for i in provider.list(name) if i.state.live)
    assert len(instances) == 2

    # SIGTERM: the controller exits after its tick; replicas and the load balancer keep serving
    assert cp.stop_controller(name)
    assert not cp.controller_alive(service(sid)) and not cp.lock_held(name)
    assert sorted(i.id for i in provider.list(name) if i.state.live) == instances
    assert lb_answers(port)

    # any `skyctl serve` command restarts it; it adopts what runs instead of launching again
    lb_pid = service(sid).lb_pid
    assert cp.ensure_controller(name)
    wait_for(lambda: cp.controller_alive(service(sid)), 20, "controller restarted")
    wait_for(lambda: (service(sid).controller_heartbeat or 0) > REAL_CLOCK.now() - 1, 20, "ticking")
    assert [r.replica_id for r in replicas(sid)] == [1, 2]
    assert sorted(i.id for i in provider.list(name) if i.state.live) == instances
    assert service(sid).lb_pid == lb_pid  # alive, so kept

    # a dead load balancer is restarted on the same port (the endpoint is stable)
    os.kill(lb_pid, signal.SIGKILL)  # type: ignore[arg-type]
    wait_for(lambda: service(sid).lb_pid not in (None, lb_pid) and lb_answers(port), 30, "LB restarted")

    # `serve down` with no controller: the CLI tears down itself, and nothing is left running
    assert cp.stop_controller(name)
    assert cp.teardown_service(sid)
    svc = service(sid)
    assert svc.status == "DOWN" and svc.down_at is not None
    assert all(r.status == "TERMINATED" and r.ended_at for r in replicas(sid))
    assert processes_with_env(f"SKYCTL_SERVICE={name}") == []
    assert not cp.lb_alive(svc) and not lb_answers(port)
    assert not cp.ensure_controller(name)  # nothing to restart for a service that is down


def test_config_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = ControllerConfig.from_env({"SKYCTL_SERVE_DRAIN_SECONDS": "0", "SKYCTL_SERVE_LAUNCH_RETRIES": "5"},
                                    tick_seconds=0.5)
    assert (cfg.drain_seconds, cfg.launch_retries, cfg.tick_seconds) == (0.0, 5, 0.5)
    assert ControllerConfig.from_env({}).probe_failure_timeout_seconds == 180.0
    with pytest.raises(UserError, match=r"SKYCTL_SERVE_LAUNCH_RETRIES: not a number \(got 'x'\)"):
        ControllerConfig.from_env({"SKYCTL_SERVE_LAUNCH_RETRIES": "x"})
    with pytest.raises(UserError, match="SKYCTL_SERVE_DRAIN_SECONDS: must be >= 0"):
        ControllerConfig.from_env({"SKYCTL_SERVE_DRAIN_SECONDS": "-1"})
    with pytest.raises(UserError, match="SKYCTL_SERVE_DECISION_INTERVAL_SECONDS: must be > 0"):
        ControllerConfig.from_env({"SKYCTL_SERVE_DECISION_INTERVAL_SECONDS": "0"})
