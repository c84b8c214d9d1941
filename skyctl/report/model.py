"""The report as data: line items (replicas, bucket regions) and the totals built from them.

Every renderer (table, JSON, CSV, HTML, notify) reads this one model, so they cannot disagree. Money is
kept unrounded here and rounded to micro-dollars only in `to_dict`, the JSON contract (keys are only
ever added).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from skyctl.report.window import Window, iso

PURPOSES = ("target", "overprovision", "fallback", "base_ondemand")
# Where a price came from: recorded on the replica row at launch, or looked up now (an estimate).
RECORDED, LAUNCH_PRICE, CATALOG, UNKNOWN = "recorded", "launch price", "catalog (estimated)", "unknown"


def money(x: float) -> float:
    return round(x, 6)


def pct(saving: float, base: float) -> float | None:
    return round(100.0 * saving / base, 4) if base > 0 else None


@dataclass(frozen=True)
class ReplicaLine:
    """One replica's billed interval inside the window."""

    service: str
    service_id: int
    replica_id: int
    version: int
    status: str
    spot: bool
    purpose: str
    preempted: bool
    cloud: str | None
    region: str | None
    zone: str | None
    instance_type: str | None
    accelerator: str | None
    accelerator_count: float
    launched_at: float
    ended_at: float | None
    start: float  # the interval clipped to the window
    end: float
    price_per_hour: float
    price_source: str
    ondemand_price_per_hour: float
    ondemand_source: str
    days: tuple[tuple[str, float], ...]  # (UTC date, seconds) of [start, end)

    @property
    def hours(self) -> float:
        return (self.end - self.start) / 3600.0

    @property
    def cost(self) -> float:
        return self.hours * self.price_per_hour

    @property
    def ondemand_cost(self) -> float:
        return self.hours * self.ondemand_price_per_hour

    @property
    def open(self) -> bool:
        return self.ended_at is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service, "service_id": self.service_id, "replica_id": self.replica_id,
            "version": self.version, "status": self.status, "spot": self.spot, "purpose": self.purpose,
            "preempted": self.preempted, "cloud": self.cloud, "region": self.region, "zone": self.zone,
            "instance_type": self.instance_type, "accelerator": self.accelerator,
            "accelerator_count": self.accelerator_count, "launched_at": iso(self.launched_at),
            "ended_at": iso(self.ended_at), "start": iso(self.start), "end": iso(self.end),
            "hours": round(self.hours, 6), "price_per_hour": self.price_per_hour,
            "price_source": self.price_source, "ondemand_price_per_hour": self.ondemand_price_per_hour,
            "ondemand_source": self.ondemand_source, "cost": money(self.cost),
            "ondemand_cost": money(self.ondemand_cost),
        }


@dataclass
class Spend:
    """Actual and all-on-demand cost of a group of replica hours, split the ways the issue asks for."""

    hours: float = 0.0
    cost: float = 0.0
    ondemand_equivalent: float = 0.0
    spot: float = 0.0
    ondemand: float = 0.0
    by_purpose: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PURPOSES, 0.0))
    replicas: int = 0

    def add(self, line: ReplicaLine) -> None:
        self.hours += line.hours
        self.cost += line.cost
        self.ondemand_equivalent += line.ondemand_cost
        if line.spot:
            self.spot += line.cost
        else:
            self.ondemand += line.cost
        self.by_purpose[line.purpose] = self.by_purpose.get(line.purpose, 0.0) + line.cost
        self.replicas += 1

    @property
    def saving(self) -> float:
        return self.ondemand_equivalent - self.cost

    @property
    def saving_pct(self) -> float | None:
        return pct(self.saving, self.ondemand_equivalent)

    def to_dict(self) -> dict[str, Any]:
        return {"replicas": self.replicas, "hours": round(self.hours, 6), "cost": money(self.cost),
                "spot_cost": money(self.spot), "ondemand_cost": money(self.ondemand),
                "overprovision_cost": money(self.by_purpose.get("overprovision", 0.0)),
                "fallback_cost": money(self.by_purpose.get("fallback", 0.0)),
                "by_purpose": {k: money(v) for k, v in self.by_purpose.items()},
                "ondemand_equivalent": money(self.ondemand_equivalent), "saving": money(self.saving),
                "saving_pct": self.saving_pct}


@dataclass(frozen=True)
class BucketLine:
    """One bucket's usage charged in one region: storage there, egress out of it, requests served."""

    bucket: str
    region: str
    gb_hours: float
    storage_cost: float
    egress_gb: float
    egress_cost: float
    requests: int
    request_cost: float
    priced: bool  # False when the region has no price in the pricing table (costs then count as 0)

    @property
    def cost(self) -> float:
        return self.storage_cost + self.egress_cost + self.request_cost

    def to_dict(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "region": self.region, "gb_hours": round(self.gb_hours, 6),
                "storage_cost": money(self.storage_cost), "egress_gb": round(self.egress_gb, 9),
                "egress_cost": money(self.egress_cost), "requests": self.requests,
                "request_cost": money(self.request_cost), "cost": money(self.cost), "priced": self.priced}


@dataclass(frozen=True)
class DayCost:
    date: str
    spot: float
    ondemand: float
    store: float

    @property
    def total(self) -> float:
        return self.spot + self.ondemand + self.store

    def to_dict(self) -> dict[str, Any]:
        return {"date": self.date, "spot": money(self.spot), "ondemand": money(self.ondemand),
                "store": money(self.store), "total": money(self.total)}


@dataclass(frozen=True)
class Report:
    window: Window
    service_filter: str | None
    replicas: list[ReplicaLine]
    services: dict[str, Spend]  # by name, sorted
    versions: dict[tuple[str, int], Spend]  # (service, version)
    clouds: dict[str, Spend]
    regions: dict[str, Spend]  # "cloud/region"
    serve: Spend
    buckets: list[BucketLine]
    egress: list[dict[str, Any]]  # per (bucket, src, dst): gb, cost
    days: list[DayCost]
    notes: list[str]
    store_included: bool
    store_pricing: str

    @property
    def store_cost(self) -> float:
        return sum(b.cost for b in self.buckets)

    @property
    def total(self) -> float:
        return self.serve.cost + self.store_cost

    def to_dict(self) -> dict[str, Any]:
        """The `--json` contract."""
        store = {"included": self.store_included, "pricing": self.store_pricing,
                 "cost": money(self.store_cost),
                 "storage_cost": money(sum(b.storage_cost for b in self.buckets)),
                 "egress_cost": money(sum(b.egress_cost for b in self.buckets)),
                 "request_cost": money(sum(b.request_cost for b in self.buckets)),
                 "buckets": [b.to_dict() for b in self.buckets], "egress": self.egress}
        return {
            "window": self.window.to_dict(), "service": self.service_filter, "currency": "USD",
            "total_cost": money(self.total),
            "serve": self.serve.to_dict(),
            "services": [{"name": n, **sp.to_dict(),
                          "versions": [{"version": v, **vs.to_dict()}
                                       for (sn, v), vs in self.versions.items() if sn == n]}
                         for n, sp in self.services.items()],
            "by_cloud": [{"cloud": k, **v.to_dict()} for k, v in self.clouds.items()],
            "by_region": [{"region": k, **v.to_dict()} for k, v in self.regions.items()],
            "by_day": [d.to_dict() for d in self.days],
            "replicas": [r.to_dict() for r in self.replicas],
            "store": store,
            "notes": self.notes,
        }
