"""skyctl's spot placer (`spot_placer: skyctl`): rank locations by expected cost per *useful* replica-hour,
learned from decayed per-location statistics, under caps on spot replicas per zone and per region.

Score of a spot candidate (lower is better), with the location's estimates from `LocationStats`:

    useful = q / (1 + rate * (T + DISRUPTION_SECONDS) / 3600)        score = spot_price / useful

`rate` = preemptions per replica-hour, `T` = seconds to READY (a cold start paid for and lost at every
preemption), `DISRUPTION_SECONDS` = what a preemption costs beyond that (the on-demand cover launched and
held meanwhile, the risk of dipping below target), `q` = probability that a launch there succeeds.

Caps, for a fleet of `S` spot replicas once this one is placed, over the `Z` zones and `R` regions whose
score is within `USABLE_SCORE_RATIO` of the best (a hopeless zone must not force replicas into itself):

    per zone:   k_z = max(1, e0, ceil(S / Z))
    per region: k_r = max(1, e0, ceil(S / R)), and at most S - 1 when R >= MIN_REGIONS (spread over >= 2)

`e0` is the spec's `num_overprovision`, the floor the autoscaler never goes below: with enough locations
(Z >= S / e0) one zone holds at most e0 replicas, so losing that zone leaves at least the target. Locations
within their caps come first (best score first); those that would exceed a cap follow, least exceeded
first, because a crowded zone still beats no replica when every other location is out of capacity.
Before both, SpotHedge's one lesson the scores learn too slowly: a location whose last spot event was a
preemption or a capacity error (and no launch has succeeded there since) goes after every unmarked one.
A capacity error's mark lapses after CAPACITY_MARK_SECONDS (it says the pool was empty then, and pools
refill within the hour), so an old failure cannot pull a whole relaunch wave into one zone past the caps;
a preemption's stays until a launch succeeds there.
Exact ties (equal prices and statistics) are drawn at random from a generator seeded by the service name
and a draw counter kept in the state, so replicas of equal-looking zones spread and a restart draws the
same.
On-demand replicas (fallback) go to the cheapest on-demand location, with capacity backoff.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from providers.base import Location
from skyctl.serve.hedge_stats import LocationStats
from skyctl.serve.placers import CheapestPlacer, TieDraws, location_from_dict, location_to_dict
from skyctl.serve.plan import LaunchPlan
from skyctl.serve.types import Candidate

DISRUPTION_SECONDS = 1800.0  # ~ on-demand/spot price ratio (3) x (cold start + on-demand hold), in spot time
USABLE_SCORE_RATIO = 2.0
# A capacity error outranks the caps this long (2 x the launch statistics' half-life). On the SpotHedge
# traces 30 min to 4 h all beat "until a launch succeeds" (docs/serve-spot-hedging.md); 2 h was the best.
CAPACITY_MARK_SECONDS = 7200.0
MIN_REGIONS = 2


@dataclass(frozen=True)
class Mark:
    """A location's last bad spot event: when, and whether a preemption or a capacity error."""

    at: float
    cause: str  # "preemption" | "capacity"


def spot_caps(total: int, floor_extra: int, zones: int, regions: int) -> tuple[int, int]:
    """(per-zone cap, per-region cap) for `total` spot replicas over `zones` zones and `regions` regions."""
    k_zone = max(1, floor_extra, math.ceil(total / max(1, zones)))
    k_region = max(1, floor_extra, math.ceil(total / max(1, regions)))
    if regions >= MIN_REGIONS and total >= 2:
        k_region = min(k_region, total - 1)
    return min(k_zone, k_region), k_region


class HedgePlacer:
    kind = "skyctl"

    def __init__(self, plan: LaunchPlan, floor_extra: int = 0, seed: str = "") -> None:
        self.plan = plan
        self.floor_extra = floor_extra
        self.draws = TieDraws(seed)  # one generator per choose() call
        self.marked: dict[Location, Mark] = {}  # location -> its last preemption/capacity error
        self._spot = plan.ranked(spot=True)
        self._rank = {id(c): r for c, r in zip(plan.candidates, plan.rank, strict=True)}
        self.stats = LocationStats()
        self.ondemand = CheapestPlacer(plan)

    # -- ranking
    def score(self, c: Candidate, now: float) -> float:
        """Expected $ per useful spot replica-hour at this candidate."""
        loc = c.location
        rate = self.stats.preemption_rate(loc, now)
        lost = self.stats.seconds_to_ready(loc, now) + DISRUPTION_SECONDS
        useful = self.stats.launch_success(loc, now) / (1.0 + rate * lost / 3600.0)
        return (c.spot_price or 0.0) / max(useful, 1e-9)

    def choose(self, *, spot: bool, live_spot: list[Location], now: float) -> list[Candidate]:
        if not spot:
            return self.ondemand.choose(spot=False, live_spot=live_spot, now=now)
        self.stats.set_live(Counter(live_spot), now)
        if not self._spot:
            return []
        scores = {id(c): self.score(c, now) for c in self._spot}
        best = min(scores.values())
        usable = [c.location for c in self._spot if scores[id(c)] <= USABLE_SCORE_RATIO * best]
        k_zone, k_region = spot_caps(len(live_spot) + 1, self.floor_extra, len(set(usable)),
                                     len({_region(loc) for loc in usable}))
        per_zone = Counter(live_spot)
        per_region = Counter(_region(loc) for loc in live_spot)
        rng = self.draws.next()
        draw = {id(c): rng.random() for c in self._spot}

        def key(c: Candidate) -> tuple:
            over = (max(0, per_zone[c.location] + 1 - k_zone)
                    + max(0, per_region[_region(c.location)] + 1 - k_region))
            mark = self.marked.get(c.location)
            marked = mark is not None and (mark.cause == "preemption"
                                           or now - mark.at < CAPACITY_MARK_SECONDS)
            return (marked, over, self._rank[id(c)], round(scores[id(c)], 6), draw[id(c)])

        return sorted(self._spot, key=key)

    # -- events
    def on_launched(self, location: Location, *, spot: bool, now: float) -> None:
        if not spot:
            self.ondemand.on_launched(location, spot=False, now=now)
            return
        self.stats.record_launch(location, ok=True, now=now)
        self.stats.add_live(location, +1, now)
        self.marked.pop(location, None)

    def on_capacity_error(self, location: Location, *, spot: bool, now: float) -> None:
        """Only capacity errors reach here (quota, auth and user errors end the launch without a call)."""
        if not spot:
            self.ondemand.on_capacity_error(location, spot=False, now=now)
            return
        self.stats.record_launch(location, ok=False, now=now)
        self.marked[location] = Mark(now, "capacity")

    def on_preempted(self, location: Location, *, now: float) -> None:
        self.stats.record_preemption(location, now)
        self.stats.add_live(location, -1, now)
        self.marked[location] = Mark(now, "preemption")

    def on_ready(self, location: Location, *, spot: bool, seconds_to_ready: float, now: float) -> None:
        """Both modes: the cold start depends on the machine and image, not on how it is billed."""
        self.stats.record_ready(location, seconds_to_ready, now)

    # -- persistence
    def dump(self) -> dict[str, Any]:
        return {"kind": self.kind, "stats": self.stats.dump(), "ondemand": self.ondemand.dump(),
                "draws": self.draws.count,
                "marked": [{"location": location_to_dict(loc), "at": m.at, "cause": m.cause}
                           for loc, m in self.marked.items()]}

    def load(self, state: dict[str, Any]) -> None:
        """Restore a dump (another placer's dump, e.g. after switching from dynamic_fallback, is ignored:
        its marks are not statistics); places no longer in the plan simply stop being asked about. A mark
        without a cause (a dump from before causes were kept) is kept as a preemption's: it never lapses."""
        if not isinstance(state, dict) or state.get("kind") != self.kind:
            return
        self.stats.load(state.get("stats"))
        self.ondemand.load(state.get("ondemand") or {})
        self.draws.load(state.get("draws"))
        self.marked = {}
        for item in state.get("marked") or []:
            try:
                cause = "capacity" if item.get("cause") == "capacity" else "preemption"
                self.marked[location_from_dict(item["location"])] = Mark(float(item["at"]), cause)
            except (AttributeError, KeyError, TypeError, ValueError):
                continue


def _region(loc: Location) -> tuple[str, str]:
    return loc.cloud, loc.region
