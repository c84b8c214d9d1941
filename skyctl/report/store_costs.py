"""Virtual-bucket usage -> cost per bucket and region, from the store's own records.

- storage: each physical copy's bytes x the time it was stored inside the window x $/GB-month there;
- egress: bytes that crossed regions x egress(src -> dst), charged to the source region (the source
  cloud bills it);
- requests: PUT and GET rows x that region's request price (DELETE is free on the three clouds).

Units are those of the SkyStore cost model the store's policies use (a GB is 2^30 bytes, a month 30
days), so the report prices storage exactly as the policies reasoned about it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from skyctl.errors import UserError
from skyctl.report.model import BucketLine, money
from skyctl.report.window import Window, day_of_epoch_day, split_by_day
from skyctl.state.report_queries import Snapshot
from skyctl.store.pricing import Pricing
from solvers.skystore.costmodel import GB, MONTH_S


@dataclass
class _Acc:
    gb_s: float = 0.0
    storage: float = 0.0
    egress_gb: float = 0.0
    egress: float = 0.0
    requests: int = 0
    request_cost: float = 0.0


@dataclass
class StoreCosts:
    buckets: list[BucketLine]
    egress: list[dict[str, Any]]
    by_day: dict[str, float]
    unpriced: list[str] = field(default_factory=list)  # regions (or src->dst pairs) without a price


def store_costs(snap: Snapshot, window: Window, pricing: Pricing) -> StoreCosts:
    acc: dict[tuple[str, str], _Acc] = defaultdict(_Acc)
    by_day: dict[str, float] = defaultdict(float)
    unpriced: set[str] = set()

    def price(fn: Any, *regions: str) -> float:
        try:
            return fn(*regions)
        except UserError:
            missing = [r for r in regions if r not in pricing.storage]
            unpriced.update(missing or ["->".join(regions)])  # an unknown region, or a pair without a price
            return 0.0

    for c in snap.stored:
        span = window.clip(c.start, c.end)
        if span is None:
            continue
        rate = price(pricing.storage_gb_month, c.region) * c.size / GB / MONTH_S  # $ per second
        a = acc[(c.bucket, c.region)]
        a.gb_s += c.size / GB * (span[1] - span[0])
        for day, seconds in split_by_day(*span):
            a.storage += rate * seconds
            by_day[day] += rate * seconds
    pairs: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for t in snap.transfers:
        gb = t.bytes / GB
        cost = gb * price(pricing.egress_gb, t.src, t.dst)
        a = acc[(t.bucket, t.src)]
        a.egress_gb += gb
        a.egress += cost
        by_day[day_of_epoch_day(t.day)] += cost
        pairs[(t.bucket, t.src, t.dst)][0] += gb
        pairs[(t.bucket, t.src, t.dst)][1] += cost
    for r in snap.requests:
        each = {"GET": pricing.get_request, "PUT": pricing.put_request}.get(r.op)
        cost = r.count * price(each, r.region) if each else 0.0
        a = acc[(r.bucket, r.region)]
        a.requests += r.count
        a.request_cost += cost
        by_day[day_of_epoch_day(r.day)] += cost
    lines = [BucketLine(b, reg, a.gb_s / 3600.0, a.storage, a.egress_gb, a.egress, a.requests, a.request_cost,
                        not any(reg == u or u.startswith(f"{reg}->") for u in unpriced))
             for (b, reg), a in sorted(acc.items())]
    egress = [{"bucket": b, "src": s, "dst": d, "gb": round(v[0], 9), "cost": money(v[1])}
              for (b, s, d), v in sorted(pairs.items())]
    return StoreCosts(lines, egress, dict(by_day), sorted(unpriced))
