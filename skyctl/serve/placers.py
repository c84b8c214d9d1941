"""Placers: where the next replica goes, given the launch plan and what launches and replicas did so far.

`choose` returns candidates best first; the replica manager tries them in turn, reports every
`CapacityError` with `on_capacity_error` before moving on, and stops at the first launch that succeeds.
State is plain JSON (`dump`/`load`) kept in the service row, so a restarted controller places as before.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import Any

from providers.base import Location
from skyctl.serve.plan import LaunchPlan
from skyctl.serve.types import Candidate, Placer
from skyctl.spec import ServiceSpec

# Capacity backoff of CheapestPlacer: a location that just failed is tried last for BACKOFF_BASE_SECONDS,
# doubling with each further failure in a row, up to BACKOFF_MAX_SECONDS; a success there clears it.
# SkyPilot's optimizer only skips a failed location within one launch (`blocked_resources`) and retries
# from the cheapest again; remembering the failure for a while stops every new replica from first
# hitting the same exhausted zone.
BACKOFF_BASE_SECONDS = 60.0
BACKOFF_MAX_SECONDS = 960.0


def make_placer(spec: ServiceSpec, plan: LaunchPlan) -> Placer:
    """The placer the spec asks for: `spot_placer` unset -> CheapestPlacer; `dynamic_fallback` ->
    DynamicFallbackPlacer; `skyctl` -> HedgePlacer (skyctl/serve/hedge_placer.py)."""
    policy = spec.service.replica_policy
    if policy.spot_placer is None:
        return CheapestPlacer(plan)
    if policy.spot_placer == "skyctl":
        from skyctl.serve.hedge_placer import HedgePlacer  # it builds on CheapestPlacer below

        return HedgePlacer(plan, floor_extra=policy.num_overprovision, seed=spec.name or "")
    return DynamicFallbackPlacer(plan, seed=spec.name or "")


@dataclass
class _Backoff:
    errors: int
    until: float


class CheapestPlacer:
    """SkyPilot's optimizer order: the plan's preference (`ordered`) or cheapest first in the requested
    mode, with every location whose capacity error is recent moved to the back, in the same order."""

    kind = "cheapest"

    def __init__(self, plan: LaunchPlan) -> None:
        self.plan = plan
        self._backoff: dict[tuple[Location, bool], _Backoff] = {}

    def choose(self, *, spot: bool, live_spot: list[Location], now: float) -> list[Candidate]:
        ranked = self.plan.ranked(spot)
        cooling = [c for c in ranked if self._cooling(c.location, spot, now)]
        return [c for c in ranked if c not in cooling] + cooling

    def on_launched(self, location: Location, *, spot: bool, now: float) -> None:
        self._backoff.pop((location, spot), None)

    def on_capacity_error(self, location: Location, *, spot: bool, now: float) -> None:
        prev = self._backoff.get((location, spot))
        errors = prev.errors + 1 if prev else 1
        delay = min(BACKOFF_BASE_SECONDS * 2 ** (errors - 1), BACKOFF_MAX_SECONDS)
        self._backoff[(location, spot)] = _Backoff(errors, now + delay)

    def on_preempted(self, location: Location, *, now: float) -> None:
        """Ignored: the optimizer prices locations, it does not learn from preemptions."""

    def on_ready(self, location: Location, *, spot: bool, seconds_to_ready: float, now: float) -> None:
        """Ignored: time to READY does not change the price order."""

    def backoff_until(self, location: Location, *, spot: bool) -> float | None:
        """When this location stops being tried last (None: it never failed, or succeeded since)."""
        entry = self._backoff.get((location, spot))
        return entry.until if entry else None

    def dump(self) -> dict[str, Any]:
        return {"kind": self.kind,
                "backoff": [{"location": location_to_dict(loc), "spot": spot, "errors": b.errors,
                             "until": b.until} for (loc, spot), b in self._backoff.items()]}

    def load(self, state: dict[str, Any]) -> None:
        """Restore a dump; entries for places no longer in the plan, or unreadable ones, are dropped."""
        self._backoff = {}
        if not isinstance(state, dict) or state.get("kind") != self.kind:
            return
        known = {c.location for c in self.plan.candidates}
        for item in state.get("backoff") or []:
            try:
                loc = location_from_dict(item["location"])
                entry = _Backoff(int(item["errors"]), float(item["until"]))
                spot = bool(item["spot"])
            except (KeyError, TypeError, ValueError):
                continue
            if loc in known:
                self._backoff[(loc, spot)] = entry

    def _cooling(self, location: Location, spot: bool, now: float) -> bool:
        entry = self._backoff.get((location, spot))
        return entry is not None and now < entry.until


class TieDraws:
    """Seeded random draws for breaking ties, reproducible across a controller restart: each `next()` is a
    generator seeded by (seed, number of draws so far), and that count is part of the placer's state."""

    def __init__(self, seed: str) -> None:
        self.seed = seed
        self.count = 0

    def next(self) -> random.Random:
        rng = random.Random(f"{self.seed}:{self.count}")
        self.count += 1
        return rng

    def load(self, count: Any) -> None:
        """Restore a dumped `count`; anything but a non-negative int starts over."""
        self.count = count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else 0


UPSTREAM_MIN_ACTIVE = 2  # SkyServe's spot_placer.py: reset when fewer than 2 locations are ACTIVE


def paper_min_active(locations: int) -> int:
    """The SpotHedge paper simulator's reset rule, `len(active) <= min(1, Z - 3)`, as "fewer than": with
    3 zones it resets only when none is ACTIVE, so a lone zone with capacity can take every replica
    (upstream's "fewer than 2" resets as soon as two of three zones fail, and then never tries the third:
    it hosts a replica, and the two reset zones are "free"); from 4 zones on the two rules agree."""
    return max(1, min(2, locations - 2))


class LocationStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    PREEMPTED = "PREEMPTED"


class DynamicFallbackPlacer:
    """SkyServe's `dynamic_fallback` spot placer (SpotHedge), rule for rule:

    - every spot-priced location of the plan starts ACTIVE;
    - a new spot replica goes to the cheapest ACTIVE location not hosting a live spot replica, else to the
      cheapest ACTIVE location ("cheapest" = the plan's spot order, which keeps `ordered` preferences;
      for `any_of` it is SkyServe's min spot $/h); locations tied on preference and price are drawn at
      random, as the SpotHedge paper's simulator does (upstream's `min` takes the first of a tie, which
      with equal prices keeps retrying one full zone while another has room), from a generator seeded by
      `seed` and a draw counter that is part of the state, so a restart draws what it would have;
    - a preemption or a spot launch capacity failure marks the location PREEMPTED, a successful spot
      launch marks it ACTIVE; when fewer than `min_active` ACTIVE locations remain after a marking, all
      are reset to ACTIVE (upstream: 2; the paper's simulator: `paper_min_active`);
    - on-demand replicas (fallback) go to the cheapest on-demand candidate (a CheapestPlacer).

    SkyServe tries one location per launch and relaunches on the next tick; `choose` instead returns the
    sequence those relaunches would pick if each attempt failed (same rule, applied to a copy of the
    statuses), so the replica manager can walk it in one launch. Unlike SkyServe, the statuses survive a
    controller restart through `dump`/`load`.
    """

    kind = "dynamic_fallback"

    def __init__(self, plan: LaunchPlan, seed: str = "", min_active: int = UPSTREAM_MIN_ACTIVE) -> None:
        self.plan = plan
        self.min_active = min_active
        self.draws = TieDraws(seed)  # one generator per choose() call
        self._spot = plan.ranked(spot=True)
        rank = {id(c): r for c, r in zip(plan.candidates, plan.rank, strict=True)}
        self._key = {id(c): (rank[id(c)], c.spot_price) for c in self._spot}
        self.status: dict[Location, LocationStatus] = {c.location: LocationStatus.ACTIVE for c in self._spot}
        self.ondemand = CheapestPlacer(plan)

    def choose(self, *, spot: bool, live_spot: list[Location], now: float) -> list[Candidate]:
        if not spot:
            return self.ondemand.choose(spot=False, live_spot=live_spot, now=now)
        rng = self.draws.next()
        status = dict(self.status)
        out: list[Candidate] = []
        while True:
            pick = self._select(status, set(live_spot), rng)
            if pick is None or pick in out:
                return out
            out.append(pick)
            _mark_preempted(status, pick.location, self.min_active)

    def on_launched(self, location: Location, *, spot: bool, now: float) -> None:
        if not spot:
            self.ondemand.on_launched(location, spot=False, now=now)
        elif location in self.status:
            self.status[location] = LocationStatus.ACTIVE

    def on_capacity_error(self, location: Location, *, spot: bool, now: float) -> None:
        if not spot:
            self.ondemand.on_capacity_error(location, spot=False, now=now)
        elif location in self.status:
            _mark_preempted(self.status, location, self.min_active)

    def on_preempted(self, location: Location, *, now: float) -> None:
        if location in self.status:
            _mark_preempted(self.status, location, self.min_active)

    def on_ready(self, location: Location, *, spot: bool, seconds_to_ready: float, now: float) -> None:
        """Ignored: SkyServe's rule does not use time to READY."""

    def active(self) -> list[Location]:
        return [loc for loc, s in self.status.items() if s is LocationStatus.ACTIVE]

    def dump(self) -> dict[str, Any]:
        return {"kind": self.kind, "draws": self.draws.count,
                "locations": [{"location": location_to_dict(loc), "status": s.value}
                              for loc, s in self.status.items()],
                "ondemand": self.ondemand.dump()}

    def load(self, state: dict[str, Any]) -> None:
        """Restore a dump; places no longer in the plan are dropped, new ones start ACTIVE."""
        self.status = {loc: LocationStatus.ACTIVE for loc in self.status}
        if not isinstance(state, dict) or state.get("kind") != self.kind:
            return
        self.draws.load(state.get("draws"))
        for item in state.get("locations") or []:
            try:
                loc, status = location_from_dict(item["location"]), LocationStatus(item["status"])
            except (KeyError, TypeError, ValueError):
                continue
            if loc in self.status:
                self.status[loc] = status
        self.ondemand.load(state.get("ondemand") or {})

    def _select(self, status: dict[Location, LocationStatus], live: set[Location],
                rng: random.Random) -> Candidate | None:
        active = [c for c in self._spot if status[c.location] is LocationStatus.ACTIVE]
        pool = [c for c in active if c.location not in live] or active
        if not pool:
            return None
        tied = [c for c in pool if self._key[id(c)] == self._key[id(pool[0])]]
        return tied[rng.randrange(len(tied))] if len(tied) > 1 else tied[0]


def _mark_preempted(status: dict[Location, LocationStatus], location: Location, min_active: int) -> None:
    status[location] = LocationStatus.PREEMPTED
    if sum(s is LocationStatus.ACTIVE for s in status.values()) < min_active:
        for loc in status:
            status[loc] = LocationStatus.ACTIVE


def location_to_dict(loc: Location) -> dict[str, str | None]:
    return {"cloud": loc.cloud, "region": loc.region, "zone": loc.zone}


def location_from_dict(data: Any) -> Location:
    zone = data["zone"]
    return Location(str(data["cloud"]), str(data["region"]), None if zone is None else str(zone))
