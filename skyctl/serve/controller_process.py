"""The processes of a service: one controller (`python -m skyctl.serve.controller NAME`) and one load
balancer, each in its own session so they outlive the CLI that started them.

A process is identified by pid *and* `/proc` start time (pids get reused). One controller per service is
enforced by an flock on `paths.controller_lock(name)` that the controller holds for its lifetime; the
kernel drops it when the process dies, even by `kill -9`, so a dead controller never blocks its successor.
Every `skyctl serve` command calls `ensure_controller` to restart a dead controller of a live service.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

from providers import local_process as proc
from providers.base import Provider
from providers.registry import get_provider
from skyctl.clock import REAL_CLOCK, Clock
from skyctl.serve import paths
from skyctl.serve.status import ALIVE, ReplicaStatus, ServiceStatus
from skyctl.state import read_session, write_session
from skyctl.state import serve_repo as repo
from skyctl.state.serve_tables import ServiceRecord

STOP_TIMEOUT_S = 60.0  # a controller finishes its tick (probes, terminates) before exiting on SIGTERM
_children: dict[int, subprocess.Popen[bytes]] = {}  # reaped opportunistically so they do not linger

__all__ = ["controller_alive", "ensure_controller", "ensure_load_balancer", "lb_alive", "lock_held",
           "provider_for", "request_down", "start_controller", "stop_controller", "stop_load_balancer",
           "teardown_service"]


@cache
def provider_for(cloud: str) -> Provider:
    """One provider object per cloud per process."""
    return get_provider(cloud)


# -- controller -----------------------------------------------------------------------------------------
def start_controller(name: str) -> int:
    """Spawn the service's controller; it records its own pid in the service row once it holds the lock
    (a second one exits). Until then the spawn note below tells `ensure_controller` one is on its way."""
    pid = _spawn([sys.executable, "-m", "skyctl.serve.controller", name], paths.controller_log(name))
    note = _spawn_note(name)
    note.with_suffix(".tmp").write_text(f"{pid} {proc.start_time(pid)}")
    note.with_suffix(".tmp").replace(note)
    return pid


def _spawn_note(name: str) -> Path:
    return paths.service_dir(name) / "controller.spawned"


def _starting(name: str) -> bool:
    """A controller spawned by `start_controller` is still alive (importing, or waiting for the lock)."""
    try:
        pid, started = _spawn_note(name).read_text().split()
    except (FileNotFoundError, ValueError):
        return False
    return proc.is_alive(int(pid), None if started == "None" else int(started))


def controller_alive(row: ServiceRecord) -> bool:
    return bool(row.controller_pid) and proc.is_alive(row.controller_pid, row.controller_start_time)


def lock_held(name: str) -> bool:
    """Whether some process holds the service's controller lock (a controller is running or starting)."""
    with open(paths.controller_lock(name), "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def ensure_controller(name: str) -> bool:
    """Restart the controller of a live service if it is dead; False when there is no such service or it
    is being taken down."""
    _reap()
    with read_session() as s:
        row = repo.live_service(s, name)
    if row is None or row.down_requested_at is not None:
        return False
    if not (controller_alive(row) or _starting(name) or lock_held(name)):
        start_controller(name)
    return True


def stop_controller(name: str, timeout: float = STOP_TIMEOUT_S) -> bool:
    """SIGTERM the controller (it finishes its tick; replicas keep running), SIGKILL after `timeout`.
    True when no controller is left."""
    with read_session() as s:
        row = repo.live_service(s, name)
    if row is None or not controller_alive(row):
        return not lock_held(name)
    return _stop(row.controller_pid, row.controller_start_time, timeout)  # type: ignore[arg-type]


def request_down(name: str, purge: bool = False, clock: Clock = REAL_CLOCK) -> ServiceRecord | None:
    """Record that the service is to be taken down; its controller tears it down and exits."""
    with write_session() as s:
        row = repo.live_service(s, name)
        if row is None:
            return None
        row.down_requested_at = row.down_requested_at or clock.now()
        row.purge = row.purge or purge
        s.add(row)
        return row


def teardown_service(service_id: int, *, provider_factory: Callable[[str], Provider] | None = None,
                     clock: Clock = REAL_CLOCK) -> bool:
    """Take a service down: terminate every instance its providers list for it, stop its load balancer,
    end its replica rows and mark it DOWN. Idempotent; the one implementation, used by the controller when
    down is requested and by the CLI when no controller is alive. False (service FAILED_CLEANUP, rows
    FAILED_CLEANUP) when some cloud could not be cleaned up; `purge` marks it DOWN anyway."""
    factory = provider_factory or provider_for
    now = clock.now()
    with write_session() as s:  # write-ahead: every open replica is going down
        svc = repo.service_by_id(s, service_id)
        if svc is None or svc.down_at is not None:
            return True
        svc.status = ServiceStatus.SHUTTING_DOWN
        svc.down_requested_at = svc.down_requested_at or now
        s.add(svc)
        for row in repo.open_replicas(s, service_id):
            row.scale_down_at = row.scale_down_at or now
            if ReplicaStatus(row.status) in ALIVE:
                row.status = ReplicaStatus.SHUTTING_DOWN
            s.add(row)
        clouds = sorted({r.cloud for r in repo.replicas(s, service_id) if r.cloud})
    failed: dict[str, str] = {}
    for cloud in clouds:
        try:
            provider = factory(cloud)
            live = [i.id for i in provider.list(svc.name) if i.state.live]
            if live:
                provider.terminate(live)
            left = [i.id for i in provider.list(svc.name) if i.state.live]
            if left:
                failed[cloud] = f"still running after terminate: {', '.join(left)}"
        except Exception as exc:  # any cloud failure must leave a FAILED_CLEANUP record, not a traceback
            failed[cloud] = f"{type(exc).__name__}: {exc}"
    stop_load_balancer(svc)
    message = "; ".join(f"{cloud}: {why}" for cloud, why in failed.items()) or None
    with write_session() as s:
        for row in repo.open_replicas(s, service_id):
            if row.cloud in failed:
                row.status, row.failure = ReplicaStatus.FAILED_CLEANUP, f"teardown: {failed[row.cloud]}"
            else:
                if ReplicaStatus(row.status) in (ReplicaStatus.SHUTTING_DOWN, ReplicaStatus.FAILED_CLEANUP):
                    row.status = ReplicaStatus.TERMINATED
                row.ended_at = now
            s.add(row)
        svc = repo.service_by_id(s, service_id)
        svc.message, svc.lb_pid, svc.lb_start_time = message, None, None  # type: ignore[union-attr]
        if failed and not svc.purge:  # type: ignore[union-attr]
            svc.status = ServiceStatus.FAILED_CLEANUP  # type: ignore[union-attr]
        else:
            svc.status, svc.down_at = ServiceStatus.DOWN, now  # type: ignore[union-attr]
        s.add(svc)
    return not failed


# -- load balancer --------------------------------------------------------------------------------------
def lb_alive(row: ServiceRecord) -> bool:
    return bool(row.lb_pid) and proc.is_alive(row.lb_pid, row.lb_start_time)


def ensure_load_balancer(service_id: int) -> int | None:
    """Start the service's load balancer on its recorded port unless it is alive; returns its pid."""
    from skyctl.serve.load_balancer import lb_command

    _reap()
    with read_session() as s:
        row = repo.service_by_id(s, service_id)
    if row is None or row.down_at is not None or row.down_requested_at is not None:
        return None
    if lb_alive(row):
        return row.lb_pid
    pid = _spawn(lb_command(service_id, row.lb_port), paths.load_balancer_log(row.name))
    with write_session() as s:
        repo.update_service(s, service_id, lb_pid=pid, lb_start_time=proc.start_time(pid))
    return pid


def stop_load_balancer(row: ServiceRecord, timeout: float = 10.0) -> bool:
    if not lb_alive(row):
        return True
    return _stop(row.lb_pid, row.lb_start_time, timeout)  # type: ignore[arg-type]


# -- plumbing -------------------------------------------------------------------------------------------
def _spawn(cmd: list[str], log_path: Path) -> int:
    with open(log_path, "ab") as log:
        child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True, close_fds=True)
    _children[child.pid] = child
    return child.pid


def _stop(pid: int, started: int | None, timeout: float) -> bool:
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if not proc.is_alive(pid, started):
            return True
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap()
            if not proc.is_alive(pid, started):
                return True
            time.sleep(0.05)
    return not proc.is_alive(pid, started)


def _reap() -> None:
    for pid, child in list(_children.items()):
        if child.poll() is not None:
            del _children[pid]
