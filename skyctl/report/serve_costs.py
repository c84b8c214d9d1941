"""Replica rows -> billed line items: the interval inside the window, the $/h recorded at launch, and the
on-demand $/h of the same machine in the same place (the counterfactual).

History is never repriced: a replica costs what its row says it cost per hour when it launched, whatever
the catalog says today. Today's catalog is only a fallback for rows that lack a price (written by an
older controller, or before the price was known), and such lines are marked as estimated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from skyctl.catalog import Catalog
from skyctl.errors import UserError
from skyctl.report.model import CATALOG, LAUNCH_PRICE, RECORDED, UNKNOWN, ReplicaLine
from skyctl.report.window import Window, split_by_day
from skyctl.state.serve_tables import ReplicaRecord, ServiceRecord


class CatalogPrices:
    """Catalog look-ups by the exact instance type and place of a replica, loaded only if needed."""

    def __init__(self, load: Callable[[], Catalog]) -> None:
        self._load = load
        self._catalog: Catalog | None = None

    def price(self, row: ReplicaRecord, *, spot: bool) -> float | None:
        if not (row.cloud and row.region and row.instance_type):
            return None
        if self._catalog is None:
            self._catalog = self._load()
        try:
            hits = self._catalog.query(cloud=row.cloud, region=row.region, instance_type=row.instance_type,
                                       spot=spot)
        except UserError:  # a cloud, region or type this catalog does not know (e.g. `local`)
            return None
        same_zone = [o for o in hits if row.zone and o.zone == row.zone]
        for o in same_zone + hits:
            if o.price(spot) is not None:
                return o.price(spot)
        return None


def replica_lines(services: Iterable[ServiceRecord], rows: Iterable[ReplicaRecord], window: Window,
                  prices: CatalogPrices) -> list[ReplicaLine]:
    """Billed lines, ordered by service name, service id and replica id (deterministic)."""
    names = {s.id: s.name for s in services}
    lines = []
    for row in rows:
        if row.launched_at is None or row.service_id not in names:
            continue
        span = window.clip(row.launched_at, row.ended_at)
        if span is None:
            continue
        price, price_source = _price(row, prices)
        od, od_source = _ondemand(row, price, price_source, prices)
        lines.append(ReplicaLine(
            service=names[row.service_id], service_id=row.service_id, replica_id=row.replica_id,
            version=row.version, status=row.status, spot=row.spot, purpose=row.purpose,
            preempted=row.preempted, cloud=row.cloud, region=row.region, zone=row.zone,
            instance_type=row.instance_type, accelerator=row.accelerator,
            accelerator_count=row.accelerator_count, launched_at=row.launched_at, ended_at=row.ended_at,
            start=span[0], end=span[1], price_per_hour=price, price_source=price_source,
            ondemand_price_per_hour=od, ondemand_source=od_source, days=tuple(split_by_day(*span))))
    return sorted(lines, key=lambda r: (r.service, r.service_id, r.replica_id))


def _price(row: ReplicaRecord, prices: CatalogPrices) -> tuple[float, str]:
    if row.price_per_hour is not None:
        return row.price_per_hour, RECORDED
    looked_up = prices.price(row, spot=row.spot)
    return (looked_up, CATALOG) if looked_up is not None else (0.0, UNKNOWN)


def _ondemand(row: ReplicaRecord, price: float, price_source: str,
              prices: CatalogPrices) -> tuple[float, str]:
    """Recorded on-demand price; an on-demand replica's own price; the catalog's; else its own cost
    (no saving claimed for what cannot be priced)."""
    if row.ondemand_price_per_hour is not None:
        return row.ondemand_price_per_hour, RECORDED
    if not row.spot and price_source != UNKNOWN:
        return price, LAUNCH_PRICE if price_source == RECORDED else price_source
    looked_up = prices.price(row, spot=False)
    return (looked_up, CATALOG) if looked_up is not None else (price, UNKNOWN)
