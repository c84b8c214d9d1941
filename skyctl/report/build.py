"""Assemble the report: read one snapshot, price it, and total it every way the renderers show.

`cost_report` is the one entry point the CLI calls; `build_report` is the pure part (snapshot in, report
out) so the arithmetic is testable on hand-built snapshots too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine

from skyctl.catalog import Catalog, load_catalog
from skyctl.errors import UserError, did_you_mean
from skyctl.report.model import CATALOG, UNKNOWN, DayCost, ReplicaLine, Report, Spend
from skyctl.report.serve_costs import CatalogPrices, replica_lines
from skyctl.report.store_costs import StoreCosts, store_costs
from skyctl.report.window import Window
from skyctl.state.report_queries import Snapshot, read_snapshot
from skyctl.store.pricing import Pricing, load_pricing


def cost_report(window: Window, *, service: str | None = None, pricing_path: str | Path | None = None,
                engine: Engine | None = None) -> Report:
    """The report over the state database. `--service` leaves the store out: buckets belong to no
    service."""
    pricing = load_pricing(pricing_path) if service is None else None
    snap = read_snapshot(window.since, window.until, service=service, include_store=service is None,
                         engine=engine)
    if service is not None and not snap.services:
        raise UserError("no service of this name", field="--service", value=service,
                        fix=did_you_mean(service, snap.service_names) or
                        "see the names in `skyctl cost-report` without --service")
    return build_report(snap, window, load_catalog, pricing, service)


def build_report(snap: Snapshot, window: Window, catalog: Callable[[], Catalog], pricing: Pricing | None,
                 service: str | None = None) -> Report:
    lines = replica_lines(snap.services, snap.replicas, window, CatalogPrices(catalog))
    store = store_costs(snap, window, pricing) if pricing is not None else StoreCosts([], [], {})
    serve = Spend()
    services = {s.name: Spend() for s in snap.services if _shown(s.down_at, window)}
    versions: dict[tuple[str, int], Spend] = defaultdict(Spend)
    clouds: dict[str, Spend] = defaultdict(Spend)
    regions: dict[str, Spend] = defaultdict(Spend)
    for line in lines:
        for spend in (serve, services.setdefault(line.service, Spend()),
                      versions[(line.service, line.version)], clouds[line.cloud or "?"],
                      regions[f"{line.cloud or '?'}/{line.region or '?'}"]):
            spend.add(line)
    return Report(
        window=window, service_filter=service, replicas=lines, services=dict(sorted(services.items())),
        versions=dict(sorted(versions.items())), clouds=dict(sorted(clouds.items())),
        regions=dict(sorted(regions.items())), serve=serve, buckets=store.buckets, egress=store.egress,
        days=_days(lines, store, window), notes=_notes(lines, store),
        store_included=pricing is not None, store_pricing=pricing.source if pricing is not None else "")


def _shown(down_at: float | None, window: Window) -> bool:
    """Services alive at some point of the window are listed even if they billed nothing."""
    return down_at is None or down_at > window.since


def _days(lines: list[ReplicaLine], store: StoreCosts, window: Window) -> list[DayCost]:
    spot: dict[str, float] = defaultdict(float)
    ondemand: dict[str, float] = defaultdict(float)
    for line in lines:
        for day, seconds in line.days:
            (spot if line.spot else ondemand)[day] += seconds / 3600.0 * line.price_per_hour
    return [DayCost(d, spot[d], ondemand[d], store.by_day.get(d, 0.0)) for d in window.days()]


def _notes(lines: list[ReplicaLine], store: StoreCosts) -> list[str]:
    """What a reader must know to trust the numbers: every estimate and every gap, by name."""
    notes = []
    est = [f"{r.service}/{r.replica_id}" for r in lines if r.price_source == CATALOG]
    unknown = [f"{r.service}/{r.replica_id}" for r in lines if r.price_source == UNKNOWN]
    od_est = [f"{r.service}/{r.replica_id}" for r in lines if r.ondemand_source == CATALOG]
    od_unknown = [f"{r.service}/{r.replica_id}" for r in lines if r.ondemand_source == UNKNOWN]
    if est:
        notes.append(f"$/h not recorded at launch, estimated from today's catalog: {', '.join(est)}")
    if unknown:
        notes.append(f"$/h unknown (not recorded, not in the catalog), counted as $0: {', '.join(unknown)}")
    if od_est:
        notes.append(f"on-demand $/h estimated from today's catalog: {', '.join(od_est)}")
    if od_unknown:
        notes.append(f"on-demand $/h unknown, no saving counted: {', '.join(od_unknown)}")
    if store.unpriced:
        notes.append(f"no store price for {', '.join(store.unpriced)} (counted as $0); pass --pricing FILE")
    return notes
