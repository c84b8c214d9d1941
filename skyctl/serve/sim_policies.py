"""The policies `skyctl serve simulate` compares, each a service spec run by the real controller.

- `ondemand`: `target` on-demand replicas (the cost baseline).
- `even_spread`, `round_robin`: the SpotHedge artifact's naive baselines (brief §3.2): `target + 1` spot
  replicas (the same over-provision as SpotHedge), no on-demand fallback, placed by the two placers below.
  Even Spread keeps the fleet evenly spread: a new replica goes to the zone with the fewest live spot
  replicas and only there (a full zone fails the launch; the autoscaler asks again next decision), so it
  waits for capacity where it lost it. Round Robin walks the zones in a fixed cycle, each launch starting
  after the zone the previous one took and falling through to the next on a capacity error.
- `spothedge`: SpotHedge as the paper evaluates it (`spot_placer: dynamic_fallback`,
  `dynamic_ondemand_fallback: true`, `num_overprovision: 1`), with the paper simulator's reset rule
  (`placers.paper_min_active`).
- `skyserve`: the same spec with upstream SkyServe's placer exactly (reset below 2 ACTIVE zones), which is
  what `spot_placer: dynamic_fallback` runs in the controller. Not part of `all`: with 3 zones it differs
  from `spothedge` (it cannot stack replicas into the one zone with capacity), from 4 zones on it is the same.
- `skyctl`: skyctl's hedging (`spot_placer: skyctl`, with dynamic on-demand fallback and no fixed extra:
  the hedge autoscaler sizes it, 0 or 1 for a target of 3).
- `optimal`: not a controller policy: the omniscient ILP of `solvers/spot/optimal.py`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from providers.base import Location
from skyctl.serve.placers import CheapestPlacer, DynamicFallbackPlacer, make_placer, paper_min_active
from skyctl.serve.plan import LaunchPlan
from skyctl.serve.types import Candidate, Placer
from skyctl.spec import ServiceSpec, parse_service_spec

CONTROLLER_POLICIES = ("ondemand", "even_spread", "round_robin", "spothedge", "skyserve", "skyctl")
POLICIES = (*CONTROLLER_POLICIES, "optimal")
ALL_POLICIES = tuple(p for p in POLICIES if p != "skyserve")  # what `--policy all` runs


def policy_spec(policy: str, target: int) -> ServiceSpec:
    """The service spec that makes the controller run `policy` with `target` replicas. It names no cloud:
    the simulator's plan enables only the simulated one."""
    # A simulation has no traffic, so the QPS rule keeps the target at min_replicas. max_replicas then only
    # bounds the alive replicas (skyctl's fix of SkyServe #3255): 2 x target leaves room for target + extra
    # spot replicas *and* target on-demand ones, which SpotHedge's rules launch while spot is not READY.
    fixed: dict[str, Any] = {"min_replicas": target, "max_replicas": 2 * target, "target_qps_per_replica": 1}
    rp: dict[str, Any] = {
        "ondemand": {},
        "even_spread": {"num_overprovision": 1},
        "round_robin": {"num_overprovision": 1},
        "spothedge": {"num_overprovision": 1, "dynamic_ondemand_fallback": True,
                      "spot_placer": "dynamic_fallback"},
        "skyserve": {"num_overprovision": 1, "dynamic_ondemand_fallback": True,
                     "spot_placer": "dynamic_fallback"},
        "skyctl": {"dynamic_ondemand_fallback": True, "spot_placer": "skyctl"},
    }[policy]
    return parse_service_spec({
        "name": f"sim-{policy}",
        "service": {"readiness_probe": {"path": "/"}, "replica_policy": {**fixed, **rp}},
        "resources": {"use_spot": policy != "ondemand", "ports": 8080},
        "run": "true"})


def placer_factory(policy: str) -> Callable[[ServiceSpec, LaunchPlan], Placer]:
    """The spec's own placer, except for the two baselines, which SkyServe's spec cannot name."""
    return {"even_spread": EvenSpreadPlacer, "round_robin": RoundRobinPlacer,
            "spothedge": _paper_spothedge}.get(policy, make_placer)  # type: ignore[return-value]


def _paper_spothedge(spec: ServiceSpec, plan: LaunchPlan) -> DynamicFallbackPlacer:
    """`dynamic_fallback` with the paper simulator's reset rule (`skyserve` keeps upstream's)."""
    return DynamicFallbackPlacer(plan, seed=spec.name, min_active=paper_min_active(len(plan.ranked(True))))


class _SpotBaseline:
    """Shared plumbing: on-demand (unused by the baselines) goes to the cheapest location; no learning."""

    kind = "baseline"

    def __init__(self, spec: ServiceSpec, plan: LaunchPlan) -> None:
        self.zones = plan.ranked(spot=True)
        self.ondemand = CheapestPlacer(plan)

    def on_launched(self, location: Location, *, spot: bool, now: float) -> None:
        """Ignored: the baselines do not learn."""

    def on_capacity_error(self, location: Location, *, spot: bool, now: float) -> None:
        """Ignored: the baselines do not learn."""

    def on_preempted(self, location: Location, *, now: float) -> None:
        """Ignored: the baselines do not learn."""

    def on_ready(self, location: Location, *, spot: bool, seconds_to_ready: float, now: float) -> None:
        """Ignored: the baselines do not learn."""

    def dump(self) -> dict[str, Any]:
        return {"kind": self.kind}

    def load(self, state: dict[str, Any]) -> None:
        """Stateless, or (round robin) state restored by the subclass."""


class EvenSpreadPlacer(_SpotBaseline):
    kind = "even_spread"

    def choose(self, *, spot: bool, live_spot: list[Location], now: float) -> list[Candidate]:
        if not spot:
            return self.ondemand.choose(spot=False, live_spot=live_spot, now=now)
        count = Counter(live_spot)
        order = {id(c): i for i, c in enumerate(self.zones)}
        best = min(self.zones, key=lambda c: (count[c.location], order[id(c)]), default=None)
        return [best] if best is not None else []


class RoundRobinPlacer(_SpotBaseline):
    kind = "round_robin"

    def __init__(self, spec: ServiceSpec, plan: LaunchPlan) -> None:
        super().__init__(spec, plan)
        self.next = 0  # index of the zone the next launch starts at

    def choose(self, *, spot: bool, live_spot: list[Location], now: float) -> list[Candidate]:
        if not spot:
            return self.ondemand.choose(spot=False, live_spot=live_spot, now=now)
        n = len(self.zones)
        return [self.zones[(self.next + i) % n] for i in range(n)]

    def on_launched(self, location: Location, *, spot: bool, now: float) -> None:
        if spot:
            at = next((i for i, c in enumerate(self.zones) if c.location == location), -1)
            self.next = (at + 1) % max(1, len(self.zones))

    def dump(self) -> dict[str, Any]:
        return {"kind": self.kind, "next": self.next}

    def load(self, state: dict[str, Any]) -> None:
        if isinstance(state, dict) and isinstance(state.get("next"), int) and self.zones:
            self.next = state["next"] % len(self.zones)
