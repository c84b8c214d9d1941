"""SkyServe's autoscalers (brief §2.3) as pure decision logic: the controller calls `decide` once per
`decision_interval`, with the replicas it sees and the QPS the load balancer measured, and acts on the
ScaleUp / ScaleDown decisions. State (target, hysteresis counters) round-trips through `dump`/`load`, so
a controller restart keeps hysteresis. Rules, defaults and where we differ: docs/serve-autoscaling.md.

`qps` is requests per second averaged over the last `QPS_WINDOW_SECONDS` (the controller sums the load
balancer's per-second counts over that window and divides by it), exactly SkyServe's
`len(timestamps in the last 60 s) / 60`.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from skyctl.serve import rollout
from skyctl.serve.status import ALIVE, UNRECOVERABLE, ReplicaStatus
from skyctl.serve.types import Decision, ReplicaView, ScaleDown, ScaleUp
from skyctl.spec import ReplicaPolicy, ServiceSpec

QPS_WINDOW_SECONDS = 60.0
DECISION_INTERVAL_SECONDS = 20.0
ZERO_TARGET_DECISION_INTERVAL_SECONDS = 5.0
# Counters count *consecutive* decisions; after a gap of this many intervals (controller down) they restart.
STALE_AFTER_INTERVALS = 3
# Replicas that count as serving capacity for the instance-aware target (SkyServe's set plus PENDING,
# which is only a launch queued a moment before PROVISIONING).
_CAPACITY = frozenset({ReplicaStatus.PENDING, ReplicaStatus.PROVISIONING, ReplicaStatus.STARTING,
                       ReplicaStatus.READY})


class RequestRateAutoscaler:
    """target = clip(ceil(qps / target_qps_per_replica), min, max) with hysteresis; launches or removes
    latest-version replicas (spot as the spec says) to reach `final_target = target + num_overprovision`."""

    kind = "request_rate"

    def __init__(self, spec: ServiceSpec, interval: float = DECISION_INTERVAL_SECONDS) -> None:
        """`interval`: seconds between decisions (SkyServe's 20 s; tests and short-lived demos pass less);
        the up/down delays are counted in decisions of this length."""
        self._policy = spec.service.replica_policy
        self._interval = interval
        self._target = self._policy.min_replicas
        self._up = self._down = 0
        self._ever_ready = 0  # highest version ever seen READY (versions start at 1)
        self._last_qps = 0.0
        self._last_at: float | None = None

    # -- what `serve status` shows
    @property
    def target(self) -> int:
        return self._target

    @property
    def final_target(self) -> int:
        return self._target + self._policy.num_overprovision

    @property
    def max_alive(self) -> int:
        """The most alive latest-version replicas ever asked for (the #3255 bound)."""
        return self._policy.effective_max_replicas + self._policy.num_overprovision

    def decision_interval(self, replicas: list[ReplicaView] | None = None) -> float:
        """20 s, or 5 s while the final target is 0 so a scaled-to-zero service wakes fast. SkyServe's
        rule depends on the target only; `replicas` is accepted so every autoscaler shares one call."""
        if self.final_target == 0:
            return self._interval * ZERO_TARGET_DECISION_INTERVAL_SECONDS / DECISION_INTERVAL_SECONDS
        return self._interval

    # -- the decision
    def decide(self, now: float, replicas: list[ReplicaView], qps: float, *, latest_version: int,
               active_versions: list[int], update_mode: str) -> list[Decision]:
        latest = [r for r in replicas if r.version == latest_version]
        if any(r.status in (ReplicaStatus.READY, ReplicaStatus.NOT_READY) or r.ready_at is not None
               for r in latest):
            self._ever_ready = max(self._ever_ready, latest_version)
        if self._ever_ready < latest_version and any(r.status in UNRECOVERABLE for r in latest):
            return []  # fail-fast: the app itself fails; relaunching would loop forever
        if self._last_at is not None and now - self._last_at > STALE_AFTER_INTERVALS * self._interval:
            self._up = self._down = 0
        self._last_at, self._last_qps = now, max(0.0, qps)
        alive = [r for r in latest if r.status in ALIVE]
        self._step(self._candidate(self._last_qps, alive))
        downs = rollout.outdated_to_scale_down(replicas, latest_version=latest_version,
                                               final_target=self.final_target,
                                               active_versions=active_versions, update_mode=update_mode)
        return [*self._latest_decisions(alive), *(ScaleDown(i, "outdated version") for i in downs)]

    def _candidate(self, qps: float, alive: list[ReplicaView]) -> int:
        per_replica = self._policy.target_qps_per_replica
        if per_replica is None:
            return self._policy.min_replicas
        return self._clip(math.ceil(qps / float(per_replica)))  # type: ignore[arg-type]

    def _step(self, candidate: int) -> None:
        """SkyServe's hysteresis: move only after `threshold` consecutive decisions agree, except from 0."""
        if self._target == 0:
            self._target, self._up, self._down = candidate, 0, 0
        elif candidate > self._target:
            self._up, self._down = self._up + 1, 0
            if self._up >= self._up_threshold:
                self._target, self._up = candidate, 0
        elif candidate < self._target:
            self._up, self._down = 0, self._down + 1
            if self._down >= self._down_threshold:
                self._target, self._down = candidate, 0
        else:
            self._up = self._down = 0

    @property
    def _up_threshold(self) -> int:
        return int(self._policy.upscale_delay_seconds / self._interval)

    @property
    def _down_threshold(self) -> int:
        return int(self._policy.downscale_delay_seconds / self._interval)

    def _clip(self, n: int) -> int:
        return max(self._policy.min_replicas, min(self._policy.effective_max_replicas, n))

    def _latest_decisions(self, alive: list[ReplicaView]) -> list[Decision]:
        return _reach(alive, self.final_target, None, [("target", self._target),
                                                       ("overprovision", self._policy.num_overprovision)],
                      self._victim_key)

    def _victim_key(self, r: ReplicaView) -> tuple:
        return rollout.victim_key(r)

    # -- persistence and `serve update`
    def dump(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self._target, "upscale_counter": self._up,
                "downscale_counter": self._down, "latest_version_ever_ready": self._ever_ready,
                "last_qps": self._last_qps, "last_decision_at": self._last_at}

    def load(self, state: dict[str, Any]) -> None:
        """Restore what `dump` wrote (by this or another autoscaler type); unusable values are skipped
        rather than trusted, and the target is re-clipped to this spec's bounds."""
        def number(key: str, default: float) -> float:
            value = state.get(key)
            ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            return value if ok and value >= 0 else default  # type: ignore[return-value]

        self._target = self._clip(int(number("target", self._target)))
        self._up = int(number("upscale_counter", 0))
        self._down = int(number("downscale_counter", 0))
        self._ever_ready = int(number("latest_version_ever_ready", 0))
        self._last_qps = float(number("last_qps", 0.0))
        at = state.get("last_decision_at")
        self._last_at = float(at) if isinstance(at, int | float) and not isinstance(at, bool) else None

    def update_spec(self, spec: ServiceSpec) -> RequestRateAutoscaler:
        """`serve update`: the autoscaler for the new spec (this one, or one of another type when the spec
        asks for it), with the dynamic state carried over. As SkyServe, the target jumps straight to the
        new spec's value for the last QPS (no hysteresis after an update) and the counters restart."""
        state = self.dump()
        nxt = make_autoscaler(spec, self._interval)
        nxt.load(state)
        nxt._target = nxt._fresh_target()
        nxt._up = nxt._down = 0
        return nxt

    def _fresh_target(self) -> int:
        return self._candidate(self._last_qps, [])


class InstanceAwareRequestRateAutoscaler(RequestRateAutoscaler):
    """`target_qps_per_replica` per accelerator: the candidate counts what each replica can serve."""

    kind = "instance_aware"

    def _qps_of(self, r: ReplicaView) -> float:
        """The replica's target QPS; a replica whose accelerator is not in the map (or not yet known)
        gets the smallest target, SkyServe's conservative fallback."""
        per = self._policy.target_qps_per_replica
        found = self._policy.target_qps_for(r.accelerator, r.accelerator_count)
        return float(found if found is not None else min(per.values()))  # type: ignore[union-attr]

    def _candidate(self, qps: float, alive: list[ReplicaView]) -> int:
        """Upscale: alive + ceil(excess / best per-replica QPS). Downscale: how many of the READY replicas,
        biggest first, it takes for their capacity to exceed the QPS. No capacity and no traffic: min."""
        best = max(self._policy.target_qps_per_replica.values())  # type: ignore[union-attr]
        capacity = sum(self._qps_of(r) for r in alive if r.status in _CAPACITY)
        if capacity == 0 and qps == 0:
            return self._policy.min_replicas
        if qps >= capacity:
            return self._clip(len(alive) + math.ceil((qps - capacity) / best))
        ready = sorted((self._qps_of(r) for r in alive if r.status == ReplicaStatus.READY), reverse=True)
        count, total = 0, 0.0
        for each in ready or [best]:
            count, total = count + 1, total + each
            if total > qps:
                break
        return self._clip(count)

    def _fresh_target(self) -> int:
        best = max(self._policy.target_qps_per_replica.values())  # type: ignore[union-attr]
        return self._clip(math.ceil(self._last_qps / best))

    def _victim_key(self, r: ReplicaView) -> tuple:
        """Lowest-capacity accelerators go first within a status (SkyServe's instance-aware order)."""
        status, version, rid = rollout.victim_key(r)
        return (status, self._qps_of(r), version, rid)


class FallbackRequestRateAutoscaler(RequestRateAutoscaler):
    """Spot replicas with on-demand fallback: `final_target - base` spot, and `base` + (dynamic: spot
    missing from READY) on-demand, capped at `target` (overprovisioned spot is never backed by on-demand).
    Never more than `max_replicas + num_overprovision` alive latest replicas (fixes SkyServe #3255)."""

    kind = "fallback"

    def _latest_decisions(self, alive: list[ReplicaView]) -> list[Decision]:
        policy, target = self._policy, self._target
        base = policy.base_ondemand_fallback_replicas
        spot = [r for r in alive if r.spot]
        ondemand = [r for r in alive if not r.spot]
        ready_spot = sum(r.status == ReplicaStatus.READY for r in spot)
        spot_wanted = max(0, self.final_target - base)
        od_wanted = min(target, base + (max(0, spot_wanted - ready_spot) if policy.dynamic_ondemand_fallback
                                        else 0))
        if spot_wanted + od_wanted > self.max_alive:
            # At the bound (fixes #3255): on-demand fills what SkyServe would launch but leaves one slot to
            # keep launching spot into while spot is missing; as spot becomes READY the on-demand shrinks,
            # so the service converges back to spot instead of holding on-demand forever.
            room_for_od = self.max_alive - ready_spot - 1
            od_wanted = max(min(base, target), min(od_wanted, room_for_od))
            spot_wanted = min(spot_wanted, self.max_alive - od_wanted)
        spot_target, od_base = max(0, target - base), min(base, target)
        spot_slots = [("target", spot_target), ("overprovision", spot_wanted - spot_target)]
        od_slots = [("base_ondemand", od_base), ("fallback", od_wanted - od_base)]
        return [*_reach(spot, spot_wanted, True, spot_slots, self._victim_key),
                *_reach(ondemand, od_wanted, False, od_slots, self._victim_key)]


class InstanceAwareFallbackAutoscaler(FallbackRequestRateAutoscaler, InstanceAwareRequestRateAutoscaler):
    """Per-accelerator targets with on-demand fallback (SkyServe picks the fallback autoscaler, whose
    QPS rule then rejects a map: the combination fails there; here the two rules compose)."""

    kind = "instance_aware_fallback"


def make_autoscaler(spec: ServiceSpec, interval: float = DECISION_INTERVAL_SECONDS) -> RequestRateAutoscaler:
    """The autoscaler the spec implies; `spot_placer: skyctl` gets skyctl's hedging autoscaler
    (skyctl/serve/hedge_autoscaler.py), with or without on-demand fallback."""
    policy: ReplicaPolicy = spec.service.replica_policy
    if policy.spot_placer == "skyctl":
        from skyctl.serve import hedge_autoscaler as hedge  # it subclasses the classes above

        return (hedge.InstanceAwareHedgeAutoscaler if policy.instance_aware else hedge.HedgeAutoscaler)(
            spec, interval)
    if policy.use_ondemand_fallback:
        cls = InstanceAwareFallbackAutoscaler if policy.instance_aware else FallbackRequestRateAutoscaler
    else:
        cls = InstanceAwareRequestRateAutoscaler if policy.instance_aware else RequestRateAutoscaler
    return cls(spec, interval)


# The interface the controller uses (decide, decision_interval, dump/load, update_spec, target, final_target).
Autoscaler = RequestRateAutoscaler


def _reach(alive: list[ReplicaView], wanted: int, spot: bool | None, slots: list[tuple[str, int]],
           key: Any) -> list[Decision]:
    """Launch or remove replicas of one kind to have `wanted` alive. Each launch is labelled with the
    first purpose (`slots`: `[(purpose, how many replicas should have it)]`) that alive replicas do not
    yet fill, so the cost report can split target, over-provision, base and fallback spend."""
    if len(alive) > wanted:
        return [ScaleDown(i, "scale down") for i in rollout.pick_victims(len(alive) - wanted, alive, key)]
    have = Counter(r.purpose for r in alive)
    n = wanted - len(alive)
    purposes = [p for purpose, count in slots for p in [purpose] * max(0, count - have[purpose])]
    return [ScaleUp(spot=spot, purpose=p) for p in (purposes + [slots[-1][0]] * n)[:n]]
