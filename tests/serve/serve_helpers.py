"""Helpers for the controller tests: services written straight to a real SQLite database in a temporary
SKYCTL_HOME, replicas as real local processes (tiny `http.server`s on 127.0.0.1), probe answers scripted
through the `Prober` interface, and /proc scans for anything left running."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# Re-exported: the serve tests import it from here with the other helpers.
from process_scan import processes_with_env as processes_with_env

from skyctl.serve.prober import ProbeResult, ProbeTarget
from skyctl.spec import parse_service_spec
from skyctl.state import read_session, write_session
from skyctl.state import serve_repo as repo
from skyctl.state.serve_tables import ReplicaRecord, ServiceRecord, ServiceVersion

HTTP_RUN = f"exec {sys.executable} -m http.server $SKYCTL_PORT --bind 127.0.0.1"
# Short controller intervals for real-clock tests (the controller process reads them from its env).
FAST_ENV = {
    "SKYCTL_SERVE_TICK_SECONDS": "0.2",
    "SKYCTL_SERVE_PROBE_INTERVAL_SECONDS": "0.5",
    "SKYCTL_SERVE_STARTING_PROBE_INTERVAL_SECONDS": "0.2",
    "SKYCTL_SERVE_DRAIN_SECONDS": "0",
    "SKYCTL_SERVE_DECISION_INTERVAL_SECONDS": "0.5",
    "SKYCTL_SERVE_LB_CHECK_SECONDS": "0.5",
}


def spec_dict(*, replicas: int = 1, spot: bool = False, zones: Sequence[str] = ("local-a", "local-b"),
              run: str = HTTP_RUN, initial_delay: float = 60, setup: str | None = None,
              policy: dict[str, Any] | None = None) -> dict[str, Any]:
    """A service on the local provider; `policy` replaces `replicas` with a replica_policy."""
    service: dict[str, Any] = {"readiness_probe": {"path": "/", "initial_delay_seconds": initial_delay,
                                                   "timeout_seconds": 2}}
    if policy:
        service["replica_policy"] = policy
    else:
        service["replicas"] = replicas
    out: dict[str, Any] = {"service": service,
                           "resources": {"cloud": "local", "use_spot": spot,
                                         "any_of": [{"zone": z} for z in zones]},
                           "run": run}
    if setup:
        out["setup"] = setup
    return out


def create_service(name: str, spec: dict[str, Any], *, now: float, lb_port: int | None = None) -> int:
    """What `serve up` writes before it starts the controller: the service row and version 1."""
    parsed = parse_service_spec(spec)
    with write_session() as s:
        svc = ServiceRecord(name=name, status="CONTROLLER_INIT", created_at=now, lb_port=lb_port)
        s.add(svc)
        s.flush()
        repo.add_version(s, ServiceVersion(service_id=svc.id, version=1, spec=parsed.to_dict(),
                                           spec_hash=parsed.version, replica_digest=parsed.replica_digest,
                                           created_at=now))
        return svc.id  # type: ignore[return-value]


def add_version(service_id: int, spec: dict[str, Any], *, now: float, mode: str = "rolling") -> int:
    """What `serve update` writes: a new version, made current."""
    parsed = parse_service_spec(spec)
    with write_session() as s:
        svc = repo.service_by_id(s, service_id)
        number = svc.current_version + 1  # type: ignore[union-attr]
        repo.add_version(s, ServiceVersion(service_id=service_id, version=number, spec=parsed.to_dict(),
                                           spec_hash=parsed.version, replica_digest=parsed.replica_digest,
                                           created_at=now))
        svc.current_version, svc.update_mode = number, mode  # type: ignore[union-attr]
        s.add(svc)
    return number


def service(service_id: int) -> ServiceRecord:
    with read_session() as s:
        return repo.service_by_id(s, service_id)  # type: ignore[return-value]


def replicas(service_id: int) -> list[ReplicaRecord]:
    with read_session() as s:
        return repo.replicas(s, service_id)


def statuses(service_id: int) -> dict[int, str]:
    return {r.replica_id: r.status for r in replicas(service_id)}


class ScriptedProber:
    """Answers probes from a rule instead of HTTP: `rule(target) -> bool` (default: everyone is ready)."""

    def __init__(self, rule: Callable[[ProbeTarget], bool] | None = None) -> None:
        self.rule = rule or (lambda _t: True)
        self.calls: list[list[int]] = []

    def probe(self, targets: Sequence[ProbeTarget]) -> dict[int, ProbeResult]:
        self.calls.append([t.replica_id for t in targets])
        return {t.replica_id: ProbeResult(ok, "scripted ok" if ok else "scripted failure")
                for t in targets for ok in [self.rule(t)]}


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def spawn_controller(name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A real controller process, as `start_controller` runs it, but a child the test can kill -9."""
    from skyctl.serve import paths

    log = open(paths.controller_log(name), "ab")  # noqa: SIM115 - the child keeps it
    try:
        return subprocess.Popen([sys.executable, "-m", "skyctl.serve.controller", name], env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    finally:
        log.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kill_service_processes() -> None:
    """Finalizers: SIGKILL every controller and load balancer any service row records, if still alive."""
    from providers import local_process as proc

    with read_session() as s:
        rows = repo.all_services(s)
    for row in rows:
        for pid, started in ((row.controller_pid, row.controller_start_time),
                             (row.lb_pid, row.lb_start_time)):
            if pid and proc.is_alive(pid, started):
                os.kill(pid, 9)


class Rig:
    """One controller in-process on a virtual clock, over the real local provider and a scripted prober.
    Replica processes start in real time, so `tick_until` also waits a little real time between ticks."""

    def __init__(self, name: str, spec: dict[str, Any], root: Path, *, config: Any = None,
                 provider: Any = None, prober: Any = None, start: float = 1_000_000.0) -> None:
        from providers.local import LocalProvider
        from skyctl.clock import VirtualClock
        from skyctl.serve.config import ControllerConfig
        from skyctl.serve.controller import Controller

        self.name = name
        self.clock = VirtualClock(start)
        self.provider = provider or LocalProvider(root, grace_seconds=2.0)
        self.prober = prober or ScriptedProber()
        self.config = config or ControllerConfig(decision_interval_seconds=1.0)
        self.service_id = create_service(name, spec, now=self.clock.now())
        self.controller = Controller(self.service_id, provider_factory=lambda _cloud: self.provider,
                                     clock=self.clock, config=self.config, prober=self.prober)

    def tick(self, n: int = 1, advance: float = 1.0) -> bool:
        alive = True
        for _ in range(n):
            alive = self.controller.tick()
            self.clock.advance(advance)
        return alive

    def tick_until(self, predicate: Callable[[], bool], what: str, max_ticks: int = 100,
                   advance: float = 1.0, real_pause: float = 0.05) -> None:
        for _ in range(max_ticks):
            self.tick(advance=advance)
            if predicate():
                return
            time.sleep(real_pause)
        raise AssertionError(f"not {what} after {max_ticks} ticks: {statuses(self.service_id)}, "
                             f"service {service(self.service_id).status}")

    def rows(self) -> list[ReplicaRecord]:
        return replicas(self.service_id)

    def status_of(self) -> dict[int, str]:
        return statuses(self.service_id)

    def live_instances(self) -> list[Any]:
        return [i for i in self.provider.list(self.name) if i.state.live]

    def close(self) -> None:
        self.controller.close()
        self.provider.terminate([i.id for i in self.provider.list() if i.state.live])
