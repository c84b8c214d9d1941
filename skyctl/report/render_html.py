"""`--html FILE`: one self-contained page (inline CSS and SVG, no script, no fetch) readable offline.

A Content-Security-Policy of `default-src 'none'` makes the promise checkable: a browser refuses (and
logs) anything the page would try to load. Every number cell carries its exact value in `data-value`,
so the page can be compared with the JSON and CSV outputs by a program, not only by eye.
"""

from __future__ import annotations

from html import escape

from skyctl.report import fmt
from skyctl.report.model import Report, Spend, money
from skyctl.report.render_table import summary_line
from skyctl.report.svg import share_bars, stacked_days
from skyctl.report.window import iso

CSP = "default-src 'none'; style-src 'unsafe-inline'"
SERIES = [("spot", "#2a9d8f"), ("on-demand", "#e76f51"), ("store", "#457b9d")]
CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;font-size:12px;margin:8px 0}
th,td{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.kpi{display:inline-block;margin:4px 18px 4px 0}.kpi b{display:block;font-size:18px}
.note{color:#8a6d00}.dim{color:#888}
"""


def _money(x: float) -> str:
    return f'<td class="num" data-value="{money(x)}">{fmt.usd(x)}</td>'


def _num(x: float, text: str) -> str:
    return f'<td class="num" data-value="{x}">{escape(text)}</td>'


def _cell(text: object) -> str:
    return f"<td>{escape('' if text is None else str(text))}</td>"


def _table(table_id: str, headers: list[str], rows: list[str], numeric_from: int) -> str:
    head = "".join(f'<th class="{"num" if i >= numeric_from else ""}">{escape(h)}</th>'
                   for i, h in enumerate(headers))
    body = "\n".join(f"<tr>{r}</tr>" for r in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


_SPEND_HEAD = ["HOURS", "SPOT", "ON-DEMAND", "OVERPROV", "FALLBACK", "COST", "ALL ON-DEMAND", "SAVED",
               "SAVED %"]


def _spend(sp: Spend) -> str:
    return (_num(round(sp.hours, 6), f"{sp.hours:,.2f}") + _money(sp.spot) + _money(sp.ondemand)
            + _money(sp.by_purpose.get("overprovision", 0.0)) + _money(sp.by_purpose.get("fallback", 0.0))
            + _money(sp.cost) + _money(sp.ondemand_equivalent) + _money(sp.saving)
            + _num(sp.saving_pct if sp.saving_pct is not None else "", fmt.percent(sp.saving_pct)))


def render_html(report: Report) -> str:
    w = report.window
    title = f"skyctl cost report {iso(w.since)} to {iso(w.until)}"
    n = len(SERIES) if report.store_included else 2
    daily = stacked_days("chart-daily", [(d.date, [d.spot, d.ondemand, d.store][:n]) for d in report.days],
                         SERIES[:n])
    shares = [(name, sp.cost) for name, sp in report.services.items()]
    if report.store_included:
        shares.append(("virtual buckets", report.store_cost))
    s = report.serve
    kpis = "".join(f'<span class="kpi">{escape(k)}<b>{v}</b></span>' for k, v in (
        ("total", fmt.usd(report.total)), ("serve", fmt.usd(s.cost)), ("spot", fmt.usd(s.spot)),
        ("on-demand", fmt.usd(s.ondemand)), ("all on-demand would be", fmt.usd(s.ondemand_equivalent)),
        ("saved", f"{fmt.usd(s.saving)} ({fmt.percent(s.saving_pct)})"),
        *((("store", fmt.usd(report.store_cost)),) if report.store_included else ())))
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)} (UTC)</h1>",
        f"<p>{escape('service ' + report.service_filter) if report.service_filter else 'all services'}; "
        f"open intervals end at {escape(iso(w.end) or '')}.</p>",
        f'<div id="totals">{kpis}</div>', f"<p>{escape(summary_line(report))}</p>",
        "<h2>Daily cost</h2>", daily, "<h2>Share of cost</h2>", share_bars("chart-services", shares),
        "<h2>Services</h2>",
        _table("services", ["SERVICE", "REPLICAS", *_SPEND_HEAD],
               [_cell(n) + _num(sp.replicas, str(sp.replicas)) + _spend(sp)
                for n, sp in report.services.items()]
               + [_cell("all") + _num(s.replicas, str(s.replicas)) + _spend(s)], 1),
        "<h2>Replicas</h2>",
        _table("replicas", ["NAME", "VER", "LAUNCHED", "DURATION", "RESOURCES", "PURPOSE", "STATUS",
                            "COST/hr", "COST", "ALL ON-DEMAND"],
               [_cell(fmt.replica_name(r)) + _cell(f"v{r.version}") + _cell(fmt.when(r.launched_at))
                + _num(round(r.hours, 6), fmt.duration(r.hours)) + _cell(fmt.resources(r)) + _cell(r.purpose)
                + _cell(fmt.status(r)) + _num(r.price_per_hour, fmt.rate(r.price_per_hour))
                + _money(r.cost) + _money(r.ondemand_cost) for r in report.replicas], 7),
    ]
    for title_, table_id, key, groups in (("By cloud", "by-cloud", "CLOUD", report.clouds),
                                          ("By region", "by-region", "REGION", report.regions)):
        parts += [f"<h2>{title_}</h2>",
                  _table(table_id, [key, *_SPEND_HEAD],
                         [_cell(k) + _spend(sp) for k, sp in groups.items()], 1)]
    parts += ["<h2>By day (UTC)</h2>",
              _table("by-day", ["DATE", "SPOT", "ON-DEMAND", "STORE", "TOTAL"],
                     [_cell(d.date) + _money(d.spot) + _money(d.ondemand) + _money(d.store) + _money(d.total)
                      for d in report.days], 1)]
    if report.store_included:
        parts += ["<h2>Virtual buckets</h2>", f'<p class="dim">prices: {escape(report.store_pricing)}</p>',
                  _table("buckets", ["BUCKET", "REGION", "GB-HOURS", "STORAGE", "EGRESS GB", "EGRESS",
                                     "REQUESTS", "REQUESTS $", "COST"],
                         [_cell(b.bucket) + _cell(b.region + ("" if b.priced else " (unpriced)"))
                          + _num(round(b.gb_hours, 6), f"{b.gb_hours:,.3f}") + _money(b.storage_cost)
                          + _num(round(b.egress_gb, 9), f"{b.egress_gb:,.3f}") + _money(b.egress_cost)
                          + _num(b.requests, f"{b.requests:,}") + _money(b.request_cost) + _money(b.cost)
                          for b in report.buckets], 2)]
    parts += [f'<p class="note">note: {escape(n)}</p>' for n in report.notes]
    parts.append("</body></html>\n")
    return "\n".join(parts)
