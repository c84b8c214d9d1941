"""Rich renderings for `skyctl serve`: the spec summary `sky serve up` prints, the launch plan, and the
two status tables (services, replicas) of SkyServe with location, spot/on-demand and $/h per replica."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from skyctl.cli.output import table

if TYPE_CHECKING:  # the CLI starts without loading the serve stack
    from skyctl.serve.plan import LaunchPlan
    from skyctl.serve.views import ReplicaInfo, ServiceInfo
    from skyctl.spec import ServiceSpec

_RIGHT = {"ID", "VERSION", "$/H", "SPOT $/H", "ON-DEMAND $/H"}


def _justify(col: str) -> str:
    return "right" if col in _RIGHT else "left"


def spec_summary(spec: ServiceSpec) -> str:
    svc, policy = spec.service, spec.service.replica_policy
    probe = svc.readiness_probe
    return "\n".join([
        f"Service from YAML spec: {spec.source or '-'}",
        f"Readiness probe method: {probe.describe()}",
        f"Readiness initial delay seconds: {probe.initial_delay_seconds:g}",
        f"Readiness probe timeout seconds: {probe.timeout_seconds:g}",
        f"Replica autoscaling policy: {policy.describe()}",
        f"Spot Policy: {policy.spot_policy()}",
        f"Load balancing policy: {svc.load_balancing_policy}",
    ])


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def plan_tables(plan: LaunchPlan) -> list[Table]:
    rows = [(str(c.location), c.instance_type or "-", _accelerators(c.resources.accelerators),
             _money(c.spot_price), _money(c.ondemand_price)) for c in plan.candidates]
    out = [table("Launch plan", ["LOCATION", "INSTANCE TYPE", "ACCELERATORS", "SPOT $/H", "ON-DEMAND $/H"],
                 rows, _justify)]
    if plan.excluded:
        out.append(table("Left out", ["WHERE", "WHY"], [(e.where, e.reason) for e in plan.excluded]))
    return out


def _accelerators(accs: dict[str, int | float]) -> str:
    return ", ".join(f"{k}:{v}" for k, v in accs.items()) or "-"


def _ago(ts: float | None, now: float) -> str:
    if ts is None:
        return "-"
    return f"{_duration(now - ts)} ago"


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {sec}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m"


def service_tables(infos: list[ServiceInfo]) -> list[Table]:
    now = time.time()
    services = [(i.name, i.version, _duration(now - i.uptime_start) if i.uptime_start else "-", i.status,
                 f"{i.ready}/{i.alive}", f"{i.cost_per_hour:.4f}", i.endpoint or "-") for i in infos]
    replicas = [(i.name, r.id, r.version, r.endpoint or "-", _ago(r.launched_at, now), r.infra(),
                 escape(r.resources()), _money(r.price_per_hour), _status(r))
                for i in infos for r in i.shown_replicas]
    columns = ["NAME", "VERSION", "UPTIME", "STATUS", "REPLICAS", "$/H", "ENDPOINT"]
    return [table("Services", columns, services, _justify),
            table("Service Replicas", ["SERVICE_NAME", "ID", "VERSION", "ENDPOINT", "LAUNCHED", "INFRA",
                                       "RESOURCES", "$/H", "STATUS"], replicas, _justify)]


def _status(r: ReplicaInfo) -> str:
    """The status, with the reason of a failure or an end (escaped: reasons may hold brackets)."""
    return r.status + (f" ({escape(r.failure)})" if r.failure and r.status != "READY" else "")


def progress_line(info: ServiceInfo) -> str:
    counts: dict[str, int] = {}
    for r in info.shown_replicas:
        counts[r.status] = counts.get(r.status, 0) + 1
    detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no replicas yet"
    return f"{info.name}: {info.status} — {detail}"
