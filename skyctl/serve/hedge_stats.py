"""Per-location statistics for skyctl's spot hedging, decayed over time and pooled up the failure-domain
tree zone < region < cloud < all.

Every statistic is a ratio of two exponentially decayed sums (numerator, denominator), kept at each node
of the tree: preemptions / spot replica-hours, successful launches / launch attempts, seconds to READY /
READY replicas. Evidence halves every `*_HALF_LIFE_SECONDS`, so a zone that was bad an afternoon ago is
judged mostly on what it did since. An estimate at a node shrinks towards its parent's estimate:

    estimate(node) = (num(node) + w * estimate(parent)) / (den(node) + w)

with `w` the prior weight (in denominator units) and the root's parent a fixed prior. Evidence counts fully
at its location and by a factor `POOLING` less at each level above. An unseen zone so inherits its
region's estimate, and a preemption in one zone also raises its region's rate a little, and through it
every sibling zone's (preemptions correlate within a region). Reads never change the state;
only events do, so the same events at the same clock values give the same numbers, and `dump`/`load`
(plain JSON) carries them across a controller restart. Details and tuning: docs/serve-spot-hedging.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from providers.base import Location

# Half-lives: preemption evidence is about the cloud's capacity pool (hours); a capacity error is about
# the next minutes; time to READY depends on the image and the machine, which change slowly.
PREEMPTION_HALF_LIFE_SECONDS = 6 * 3600.0
LAUNCH_HALF_LIFE_SECONDS = 3600.0
READY_HALF_LIFE_SECONDS = 24 * 3600.0

# Priors: what an unseen location is assumed to do, and how much evidence (in the statistic's own
# denominator unit) it takes to outweigh the parent's estimate.
PRIOR_PREEMPTIONS_PER_HOUR = 0.1
PRIOR_EXPOSURE_HOURS = 2.0
PRIOR_LAUNCH_SUCCESS = 0.9
PRIOR_LAUNCH_ATTEMPTS = 2.0
PRIOR_SECONDS_TO_READY = 300.0
PRIOR_READY_COUNT = 1.0

# Each level up the tree gets this share of a location's evidence (both numerator and denominator): a
# region learns from its zones, but less surely than they do, so a preemption in one zone raises its
# siblings' rates only a little (about a third of its own rise, with the priors above).
POOLING = 0.25

ROOT = "*"


@dataclass
class Decayed:
    """A sum that halves every `half_life` seconds; `at` is the time `value` is valid for."""

    value: float = 0.0
    at: float = 0.0

    def get(self, now: float, half_life: float) -> float:
        return self.value * 0.5 ** (max(0.0, now - self.at) / half_life)

    def add(self, amount: float, now: float, half_life: float) -> None:
        """Add at `now`; an event older than `at` (clock skew) is decayed to `at` instead of back-dating."""
        if now >= self.at:
            self.value, self.at = self.get(now, half_life) + amount, now
        else:
            self.value += amount * 0.5 ** ((self.at - now) / half_life)


STATS = ("preempt", "launch", "ready")


def _half_life(stat: str) -> float:
    """Read at call time, so the constants can be tuned (or patched) without rebuilding state."""
    return {"preempt": PREEMPTION_HALF_LIFE_SECONDS, "launch": LAUNCH_HALF_LIFE_SECONDS,
            "ready": READY_HALF_LIFE_SECONDS}[stat]


def _prior(stat: str) -> tuple[float, float]:
    """(value at the root's parent, weight in the statistic's denominator unit)."""
    return {"preempt": (PRIOR_PREEMPTIONS_PER_HOUR, PRIOR_EXPOSURE_HOURS),
            "launch": (PRIOR_LAUNCH_SUCCESS, PRIOR_LAUNCH_ATTEMPTS),
            "ready": (PRIOR_SECONDS_TO_READY, PRIOR_READY_COUNT)}[stat]


@dataclass
class _Node:
    sums: dict[str, list[Decayed]] = field(default_factory=lambda: {k: [Decayed(), Decayed()] for k in STATS})


def node_keys(loc: Location) -> list[str]:
    """Keys from the leaf up: `cloud/region/zone`, `cloud/region`, `cloud`, `*` (no zone: the region is
    the leaf)."""
    keys = [loc.cloud, f"{loc.cloud}/{loc.region}"]
    if loc.zone:
        keys.append(f"{loc.cloud}/{loc.region}/{loc.zone}")
    return [*reversed(keys), ROOT]


class LocationStats:
    """The tree of decayed sums, plus how many live spot replicas each leaf hosts (for exposure)."""

    def __init__(self) -> None:
        self._nodes: dict[str, _Node] = {}
        self._live: dict[str, int] = {}  # leaf key -> live spot replicas
        self._live_since: float | None = None

    # -- events
    def record_launch(self, loc: Location, *, ok: bool, now: float) -> None:
        self._add(loc, "launch", 1.0 if ok else 0.0, 1.0, now)

    def record_preemption(self, loc: Location, now: float) -> None:
        self._add(loc, "preempt", 1.0, 0.0, now)

    def record_ready(self, loc: Location, seconds: float, now: float) -> None:
        self._add(loc, "ready", max(0.0, seconds), 1.0, now)

    def set_live(self, live: Mapping[Location, int], now: float) -> None:
        """Spot replicas now running per location; the replica-hours since the last call are credited to
        the counts that held until now (exact decayed integral, so the split of calls does not matter)."""
        self._accrue(now)
        self._live = {}
        for loc, n in live.items():
            if n > 0:
                leaf = node_keys(loc)[0]
                self._live[leaf] = self._live.get(leaf, 0) + int(n)

    def add_live(self, loc: Location, delta: int, now: float) -> None:
        self._accrue(now)
        leaf = node_keys(loc)[0]
        n = max(0, self._live.get(leaf, 0) + delta)
        if n:
            self._live[leaf] = n
        else:
            self._live.pop(leaf, None)

    # -- estimates (pure reads)
    def preemption_rate(self, loc: Location | None, now: float) -> float:
        """Expected preemptions per spot replica-hour here (None: the whole service)."""
        return self._estimate(loc, "preempt", now)

    def launch_success(self, loc: Location | None, now: float) -> float:
        """Probability that a spot launch here succeeds (capacity errors are the failures)."""
        return self._estimate(loc, "launch", now)

    def seconds_to_ready(self, loc: Location | None, now: float) -> float:
        """Expected seconds from launch to READY here."""
        return self._estimate(loc, "ready", now)

    def counts(self, loc: Location, now: float) -> dict[str, tuple[float, float]]:
        """The leaf's own decayed (numerator, denominator) per statistic, for logs and tests."""
        node = self._nodes.get(node_keys(loc)[0])
        return {k: self._pair(node, k, now) for k in STATS}

    # -- persistence
    def dump(self) -> dict[str, Any]:
        return {"nodes": {key: {k: [[d.value, d.at] for d in pair] for k, pair in node.sums.items()}
                          for key, node in sorted(self._nodes.items())},
                "live": dict(sorted(self._live.items())), "live_since": self._live_since}

    def load(self, state: Any) -> None:
        """Restore a dump; malformed parts are dropped (they only cost the evidence they held)."""
        self._nodes, self._live, self._live_since = {}, {}, None
        if not isinstance(state, dict):
            return
        for key, sums in (state.get("nodes") or {}).items():
            try:
                node = _Node({k: [Decayed(float(v), float(at)) for v, at in sums[k]] for k in STATS})
            except (KeyError, TypeError, ValueError):
                continue
            if all(len(pair) == 2 and all(math.isfinite(d.value) and math.isfinite(d.at) for d in pair)
                   for pair in node.sums.values()):
                self._nodes[str(key)] = node
        live = state.get("live")
        if isinstance(live, dict):
            self._live = {str(k): int(v) for k, v in live.items() if isinstance(v, int) and v > 0}
        since = state.get("live_since")
        self._live_since = float(since) if isinstance(since, int | float) else None

    # -- internals
    def _add(self, loc: Location, stat: str, num: float, den: float, now: float) -> None:
        half_life = _half_life(stat)
        for level, key in enumerate(node_keys(loc)):
            pair = self._nodes.setdefault(key, _Node()).sums[stat]
            pair[0].add(num * POOLING ** level, now, half_life)
            pair[1].add(den * POOLING ** level, now, half_life)

    def _accrue(self, now: float) -> None:
        """Add the decayed integral of live replica-hours over [live_since, now] to every node above."""
        if self._live_since is not None and now > self._live_since and self._live:
            half_life = _half_life("preempt")
            dt = now - self._live_since
            # integral over the interval of 2^-(now - s)/H ds, in hours
            hours = half_life * (1 - 0.5 ** (dt / half_life)) / math.log(2) / 3600.0
            for leaf, n in self._live.items():
                for level, key in enumerate(_ancestors(leaf)):
                    self._nodes.setdefault(key, _Node()).sums["preempt"][1].add(
                        n * hours * POOLING ** level, now, half_life)
        if self._live_since is None or now > self._live_since:
            self._live_since = now

    def _pair(self, node: _Node | None, stat: str, now: float) -> tuple[float, float]:
        if node is None:
            return 0.0, 0.0
        half_life = _half_life(stat)
        num, den = node.sums[stat]
        return num.get(now, half_life), den.get(now, half_life)

    def _estimate(self, loc: Location | None, stat: str, now: float) -> float:
        value, weight = _prior(stat)
        for key in reversed(node_keys(loc) if loc is not None else [ROOT]):
            num, den = self._pair(self._nodes.get(key), stat, now)
            value = (num + weight * value) / (den + weight)
        return value


def _ancestors(leaf: str) -> list[str]:
    parts = leaf.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)] + [ROOT]
