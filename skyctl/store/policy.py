"""Placement policies of a virtual bucket: whether a remote read leaves a copy in the reader's region,
and the TTL that copy gets.

TTL rule for a new or refreshed copy in region `dst` (SkyStore's read path): every other ready replica is a
candidate future source; take the first, and let a later one replace it if it is permanent, or if its
pair TTL is smaller and it will still be alive when that TTL runs out. So the TTL is never sized against
a source that will be gone at the next miss. With no other replica, the median egress price into `dst`
over the bucket's regions stands in for the source.

`t-evict` is SkyStore's policy: the TTL minimises the expected cost over a size-weighted histogram of the
gaps between re-reads of the same object in `dst` (`solvers.skystore.tevict.choose_ttl_hours`), capped
below T_even; until `dst` has seen TEVICT_MIN_READS reads it is T_even/2.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from skyctl.errors import UserError, did_you_mean
from solvers.skystore.costmodel import GB, HOUR_S, MONTH_S, t_even

FOREVER = -1.0
TEVICT_MIN_READS = 1000
MAX_GAP_BUCKET = 100_000  # hours; longer gaps all count as this one

POLICIES: dict[str, str] = {
    "t-evict": "copy on remote read; TTL learned from re-read gaps in the reader's region (SkyStore's "
               "T_evict; T_even/2 until 1000 reads there), refreshed on hit",
    "t-even": "copy on remote read; TTL = break-even time egress(src->dst) / storage(dst), refreshed on hit",
    "fixed-ttl": "copy on remote read; TTL = --ttl seconds, refreshed on hit",
    "always-store": "copy on remote read and never evict it",
    "always-evict": "never copy on read; every remote read pays egress",
}
DEFAULT_POLICY = "t-evict"


class Prices(Protocol):
    """What the policies and the cost records need from `skyctl.store.pricing.Pricing`."""

    def storage_gb_month(self, region: str) -> float: ...
    def egress_gb(self, src: str, dst: str) -> float: ...
    def regions(self) -> list[str]: ...


def t_even_s(prices: Prices, src: str, dst: str) -> float:
    """Seconds a copy in dst can be stored for the price of re-fetching it from src (ski rental)."""
    return _forever_if_inf(t_even(prices.egress_gb(src, dst), prices.storage_gb_month(dst)))


def _forever_if_inf(ttl: float) -> float:
    return FOREVER if math.isinf(ttl) else ttl


@dataclass(frozen=True)
class ReadHistory:
    """Reads in one region: GB per re-read gap bucket (hour b = ceil(gap), index 0 unused), GB of
    distinct objects read (each pays the TTL after its last read), and the number of reads."""

    hist: tuple[float, ...]
    last_gb: float
    reads: int


def read_history(reads: Iterable[tuple[int, int, float]]) -> ReadHistory:
    """Build the T_evict histogram from (object id, bytes, time) reads, oldest first."""
    seen: dict[int, float] = {}
    buckets: dict[int, float] = {}
    last_gb, n = 0.0, 0
    for obj, size, at in reads:
        n += 1
        prev = seen.get(obj)
        seen[obj] = at
        if prev is None:
            last_gb += size / GB
        else:
            b = min(MAX_GAP_BUCKET, max(1, math.ceil((at - prev) / HOUR_S)))
            buckets[b] = buckets.get(b, 0.0) + size / GB
    hist = [0.0] * (max(buckets, default=1) + 1)
    for b, gb in buckets.items():
        hist[b] = gb
    return ReadHistory(tuple(hist), last_gb, n)


@dataclass(frozen=True)
class Candidate:
    """Another ready replica: its region and when it expires (None = permanent)."""

    region: str
    expires_at: float | None


@dataclass(frozen=True)
class Policy:
    name: str
    prices: Prices
    regions: tuple[str, ...]
    ttl_s: float | None = None
    history: Mapping[str, ReadHistory] = field(default_factory=dict)  # t-evict: reads per region

    @staticmethod
    def check(name: str, ttl_s: float | None) -> None:
        """Refuse unknown names and a missing/needless --ttl before anything is created."""
        if name not in POLICIES:
            hint = did_you_mean(name, POLICIES)
            raise UserError("unknown policy", field="--policy", value=name,
                            fix=(hint + " " if hint else "") + "choose one of " + ", ".join(POLICIES))
        if name == "fixed-ttl" and (ttl_s is None or ttl_s <= 0):
            raise UserError("fixed-ttl needs a positive TTL", field="--ttl", value=ttl_s,
                            fix="pass --ttl SECONDS, e.g. --ttl 3600")
        if name != "fixed-ttl" and ttl_s is not None:
            raise UserError(f"--ttl only applies to the fixed-ttl policy, not {name}", field="--ttl",
                            value=ttl_s, fix="drop --ttl or use --policy fixed-ttl")

    @property
    def copies_on_read(self) -> bool:
        return self.name != "always-evict"

    def pair_ttl(self, src: str, dst: str) -> float:
        """TTL of a copy in dst whose next miss would be served from src."""
        return self._ttl(self.prices.egress_gb(src, dst), dst)

    def _ttl(self, egress: float, dst: str) -> float:
        if self.name == "fixed-ttl":
            assert self.ttl_s is not None
            return self.ttl_s
        if self.name not in ("t-even", "t-evict"):
            return FOREVER
        storage = self.prices.storage_gb_month(dst)
        even = t_even(egress, storage)
        if math.isinf(even) or self.name == "t-even":
            return _forever_if_inf(even)
        h = self.history.get(dst)
        if h is None or h.reads < TEVICT_MIN_READS:
            return even / 2
        from solvers.skystore.tevict import choose_ttl_hours  # numpy: only when a TTL is learned

        hours = choose_ttl_hours(h.hist, h.last_gb, egress, storage / MONTH_S * HOUR_S, even / HOUR_S)
        return even / 2 if hours is None else hours * HOUR_S

    def ttl(self, dst: str, others: list[Candidate], now: float) -> float:
        """TTL of a copy in dst given the other ready replicas (see the module docstring)."""
        if not others:
            return self.lone_ttl(dst)
        best = others[0]
        best_ttl = self.pair_ttl(best.region, dst)
        for cand in others[1:]:
            ttl = self.pair_ttl(cand.region, dst)
            if cand.expires_at is None or (
                    _finite(ttl) < _finite(best_ttl) and cand.expires_at >= now + _finite(ttl)):
                best, best_ttl = cand, ttl
        return best_ttl

    def lone_ttl(self, dst: str) -> float:
        """TTL of a copy with no other replica (the writer's copy when the bucket has no base region)."""
        sources = [r for r in self.regions if r != dst]
        if not sources and self.name != "fixed-ttl":
            return FOREVER
        egress = statistics.median(self.prices.egress_gb(s, dst) for s in sources) if sources else 0.0
        return self._ttl(egress, dst)


def _finite(ttl: float) -> float:
    return float("inf") if ttl < 0 else ttl


def cheapest_source(prices: Prices, sources: list[str], dst: str) -> str:
    """The replica region to read from: local if present, else the lowest egress to dst (then by name)."""
    if dst in sources:
        return dst
    return min(sources, key=lambda s: (prices.egress_gb(s, dst), s))
