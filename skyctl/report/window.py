"""The report's time window and UTC calendar arithmetic.

Everything is UTC so that the same records give the same report on any machine and in any time zone
(cron jobs, CI, a laptop). The window is half-open, [since, until): `--since 2026-11-01 --until
2026-11-08` is exactly seven days, and consecutive weekly reports neither overlap nor leave gaps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from skyctl.errors import UserError

DAY_S = 86400.0
DEFAULT_DAYS = 30
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([mhdw])$")
_UNIT_S = {"m": 60.0, "h": 3600.0, "d": DAY_S, "w": 7 * DAY_S}
_FORMATS = "7d, 12h, 2w, 2026-11-01, 2026-11-01T12:00 or a Unix timestamp"


@dataclass(frozen=True)
class Window:
    """[since, until) in epoch seconds; `now` ends intervals that are still open."""

    since: float
    until: float
    now: float

    @property
    def end(self) -> float:
        """Where open intervals stop: now, unless the window ends earlier."""
        return min(self.until, self.now)

    def clip(self, start: float, end: float | None) -> tuple[float, float] | None:
        """The part of [start, end or now) inside the window, or None if nothing is."""
        lo, hi = max(start, self.since), min(self.end if end is None else end, self.until)
        return (lo, hi) if hi > lo else None

    def days(self) -> list[str]:
        """Every UTC date the window touches, oldest first."""
        first, last = utc_day(self.since), utc_day(max(self.since, self.until - 1e-6))
        return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]

    def to_dict(self) -> dict[str, str | float]:
        return {"since": iso(self.since), "until": iso(self.until), "now": iso(self.now),
                "hours": round((self.until - self.since) / 3600.0, 6)}


def make_window(since: str | None, until: str | None, now: float) -> Window:
    """`--since` (relative to the window's end, or a date), `--until` (a date; default now)."""
    end = now if until is None else parse_time(until, "--until", now=now, relative=False)
    start = end - DEFAULT_DAYS * DAY_S if since is None else parse_time(since, "--since", now=end)
    if start >= end:
        raise UserError("the window is empty: --since must be before --until", field="--since",
                        value=since, fix=f"the window ends at {iso(end)}; choose an earlier --since")
    return Window(start, end, now)


def parse_time(text: str, option: str, *, now: float, relative: bool = True) -> float:
    """A duration back from `now` (`7d`), an ISO date or date-time (UTC unless it says otherwise), or
    epoch seconds."""
    raw = text.strip()
    m = _RELATIVE.match(raw.lower())
    if m and relative:
        return now - float(m.group(1)) * _UNIT_S[m.group(2)]
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        what = _FORMATS if relative else _FORMATS.replace("7d, 12h, 2w, ", "")
        raise UserError("not a time", field=option, value=text, fix=f"use {what} (UTC)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def utc_day(ts: float) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


def iso(ts: float | None) -> str | None:
    """`2026-11-01T12:00:00Z` (seconds precision): stable text for JSON, CSV and HTML."""
    if ts is None:
        return None
    return datetime.fromtimestamp(round(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def split_by_day(start: float, end: float) -> list[tuple[str, float]]:
    """[(UTC date, seconds of [start, end) on that date)], so daily totals add up to the whole."""
    out = []
    t = start
    while t < end:
        day = utc_day(t)
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() + DAY_S
        stop = min(end, midnight)
        out.append((day.isoformat(), stop - t))
        t = stop
    return out


def day_of_epoch_day(n: int) -> str:
    """The date of whole days since the epoch (what the store's per-day sums are keyed by)."""
    return (date(1970, 1, 1) + timedelta(days=n)).isoformat()
