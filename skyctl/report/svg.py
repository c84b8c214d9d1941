"""Two small inline SVG charts, drawn here so the HTML page needs no library, no script and no network.

Coordinates are printed with fixed precision, so the same report always gives the same bytes.
"""

from __future__ import annotations

import math
from html import escape

from skyctl.report import fmt

FONT = "font-family:system-ui,sans-serif;font-size:11px;fill:#333"


def _n(x: float) -> str:
    return f"{x:.2f}"


def nice_step(top: float, ticks: int = 4) -> float:
    """A 1/2/5 x 10^k step that covers `top` in about `ticks` steps."""
    if top <= 0:
        return 1.0
    raw = top / ticks
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def stacked_days(chart_id: str, days: list[tuple[str, list[float]]], series: list[tuple[str, str]],
                 width: int = 860, height: int = 280) -> str:
    """Daily bars stacked by series; `days` = [(date, [value per series])], `series` = [(name, colour)]."""
    left, right, top, bottom = 64, 12, 28, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((sum(v) for _, v in days), default=0.0)
    step = nice_step(peak)
    y_max = step * max(1, math.ceil(peak / step)) if peak > 0 else 1.0
    parts = [f'<svg id="{chart_id}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="daily cost">',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    for i in range(round(y_max / step) + 1):
        v = i * step
        y = top + plot_h - plot_h * v / y_max
        parts.append(f'<line x1="{left}" y1="{_n(y)}" x2="{width - right}" y2="{_n(y)}" stroke="#e3e3e3"/>')
        parts.append(f'<text x="{left - 6}" y="{_n(y + 4)}" text-anchor="end" style="{FONT}">'
                     f'{fmt.usd(v)}</text>')
    slot = plot_w / max(1, len(days))
    bar_w = max(1.0, slot * 0.75)
    label_every = max(1, math.ceil(len(days) / 12))
    for i, (day, values) in enumerate(days):
        x = left + i * slot + (slot - bar_w) / 2
        base = top + plot_h
        for (name, colour), v in zip(series, values, strict=True):
            if v <= 0:
                continue
            h = plot_h * v / y_max
            base -= h
            parts.append(f'<rect x="{_n(x)}" y="{_n(base)}" width="{_n(bar_w)}" height="{_n(h)}" '
                         f'fill="{colour}" data-date="{day}" data-series="{escape(name)}" '
                         f'data-value="{round(v, 6)}">'
                         f'<title>{day} {escape(name)}: {fmt.usd(v)}</title></rect>')
        if i % label_every == 0:
            parts.append(f'<text x="{_n(x + bar_w / 2)}" y="{height - bottom + 16}" text-anchor="middle" '
                         f'style="{FONT}">{day[5:]}</text>')
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
                 'stroke="#888"/>')
    if peak <= 0:
        parts.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle" '
                     f'style="{FONT}">no spend in this window</text>')
    x = left
    for name, colour in series:
        parts.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16}" y="18" style="{FONT}">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    parts.append("</svg>")
    return "\n".join(parts)


PALETTE = ("#264653", "#2a9d8f", "#e9c46a", "#f4a261", "#e76f51", "#6d597a", "#457b9d", "#8ab17d")


def share_bars(chart_id: str, items: list[tuple[str, float]], width: int = 860) -> str:
    """Horizontal bars of each item's share of the sum, largest first (ties by name)."""
    items = sorted(items, key=lambda kv: (-kv[1], kv[0]))
    total = sum(v for _, v in items)
    row, label_w, top = 26, 220, 8
    height = top * 2 + row * max(1, len(items))
    bar_max = width - label_w - 150
    parts = [f'<svg id="{chart_id}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="share of cost">',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    if total <= 0:
        parts.append(f'<text x="{width / 2}" y="{height / 2 + 4}" text-anchor="middle" style="{FONT}">'
                     'no spend in this window</text>')
    for i, (name, v) in enumerate(items if total > 0 else []):
        y = top + i * row
        share = v / total
        w = max(1.0, bar_max * share) if v > 0 else 0.0
        parts.append(f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end" style="{FONT}">'
                     f'{escape(name)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{_n(w)}" height="{row - 8}" '
                     f'fill="{PALETTE[i % len(PALETTE)]}" data-name="{escape(name)}" '
                     f'data-value="{round(v, 6)}">'
                     f'<title>{escape(name)}: {fmt.usd(v)}</title></rect>')
        parts.append(f'<text x="{_n(label_w + w + 8)}" y="{y + 17}" style="{FONT}">'
                     f'{fmt.usd(v)} ({share * 100:.1f}%)</text>')
    parts.append("</svg>")
    return "\n".join(parts)
