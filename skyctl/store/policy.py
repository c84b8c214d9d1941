"""Placement policies of a virtual bucket: whether a remote read leaves a copy in the reader's region,
and the TTL that copy gets.

TTL rule for a new or refreshed copy in region `dst` (SkyStore's read path): every other ready replica is a
candidate future source; take the first, and let a later one replace it if it is permanent, or if its
pair TTL is smaller and it will still be alive when that TTL runs out. So the TTL is never sized against
a source that will be gone at the next miss. With no other replica, T_even uses the median egress price
into `dst` over the bucket's regions.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Protocol

from skyctl.errors import UserError, did_you_mean
from solvers.skystore.costmodel import t_even

FOREVER = -1.0

POLICIES: dict[str, str] = {
    "t-even": "copy on remote read; TTL = break-even time egress(src->dst) / storage(dst), refreshed on hit",
    "fixed-ttl": "copy on remote read; TTL = --ttl seconds, refreshed on hit",
    "always-store": "copy on remote read and never evict it",
    "always-evict": "never copy on read; every remote read pays egress",
}
DEFAULT_POLICY = "t-even"


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
        if self.name == "fixed-ttl":
            assert self.ttl_s is not None
            return self.ttl_s
        if self.name == "t-even":
            return t_even_s(self.prices, src, dst)
        return FOREVER

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
        if self.name == "fixed-ttl":
            assert self.ttl_s is not None
            return self.ttl_s
        if self.name != "t-even":
            return FOREVER
        sources = [r for r in self.regions if r != dst]
        if not sources:
            return FOREVER
        egress = statistics.median(self.prices.egress_gb(s, dst) for s in sources)
        return _forever_if_inf(t_even(egress, self.prices.storage_gb_month(dst)))


def _finite(ttl: float) -> float:
    return float("inf") if ttl < 0 else ttl


def cheapest_source(prices: Prices, sources: list[str], dst: str) -> str:
    """The replica region to read from: local if present, else the lowest egress to dst (then by name)."""
    if dst in sources:
        return dst
    return min(sources, key=lambda s: (prices.egress_gb(s, dst), s))
