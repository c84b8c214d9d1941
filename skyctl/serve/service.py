"""The operations behind `skyctl serve`: validate, up, status, update, down, preempt, logs.

Each writes the service's intent to the state database and leaves the work to the service's controller
process (started here, restarted here when found dead), so the CLI can exit at any time. `down` is the
exception: it stops the controller and tears the service down itself, so it finishes even when no
controller is running.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from skyctl.check import enabled_clouds
from skyctl.clock import REAL_CLOCK, Clock
from skyctl.errors import UserError, did_you_mean
from skyctl.serve import controller_process as procs
from skyctl.serve import paths
from skyctl.serve.load_balancer.proxy import key_digest
from skyctl.serve.plan import LaunchPlan, launch_candidates
from skyctl.serve.status import ReplicaStatus, ServiceStatus
from skyctl.serve.views import ServiceInfo
from skyctl.spec import ServiceSpec, load_service_spec
from skyctl.spec.loader import SERVICE_NAME
from skyctl.state import read_session, write_session
from skyctl.state import serve_repo as repo
from skyctl.state.serve_tables import ServiceRecord, ServiceVersion

LB_PORTS = range(30001, 30100)  # SkyServe's load-balancer port range, widened


def validate(path: str | Path, envs: Mapping[str, str] | None = None, *,
             only_enabled: bool = True) -> tuple[ServiceSpec, LaunchPlan]:
    """Parse the YAML and compute where replicas could go, launching nothing. `only_enabled=False` plans
    over every cloud, so a user without credentials yet still sees prices (`serve validate`)."""
    spec = _load(path, envs)
    return spec, launch_candidates(spec, enabled_clouds=enabled_clouds() if only_enabled else None)


def up(path: str | Path, *, name: str | None = None, envs: Mapping[str, str] | None = None,
       api_key: str | None = None, clock: Clock = REAL_CLOCK) -> tuple[ServiceSpec, ServiceInfo]:
    """Record the service and its first version, then start its controller; returns the parsed spec (for
    the summary the CLI prints) and the service."""
    spec, _ = validate(path, envs)
    missing = spec.task.missing_envs
    if missing:
        raise UserError("declared without a value", field=f"envs.{missing[0]}", value=None,
                        fix=f"pass it at launch: --env {missing[0]}=VALUE")
    name = service_name(name or spec.name or Path(path).stem)
    now = clock.now()
    with write_session() as s:
        if repo.live_service(s, name) is not None:
            raise UserError("a service with this name is already up", field="name", value=name,
                            fix=f"pick another name with -n, change it with `skyctl serve update "
                                f"{name} FILE`, or take it down with `skyctl serve down {name}`")
        svc = ServiceRecord(name=name, status=ServiceStatus.CONTROLLER_INIT, created_at=now,
                            load_balancing_policy=spec.service.load_balancing_policy,
                            lb_port=_free_lb_port(s), tls=spec.service.tls is not None,
                            api_key_sha256=key_digest(api_key) if api_key else None)
        s.add(svc)
        s.flush()
        repo.add_version(s, _version_row(svc, 1, spec, path, now))
    procs.start_controller(name)
    return spec, info(name)


def update(name: str, path: str | Path, *, mode: str = "rolling", envs: Mapping[str, str] | None = None,
           clock: Clock = REAL_CLOCK) -> ServiceInfo:
    """Add a new version; the controller rolls replicas over to it (rolling or blue_green)."""
    if mode not in ("rolling", "blue_green"):
        raise UserError("unknown update mode", field="--mode", value=mode, fix="use rolling or blue_green")
    spec = _load(path, envs)
    with write_session() as s:
        svc = _live(s, name)
        current = repo.version(s, svc.id, svc.current_version)  # type: ignore[arg-type]
        if current is not None and current.spec_hash == spec.version:
            raise UserError("the new spec is identical to the running version", field="FILE", value=str(path),
                            fix="change the YAML, or leave the service as it is")
        number = svc.current_version + 1
        repo.add_version(s, _version_row(svc, number, spec, path, clock.now()))
        svc.current_version, svc.update_mode = number, mode
        s.add(svc)
    procs.ensure_controller(name)
    return info(name)


def status(names: list[str] | None = None) -> list[ServiceInfo]:
    """Live services (all, or the named ones), restarting any controller found dead on the way."""
    with read_session() as s:
        rows = repo.live_services(s)
    known = {r.name for r in rows}
    for name in names or []:
        if name not in known:
            raise _unknown(name, known)
    wanted = [r for r in rows if not names or r.name in names]
    for svc in wanted:
        if svc.down_requested_at is None:
            procs.ensure_controller(svc.name)
    return [info(svc.name) for svc in wanted]


def is_up(name: str) -> bool:
    """Whether a live service has this name (read only: unlike `status`, restarts nothing)."""
    with read_session() as s:
        return repo.live_service(s, name) is not None


def info(name: str) -> ServiceInfo:
    with read_session() as s:
        svc = _live(s, name)
        rows = repo.replicas(s, svc.id)  # type: ignore[arg-type]
    return ServiceInfo.of(svc, rows, controller_alive=procs.controller_alive(svc))


def down(names: list[str] | None, *, all_: bool = False, purge: bool = False) -> list[str]:
    """Tear services down: stop the controller, terminate every instance, stop the load balancer."""
    with read_session() as s:
        live = {r.name: r for r in repo.live_services(s)}
    if all_:
        targets = sorted(live)
    elif not names:
        raise UserError("name a service or pass --all", field="NAME", value=None,
                        fix="see `skyctl serve status` for names")
    else:
        for n in names:
            if n not in live:
                raise _unknown(n, set(live))
        targets = names
    for n in targets:
        procs.request_down(n, purge)
        procs.stop_controller(n)
        procs.teardown_service(live[n].id)  # type: ignore[arg-type]
    return targets


def preempt(name: str, replica_id: int) -> ServiceInfo:
    """Take a spot replica back as its cloud would (local and simulated providers only)."""
    with read_session() as s:
        svc = _live(s, name)
        row = repo.replica(s, svc.id, replica_id)  # type: ignore[arg-type]
    if row is None:
        raise UserError("no such replica", field="REPLICA_ID", value=replica_id,
                        fix=f"pick an id from `skyctl serve status {name}`")
    if ReplicaStatus(row.status).terminal or row.instance_id is None:
        raise UserError(f"the replica is {row.status}, not running", field="REPLICA_ID", value=replica_id,
                        fix="pick a live spot replica")
    if not row.spot:
        raise UserError("only spot replicas can be preempted", field="REPLICA_ID", value=replica_id,
                        fix="pick a replica shown as spot in `skyctl serve status`")
    procs.provider_for(row.cloud or "local").preempt(row.instance_id)
    procs.ensure_controller(name)
    return info(name)


def log_files(name: str, replica_id: int | None = None, *, target: str = "replica") -> list[Path]:
    """The files `serve logs` shows: the controller's, the load balancer's, or replicas' own logs."""
    if target == "controller":
        return [paths.controller_log(name)]
    if target == "load_balancer":
        return [paths.load_balancer_log(name)]
    with read_session() as s:
        svc = _live(s, name)
        rows = repo.replicas(s, svc.id)  # type: ignore[arg-type]
    if replica_id is not None:
        rows = [r for r in rows if r.replica_id == replica_id]
        if not rows:
            raise UserError("no such replica", field="REPLICA_ID", value=replica_id,
                            fix=f"pick an id from `skyctl serve status {name}`")
    found = []
    for row in rows:
        if row.instance_id is None:
            continue
        provider = procs.provider_for(row.cloud or "local")
        path = provider.log_path(row.instance_id)
        if path is None and replica_id is not None:
            raise UserError(f"replica logs are not collected on {row.cloud}", field="REPLICA_ID",
                            value=replica_id, fix="read them on the instance, or use --controller")
        if path is not None:
            found.append(path)
    return found


def endpoint_listening(info: ServiceInfo, timeout: float = 1.0) -> bool:
    """Whether the load balancer accepts connections yet (it opens its port after its first sync)."""
    if info.endpoint is None:
        return False
    host, _, port = info.endpoint.rpartition("://")[2].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def service_name(name: str) -> str:
    if len(name) > 63 or not SERVICE_NAME.fullmatch(name):
        raise UserError("must start with a letter and hold only letters, digits, '-', '_' or '.' "
                        "(at most 63)", field="name", value=name, fix="pass a valid name with -n NAME")
    return name


def _load(path: str | Path, envs: Mapping[str, str] | None) -> ServiceSpec:
    """Parse, then pin relative paths (workdir, TLS files) to absolute ones: the controller runs elsewhere."""
    spec = load_service_spec(path, envs)
    task = spec.task
    if task.workdir and not Path(task.workdir).is_absolute():
        task = replace(task, workdir=str(Path(task.workdir).expanduser().resolve()))
    service = spec.service
    if service.tls:
        tls = replace(service.tls, keyfile=str(Path(service.tls.keyfile).expanduser().resolve()),
                      certfile=str(Path(service.tls.certfile).expanduser().resolve()))
        service = replace(service, tls=tls)
    return replace(spec, task=task, service=service)


def _version_row(svc: ServiceRecord, number: int, spec: ServiceSpec, path: str | Path,
                 now: float) -> ServiceVersion:
    return ServiceVersion(service_id=svc.id, version=number, spec=spec.to_dict(), spec_hash=spec.version,
                          replica_digest=spec.replica_digest, source=str(path), created_at=now)


def _live(s, name: str) -> ServiceRecord:  # type: ignore[no-untyped-def]
    svc = repo.live_service(s, name)
    if svc is None:
        raise _unknown(name, {r.name for r in repo.live_services(s)})
    return svc


def _unknown(name: str, known: set[str]) -> UserError:
    hint = did_you_mean(name, known) if known else None
    return UserError("no such service", field="NAME", value=name,
                     fix=hint or ("see `skyctl serve status`" if known
                                  else "no service is up; start one with `skyctl serve up FILE`"))


def _free_lb_port(s) -> int:  # type: ignore[no-untyped-def]
    taken = {r.lb_port for r in repo.live_services(s)}
    for port in LB_PORTS:
        if port in taken:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise UserError("no free load-balancer port", field="ports",
                    value=f"{LB_PORTS.start}-{LB_PORTS.stop - 1}",
                    fix="take a service down or free one of these ports")
