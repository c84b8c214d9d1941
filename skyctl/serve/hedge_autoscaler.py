"""The autoscaler for `spot_placer: skyctl`: SkyServe's fallback autoscaler with three changes.

1. Over-provisioning sized to an availability target instead of a fixed integer. A spot replica is
   preempted at rate `rate` (per hour, observed) and is back READY a window `W` later (observed time to
   READY plus one decision interval to notice and relaunch), so each replica slot is down a fraction
   `p = rate*W / (1 + rate*W)` of the time (alternating renewal). With `target + e` independent replicas,
   P[ready >= target] = P[Binomial(target + e, p) <= e]; `e` is the smallest value, from the spec's
   `num_overprovision` (the floor) up to `ceil(MAX_EXTRA_PER_TARGET x target)`, with that probability
   >= AVAILABILITY_TARGET. With the floor at 0 the extra goes to 0 in calm periods (SkyServe always pays
   for one) and back to 1 at the first preemption. `e` rises at once and drops only after the lower value
   has held for the spec's `downscale_delay_seconds`, so a calm period ends at the floor without flapping.
   Correlated loss of a whole zone is the placer's job (caps), not this model's.
2. On-demand fallback covers the larger of the READY spot missing from the *target* and the wanted spot
   (target + extra) that could not launch at all; a spot replacement that is provisioning restores
   the hedge by itself (SpotHedge backs it with on-demand too, which is released when both are READY).
   While preemptions are recent (TURBULENCE_PREEMPTIONS within TURBULENCE_WINDOW_SECONDS) on-demand is
   released only once enough spot replicas have been READY for ONDEMAND_HOLD_SECONDS (scaled to the
   decision interval), so a burst does not flap it; after an isolated preemption it goes at once. The
   hold never takes the fleet past `max_replicas + extra` (SkyServe #3255 bound): at that bound every
   wanted spot replica, extras included, is READY, and the held on-demand goes.
3. In a burst (the same two preemptions within EXPOSED_WINDOW_SECONDS) on-demand that is running is
   also kept while the zone holding the most READY spot replicas would, if it went at once, take READY
   spot below the target: a fleet that had to refill into few zones is exposed to their correlated
   loss. Only kept, never launched for this, so a calm fleet crowded into few zones pays nothing.

Observations come from the replica views the controller passes each decision: a spot replica seen alive
that is then PREEMPTED, or gone without this autoscaler having scaled it down and without a failed row,
counts as a preemption; first READY gives the time to READY; alive spot replicas accrue exposure. The
statistics are a `LocationStats` (decayed, hierarchical) and round-trip through `dump`/`load`.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from providers.base import Location
from skyctl.serve.autoscalers import (
    DECISION_INTERVAL_SECONDS,
    FallbackRequestRateAutoscaler,
    InstanceAwareRequestRateAutoscaler,
    _reach,
)
from skyctl.serve.hedge_stats import LocationStats
from skyctl.serve.placers import location_from_dict, location_to_dict
from skyctl.serve.status import ALIVE, ReplicaStatus
from skyctl.serve.types import Decision, ReplicaView, ScaleDown
from skyctl.spec import ServiceSpec

AVAILABILITY_TARGET = 0.9995
ONDEMAND_HOLD_SECONDS = 200.0  # at the default 20 s decision interval; scaled with the interval
# The model's extra is at most this share of the target (rounded up), or the spec's floor if higher. On the
# SpotHedge traces a third (one extra for a target of 3) with the floor at 0 was the best trade: higher
# caps bought little availability for much cost (docs/serve-spot-hedging.md).
MAX_EXTRA_PER_TARGET = 1 / 3
# The hold applies only while preemptions are recent (at least this many in this window): an isolated
# preemption's on-demand cover goes as soon as spot is READY again, a burst's is held.
TURBULENCE_WINDOW_SECONDS = 1800.0
TURBULENCE_PREEMPTIONS = 2
# While preemptions are this recent (TURBULENCE_PREEMPTIONS of them), on-demand that is already running
# is also kept as long as the loss of the most crowded zone would take READY spot below the target.
EXPOSED_WINDOW_SECONDS = 900.0


def ready_probability(target: int, extra: int, p_down: float) -> float:
    """P[at most `extra` of `target + extra` independent replicas are down], each down with `p_down`."""
    n = target + extra
    return sum(math.comb(n, k) * p_down ** k * (1 - p_down) ** (n - k) for k in range(0, extra + 1))


def overprovision(target: int, rate_per_hour: float, window_seconds: float, *, floor: int, cap: int,
                  availability: float | None = None) -> int:
    """The smallest extra in [floor, max(floor, cap)] meeting the availability target (the cap if none)."""
    goal = AVAILABILITY_TARGET if availability is None else availability
    if target <= 0:
        return floor
    x = max(0.0, rate_per_hour) * max(0.0, window_seconds) / 3600.0
    p = x / (1.0 + x)
    top = max(floor, cap)
    return next((e for e in range(floor, top + 1) if ready_probability(target, e, p) >= goal), top)


class HedgeAutoscaler(FallbackRequestRateAutoscaler):
    kind = "skyctl"

    def __init__(self, spec: ServiceSpec, interval: float = DECISION_INTERVAL_SECONDS) -> None:
        super().__init__(spec, interval)
        self.stats = LocationStats()
        self._extra = self._policy.num_overprovision
        self._extra_low_since: float | None = None
        self._now = 0.0
        self._tracked: dict[int, tuple[Location, bool, bool]] = {}  # id -> (location, spot, ready seen)
        self._released: set[int] = set()  # ids this autoscaler scaled down (their end is no preemption)
        self._unplaced = 0  # wanted spot replicas not alive at the last decision
        self._preempted_at: list[float] = []  # times of the preemptions seen in the turbulence window

    @property
    def extra(self) -> int:
        return self._extra

    @property
    def final_target(self) -> int:
        return self._target + self._extra

    @property
    def max_alive(self) -> int:
        return self._policy.effective_max_replicas + self._extra

    @property
    def hold_seconds(self) -> float:
        return ONDEMAND_HOLD_SECONDS * self._interval / DECISION_INTERVAL_SECONDS

    def decide(self, now: float, replicas: list[ReplicaView], qps: float, **kwargs: Any) -> list[Decision]:
        self._now = now
        self._observe(now, replicas)
        decisions = super().decide(now, replicas, qps, **kwargs)
        self._released |= {d.replica_id for d in decisions if isinstance(d, ScaleDown)}
        return decisions

    # -- statistics from the views
    def _observe(self, now: float, replicas: list[ReplicaView]) -> None:
        by_id = {r.replica_id: r for r in replicas}
        for rid, (loc, spot, _) in list(self._tracked.items()):
            r = by_id.get(rid)
            if r is not None and r.status in ALIVE:
                continue
            del self._tracked[rid]
            vanished = r is None and rid not in self._released
            if spot and (vanished or (r is not None and r.status is ReplicaStatus.PREEMPTED)):
                self.stats.record_preemption(loc, now)
                self._preempted_at.append(now)
        self._preempted_at = [t for t in self._preempted_at if now - t < TURBULENCE_WINDOW_SECONDS]
        self._released &= set(by_id)
        for r in replicas:
            if r.status not in ALIVE or r.location is None:
                continue
            loc, spot, seen = self._tracked.get(r.replica_id, (r.location, r.spot, False))
            if not seen and r.ready_at is not None and r.launched_at is not None:
                self.stats.record_ready(loc, r.ready_at - r.launched_at, now)
                seen = True
            self._tracked[r.replica_id] = (loc, spot, seen)
        self.stats.set_live(Counter(loc for loc, spot, _ in self._tracked.values() if spot), now)

    def observed_rate(self) -> float:
        """Preemptions per replica-hour where the spot replicas are (the whole service's when none is)."""
        spots = [loc for loc, spot, _ in self._tracked.values() if spot]
        if not spots:
            return self.stats.preemption_rate(None, self._now)
        return sum(self.stats.preemption_rate(loc, self._now) for loc in spots) / len(spots)

    def recovery_window(self) -> float:
        """Seconds a preempted slot stays down: time to READY plus one decision to notice and relaunch."""
        return self.stats.seconds_to_ready(None, self._now) + self._interval

    # -- the extra, re-sized whenever the target is
    def _step(self, candidate: int) -> None:
        super()._step(candidate)
        floor = self._policy.num_overprovision
        cap = max(floor, math.ceil(MAX_EXTRA_PER_TARGET * self._target))
        want = overprovision(self._target, self.observed_rate(), self.recovery_window(), floor=floor, cap=cap)
        if want >= self._extra or self._target == 0:
            self._extra, self._extra_low_since = want, None
        elif self._extra_low_since is None:
            self._extra_low_since = self._now
        if (self._extra_low_since is not None
                and self._now - self._extra_low_since >= self._policy.downscale_delay_seconds):
            self._extra, self._extra_low_since = want, None

    # -- spot and on-demand counts
    def _latest_decisions(self, alive: list[ReplicaView]) -> list[Decision]:
        policy, target = self._policy, self._target
        base = policy.base_ondemand_fallback_replicas
        spot = [r for r in alive if r.spot]
        ondemand = [r for r in alive if not r.spot]
        spot_target, od_base = max(0, target - base), min(base, target)
        spot_wanted = max(0, self.final_target - base)
        ready = [r for r in spot if r.status == ReplicaStatus.READY]
        hold = self.hold_seconds if self._recent(TURBULENCE_WINDOW_SECONDS) else 0.0
        stable = sum(r.ready_at is not None and self._now - r.ready_at >= hold for r in ready)
        # On-demand covers the larger of: target spot not READY, and wanted spot (target + extra) that
        # could not even launch. A spot replacement already provisioning is trusted to
        # restore the hedge (SpotHedge launches on-demand for it too, and drops it when both are READY).
        # Counted only once the previous decision's spot launches had their chance (no on-demand launched
        # one decision and released the next while the spot replacement provisions).
        missing = max(0, spot_wanted - len(spot))
        unplaced, self._unplaced = min(self._unplaced, missing), missing
        od_now = od_keep = od_base
        if policy.dynamic_ondemand_fallback:
            od_now = min(target, base + max(spot_target - len(ready), unplaced, 0))
            od_keep = min(target, base + max(spot_target - stable, unplaced, 0))
            if ready and self._recent(EXPOSED_WINDOW_SECONDS):
                crowded = max(Counter(r.location for r in ready).values())  # lost at once if that zone goes
                od_keep = max(od_keep, min(target, base + spot_target - (len(ready) - crowded)))
        od_wanted = max(od_now, min(len(ondemand), od_keep))
        if spot_wanted + od_wanted > self.max_alive:
            # The #3255 bound: spot keeps one slot to launch into while on-demand covers the rest.
            od_wanted = max(od_base, min(od_wanted, self.max_alive - len(ready) - 1))
            spot_wanted = min(spot_wanted, self.max_alive - od_wanted)
        spot_slots = [("target", spot_target), ("overprovision", spot_wanted - spot_target)]
        od_slots = [("base_ondemand", od_base), ("fallback", od_wanted - od_base)]
        return [*_reach(spot, spot_wanted, True, spot_slots, self._victim_key),
                *_reach(ondemand, od_wanted, False, od_slots, self._victim_key)]

    def _recent(self, window: float) -> bool:
        """At least TURBULENCE_PREEMPTIONS preemptions seen in the last `window` seconds."""
        return sum(self._now - t < window for t in self._preempted_at) >= TURBULENCE_PREEMPTIONS

    # -- persistence
    def dump(self) -> dict[str, Any]:
        return {**super().dump(), "extra": self._extra, "extra_low_since": self._extra_low_since,
                "stats": self.stats.dump(), "released": sorted(self._released),
                "preempted_at": list(self._preempted_at), "unplaced": self._unplaced,
                "tracked": [{"id": rid, "location": location_to_dict(loc), "spot": spot, "ready_seen": seen}
                            for rid, (loc, spot, seen) in sorted(self._tracked.items())]}

    def load(self, state: dict[str, Any]) -> None:
        """Restore a dump; a dump of another autoscaler type (no hedge keys) keeps the fresh defaults."""
        super().load(state)
        extra = state.get("extra")
        if isinstance(extra, int) and not isinstance(extra, bool) and extra >= 0:
            self._extra = max(extra, self._policy.num_overprovision)
        since = state.get("extra_low_since")
        self._extra_low_since = float(since) if isinstance(since, int | float) else None
        self.stats.load(state.get("stats"))
        self._released = {int(i) for i in state.get("released") or [] if isinstance(i, int)}
        unplaced = state.get("unplaced")
        self._unplaced = unplaced if isinstance(unplaced, int) and not isinstance(unplaced, bool) else 0
        self._preempted_at = [float(t) for t in state.get("preempted_at") or []
                              if isinstance(t, int | float) and not isinstance(t, bool)]
        self._tracked = {}
        for item in state.get("tracked") or []:
            try:
                self._tracked[int(item["id"])] = (location_from_dict(item["location"]), bool(item["spot"]),
                                                  bool(item["ready_seen"]))
            except (KeyError, TypeError, ValueError):
                continue
        at = state.get("last_decision_at")
        self._now = float(at) if isinstance(at, int | float) and not isinstance(at, bool) else self._now


class InstanceAwareHedgeAutoscaler(HedgeAutoscaler, InstanceAwareRequestRateAutoscaler):
    """Per-accelerator targets (`target_qps_per_replica` map) with skyctl's hedging."""

    kind = "instance_aware_skyctl"
