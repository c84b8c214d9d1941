"""Text forms shared by the human renderers (terminal table, HTML, chat summary), so they read alike."""

from __future__ import annotations

from skyctl.report.model import ReplicaLine
from skyctl.report.window import iso


def usd(x: float) -> str:
    """Cents for people; sub-cent amounts keep four decimals so a cheap replica does not read $0.00."""
    if 0 < abs(x) < 0.0001:
        return "<$0.0001" if x > 0 else "-<$0.0001"
    if 0 < abs(x) < 0.01:
        return f"${x:.4f}"
    return f"${x:,.2f}"


def rate(x: float) -> str:
    return f"${x:,.4f}"


def percent(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}%"


def duration(hours: float) -> str:
    """`2d 3h 5m` (SkyPilot's cost-report style); under a minute shows seconds."""
    total = round(hours * 3600)
    if total < 60:
        return f"{total}s"
    d, rem = divmod(total // 60, 24 * 60)
    h, m = divmod(rem, 60)
    parts = [f"{d}d" if d else "", f"{h}h" if h else "", f"{m}m" if m or not (d or h) else ""]
    return " ".join(p for p in parts if p)


def when(ts: float) -> str:
    """`2026-11-01 12:00` UTC: minutes are enough in a table."""
    return (iso(ts) or "")[:16].replace("T", " ")


def replica_name(r: ReplicaLine) -> str:
    return f"{r.service}/{r.replica_id}"


def resources(r: ReplicaLine) -> str:
    """`1x aws(g5.xlarge, A10G:1, spot) us-east-1a`, the shape of SkyPilot's RESOURCES column."""
    inner = [r.instance_type or "?"]
    if r.accelerator:
        inner.append(f"{r.accelerator}:{r.accelerator_count:g}")
    if r.spot:
        inner.append("spot")
    return f"1x {r.cloud or '?'}({', '.join(inner)}) {r.zone or r.region or '?'}"


def status(r: ReplicaLine) -> str:
    return f"{r.status} (preempted)" if r.preempted and r.status != "PREEMPTED" else r.status
