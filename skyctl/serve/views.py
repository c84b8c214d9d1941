"""What `serve status` shows: services and replicas as plain dataclasses built from the state rows.

The JSON form is a stable contract (keys only get added): a list of services with `name`, `status`,
`endpoint` and `replicas`, each replica with `id`, `status`, `cloud`, `region`, `zone`, `spot`,
`endpoint`, `price_per_hour`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from skyctl.serve.status import ReplicaStatus
from skyctl.state.serve_tables import ReplicaRecord, ServiceRecord


@dataclass
class ReplicaInfo:
    id: int
    version: int
    status: str
    cloud: str | None
    region: str | None
    zone: str | None
    spot: bool
    endpoint: str | None
    price_per_hour: float | None
    purpose: str
    instance_type: str | None
    accelerator: str | None
    accelerator_count: float
    launched_at: float | None
    ready_at: float | None
    ended_at: float | None
    failure: str | None

    @classmethod
    def of(cls, row: ReplicaRecord) -> ReplicaInfo:
        return cls(id=row.replica_id, version=row.version, status=row.status, cloud=row.cloud,
                   region=row.region, zone=row.zone, spot=row.spot, endpoint=row.endpoint,
                   price_per_hour=row.price_per_hour, purpose=row.purpose, instance_type=row.instance_type,
                   accelerator=row.accelerator, accelerator_count=row.accelerator_count,
                   launched_at=row.launched_at, ready_at=row.ready_at, ended_at=row.ended_at,
                   failure=row.failure)

    @property
    def shown(self) -> bool:
        """`serve status` lists live replicas and failures; cleanly ended ones are history."""
        return self.status not in (ReplicaStatus.TERMINATED, ReplicaStatus.PREEMPTED) or self.ended_at is None

    def infra(self) -> str:
        where = "/".join(p for p in (self.region, self.zone) if p)
        return f"{(self.cloud or '-').upper()} ({where})" if where else (self.cloud or "-").upper()

    def resources(self) -> str:
        shape = self.instance_type or "-"
        if self.accelerator:
            count = int(self.accelerator_count) if float(self.accelerator_count).is_integer() else \
                self.accelerator_count
            shape = f"{shape}, {self.accelerator}:{count}"
        return f"1x{'[spot]' if self.spot else ''}({shape})"


@dataclass
class ServiceInfo:
    name: str
    status: str
    endpoint: str | None
    version: int
    active_versions: list[int]
    uptime_start: float | None
    created_at: float
    load_balancing_policy: str
    controller_alive: bool
    message: str | None
    replicas: list[ReplicaInfo] = field(default_factory=list)

    @classmethod
    def of(cls, svc: ServiceRecord, rows: list[ReplicaRecord], *, controller_alive: bool) -> ServiceInfo:
        return cls(name=svc.name, status=svc.status, endpoint=endpoint_of(svc), version=svc.current_version,
                   active_versions=list(svc.active_versions), uptime_start=svc.uptime_start,
                   created_at=svc.created_at, load_balancing_policy=svc.load_balancing_policy,
                   controller_alive=controller_alive, message=svc.message,
                   replicas=[ReplicaInfo.of(r) for r in rows])

    @property
    def shown_replicas(self) -> list[ReplicaInfo]:
        return [r for r in self.replicas if r.shown]

    @property
    def ready(self) -> int:
        return sum(r.status == ReplicaStatus.READY for r in self.replicas)

    @property
    def alive(self) -> int:
        return sum(not ReplicaStatus(r.status).terminal for r in self.replicas)

    @property
    def cost_per_hour(self) -> float:
        """What the live replicas bill now, at their launch-time prices."""
        return sum(r.price_per_hour or 0.0 for r in self.replicas
                   if not ReplicaStatus(r.status).terminal and r.launched_at is not None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["replicas"] = [_replica_dict(r) for r in self.shown_replicas]
        data["ready_replicas"] = self.ready
        data["cost_per_hour"] = round(self.cost_per_hour, 6)
        return data


def _replica_dict(r: ReplicaInfo) -> dict[str, Any]:
    data = asdict(r)
    return {"id": data.pop("id"), "status": data.pop("status"), **data}


def endpoint_of(svc: ServiceRecord) -> str | None:
    if svc.lb_port is None:
        return None
    return f"{'https' if svc.tls else 'http'}://{svc.lb_host}:{svc.lb_port}"
