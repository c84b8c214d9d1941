"""`--csv FILE`: one row per billed line item, in one flat table a spreadsheet can pivot.

`kind` is `replica` (a replica's interval inside the window) or `storage` / `egress` / `requests` (one
bucket's usage charged in one region). The `cost` column sums to the report's `total_cost`, and
`ondemand_cost` of the replica rows to the all-on-demand counterfactual.
"""

from __future__ import annotations

import csv
import io

from skyctl.report.model import Report, money
from skyctl.report.window import iso

COLUMNS = ["kind", "name", "replica_id", "version", "status", "spot", "purpose", "preempted", "cloud",
           "region", "zone", "instance_type", "launched_at", "ended_at", "start", "end", "quantity", "unit",
           "price", "price_source", "cost", "ondemand_price", "ondemand_source", "ondemand_cost"]


def render_csv(report: Report) -> str:
    buf = io.StringIO()
    out = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    out.writeheader()
    for r in report.replicas:
        out.writerow({
            "kind": "replica", "name": r.service, "replica_id": r.replica_id, "version": r.version,
            "status": r.status, "spot": str(r.spot).lower(), "purpose": r.purpose,
            "preempted": str(r.preempted).lower(), "cloud": r.cloud, "region": r.region, "zone": r.zone,
            "instance_type": r.instance_type, "launched_at": iso(r.launched_at), "ended_at": iso(r.ended_at),
            "start": iso(r.start), "end": iso(r.end), "quantity": round(r.hours, 6), "unit": "hour",
            "price": r.price_per_hour, "price_source": r.price_source, "cost": money(r.cost),
            "ondemand_price": r.ondemand_price_per_hour, "ondemand_source": r.ondemand_source,
            "ondemand_cost": money(r.ondemand_cost)})
    for b in report.buckets:
        for kind, qty, unit, cost in (("storage", round(b.gb_hours, 6), "GB-hour", b.storage_cost),
                                      ("egress", round(b.egress_gb, 9), "GB", b.egress_cost),
                                      ("requests", b.requests, "request", b.request_cost)):
            if qty:
                out.writerow({"kind": kind, "name": b.bucket, "region": b.region, "quantity": qty,
                              "unit": unit, "cost": money(cost), "start": iso(report.window.since),
                              "end": iso(report.window.end)})
    return buf.getvalue()
