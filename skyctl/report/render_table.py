"""The terminal form: rich tables (replicas as `sky cost-report` shows clusters, then the totals).

Returns renderables; printing is the CLI's job.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from skyctl.report import fmt
from skyctl.report.model import RECORDED, Report, Spend
from skyctl.report.window import iso

_LIVE = {"PENDING", "PROVISIONING", "STARTING", "READY", "NOT_READY", "SHUTTING_DOWN"}


def _table(title: str, columns: list[str], right_from: int) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold")
    for i, c in enumerate(columns):
        t.add_column(c, justify="right" if i >= right_from else "left")
    return t


def _spend_cells(sp: Spend) -> list[str]:
    return [f"{sp.hours:,.2f}", fmt.usd(sp.spot), fmt.usd(sp.ondemand),
            fmt.usd(sp.by_purpose.get("overprovision", 0.0)), fmt.usd(sp.by_purpose.get("fallback", 0.0)),
            fmt.usd(sp.cost), fmt.usd(sp.ondemand_equivalent), fmt.usd(sp.saving),
            fmt.percent(sp.saving_pct)]


_SPEND_COLS = ["HOURS", "SPOT", "ON-DEMAND", "OVERPROV", "FALLBACK", "COST", "ALL ON-DEMAND", "SAVED",
               "SAVED %"]


def render_tables(report: Report) -> list[RenderableType]:
    w = report.window
    head = Text(f"Cost report {iso(w.since)} -> {iso(w.until)} (UTC)"
                + (f", service {report.service_filter}" if report.service_filter else ""), style="bold")
    out: list[RenderableType] = [head]
    reps = _table("Replicas", ["NAME", "VER", "LAUNCHED", "DURATION", "RESOURCES", "PURPOSE", "STATUS",
                               "COST/hr", "COST"], right_from=7)
    for r in report.replicas:
        status = Text(fmt.status(r), style="" if r.status in _LIVE else "dim")
        reps.add_row(fmt.replica_name(r), f"v{r.version}", fmt.when(r.launched_at), fmt.duration(r.hours),
                     fmt.resources(r), r.purpose, status,
                     fmt.rate(r.price_per_hour) + ("*" if r.price_source != RECORDED else ""),
                     fmt.usd(r.cost))
    out.append(reps)
    svc = _table("Services", ["SERVICE", "REPLICAS", *_SPEND_COLS], right_from=1)
    for name, sp in report.services.items():
        svc.add_row(name, str(sp.replicas), *_spend_cells(sp))
    svc.add_row(Text("all", style="bold"), str(report.serve.replicas), *_spend_cells(report.serve))
    out.append(svc)
    for title, key, groups in (("By cloud", "CLOUD", report.clouds), ("By region", "REGION", report.regions)):
        t = _table(title, [key, *_SPEND_COLS], right_from=1)
        for k, sp in groups.items():
            t.add_row(k, *_spend_cells(sp))
        out.append(t)
    days = _table("By day (UTC)", ["DATE", "SPOT", "ON-DEMAND", "STORE", "TOTAL"], right_from=1)
    for d in report.days:
        days.add_row(d.date, fmt.usd(d.spot), fmt.usd(d.ondemand), fmt.usd(d.store), fmt.usd(d.total))
    out.append(days)
    if report.store_included and not report.buckets:
        out.append(Text("Virtual buckets: no storage, egress or requests in this window"))
    elif report.store_included:
        st = _table("Virtual buckets", ["BUCKET", "REGION", "GB-HOURS", "STORAGE", "EGRESS GB", "EGRESS",
                                        "REQUESTS", "REQUESTS $", "COST"], right_from=2)
        for b in report.buckets:
            st.add_row(b.bucket, b.region + ("" if b.priced else " (unpriced)"), f"{b.gb_hours:,.3f}",
                       fmt.usd(b.storage_cost), f"{b.egress_gb:,.3f}", fmt.usd(b.egress_cost),
                       f"{b.requests:,}", fmt.usd(b.request_cost), fmt.usd(b.cost))
        out.append(st)
    out.append(Text(summary_line(report), style="bold"))
    out.extend(Text(f"note: {n}", style="yellow") for n in report.notes)
    return out


def summary_line(report: Report) -> str:
    """One line of totals: the closing line of the table and the heart of the chat summary."""
    s = report.serve
    parts = [f"total {fmt.usd(report.total)}",
             f"serve {fmt.usd(s.cost)} (spot {fmt.usd(s.spot)}, on-demand {fmt.usd(s.ondemand)}, "
             f"over-provision {fmt.usd(s.by_purpose.get('overprovision', 0.0))}, "
             f"fallback {fmt.usd(s.by_purpose.get('fallback', 0.0))})",
             f"saved {fmt.usd(s.saving)} "
             f"({fmt.percent(s.saving_pct)}) "
             f"vs all on-demand {fmt.usd(s.ondemand_equivalent)}"]
    if report.store_included:
        parts.append(f"store {fmt.usd(report.store_cost)}")
    return "; ".join(parts)
