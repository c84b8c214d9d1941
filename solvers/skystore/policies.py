"""Placement policies: each answers the simulator's few questions (place on a miss? keep on a hit?
which TTL? where do writes go?) and keeps whatever state it learns from.

The simulator owns replicas and costs; a policy only decides, so one hot loop serves them all.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from solvers.skystore.costmodel import HOUR_S, INF, Prices
from solvers.skystore.tevict import TEvictLearner


class Policy:
    """Defaults: replicate on read, write locally, TTL from `ttl()`."""

    name = "policy"
    const_ttl: float | None = None  # one TTL for every replica: skips per-source sizing
    observes = False  # wants observe_read() on every GET
    needs_alt = False  # wants keep_on_hit() with the cheapest other source
    tracks_cache = False  # LRU bookkeeping hooks

    def __init__(self, prices: Prices, time_scale: float) -> None:
        self.p, self.ts = prices, time_scale

    def place(self, i: int, o: int, r: int, now: float, src: int) -> bool:
        return True

    def keep_on_hit(self, i: int, o: int, r: int, now: float, alt: int) -> bool:
        return True

    def ttl(self, src: int, dst: int, now: float, o: int) -> float:
        return INF if self.const_ttl is None else self.const_ttl

    def write_targets(self, w: int) -> list[int]:
        return [w]

    def write_ttl(self, i: int, o: int, w: int, now: float) -> float:
        """TTL of a writer's copy when there is no base region (no other copy to size against)."""
        return self.ttl(-1, w, now, o)

    def observe_read(self, o: int, r: int, size: int, now: float) -> None:
        """Learn from a GET (histograms, EWMA)."""


class AlwaysStore(Policy):
    name, const_ttl = "always-store", INF


class AlwaysEvict(Policy):
    name, const_ttl = "always-evict", 0.0

    def place(self, i, o, r, now, src):
        return False


class ReplicateAll(Policy):
    """Every write is pushed to every configured region (the multi-region-bucket stand-in)."""

    name, const_ttl = "replicate-all", INF

    def place(self, i, o, r, now, src):
        return False

    def write_targets(self, w):
        return [w, *(x for x in range(self.p.n) if x != w)]


class SingleRegion(Policy):
    """Every write goes to one storage region; reads are served from there."""

    name, const_ttl = "single-region", INF

    def __init__(self, prices: Prices, time_scale: float, region: int = 0) -> None:
        super().__init__(prices, time_scale)
        self.region = region

    def place(self, i, o, r, now, src):
        return False

    def write_targets(self, w):
        return [self.region]


class TEven(Policy):
    """TTL = break-even time of the source pair, refreshed on every hit: 2-competitive."""

    name = "t-even"

    def ttl(self, src, dst, now, o):
        return self.p.t_even(src, dst, self.ts)


class FixedTTL(Policy):
    def __init__(self, prices: Prices, time_scale: float, hours: float) -> None:
        super().__init__(prices, time_scale)
        self.const_ttl = hours * HOUR_S
        self.name = f"fixed-ttl-{hours:g}h"


class LRU(Policy):
    """Replicate on read into a per-region cache of `capacity` bytes, least recently used out."""

    name, const_ttl, tracks_cache = "lru", INF, True

    def __init__(self, prices: Prices, time_scale: float, capacity: float) -> None:
        super().__init__(prices, time_scale)
        self.capacity = capacity
        self.lists: list[OrderedDict[int, int]] = [OrderedDict() for _ in range(prices.n)]
        self.used = [0] * prices.n

    def touched(self, o: int, r: int) -> None:
        lst = self.lists[r]
        if o in lst:
            lst.move_to_end(o)

    def placed(self, o: int, r: int, size: int) -> list[int]:
        """Admit `o` into region r; returns the objects evicted to make room."""
        lst = self.lists[r]
        lst[o] = size
        self.used[r] += size
        victims = []
        while self.used[r] > self.capacity and len(lst) > 1:
            vo, vs = lst.popitem(last=False)
            self.used[r] -= vs
            victims.append(vo)
        return victims

    def dropped(self, o: int, r: int) -> None:
        size = self.lists[r].pop(o, None)
        if size is not None:
            self.used[r] -= size


class EWMA(Policy):
    """Store on a miss iff k x EWMA(gap) <= T_even for this (region, object); TTL = min(k x EWMA, T_even)."""

    name, observes = "ewma", True

    def __init__(self, prices: Prices, time_scale: float, alpha: float = 0.5, k: float = 30.0) -> None:
        super().__init__(prices, time_scale)
        self.alpha, self.k = alpha, k
        self.last: list[dict[int, float]] = [{} for _ in range(prices.n)]
        self.avg: list[dict[int, float]] = [{} for _ in range(prices.n)]

    def observe_read(self, o, r, size, now):
        prev = self.last[r].get(o)
        self.last[r][o] = now
        if prev is not None:
            old = self.avg[r].get(o)
            gap = now - prev
            self.avg[r][o] = gap if old is None else self.alpha * gap + (1 - self.alpha) * old

    def place(self, i, o, r, now, src):
        avg = self.avg[r].get(o)
        return avg is not None and self.k * avg <= self.p.t_even(src, r, self.ts)

    def ttl(self, src, dst, now, o):
        te = self.p.t_even(src, dst, self.ts)
        avg = self.avg[dst].get(o)
        return te if avg is None else min(self.k * avg, te)


class TEvict(Policy):
    """SkyStore: one TTL per (source, destination) pair from the destination's gap histogram."""

    name, observes = "t-evict", True

    def __init__(self, prices: Prices, time_scale: float, half_life_h: float | None = None,
                 min_reads: int = 1000, recompute_h: float = 12.0) -> None:
        super().__init__(prices, time_scale)
        half_life_s = None if half_life_h is None else half_life_h * HOUR_S
        self.learner = TEvictLearner(prices, time_scale, min_reads=min_reads,
                                     recompute_s=recompute_h * HOUR_S, half_life_s=half_life_s)
        if half_life_h is not None:
            self.name = "t-evict-decay"

    def observe_read(self, o, r, size, now):
        self.learner.observe(o, r, size, now)

    def ttl(self, src, dst, now, o):
        return self.learner.ttl(src, dst, now)


class Clairvoyant(Policy):
    """The per-(object, region) ski-rental oracle: keep iff the next read here comes within T_even."""

    name, const_ttl, needs_alt = "clairvoyant", INF, True

    def __init__(self, prices: Prices, time_scale: float, next_read: np.ndarray) -> None:
        super().__init__(prices, time_scale)
        self.next = next_read.tolist()

    def place(self, i, o, r, now, src):
        return self.next[i] - now <= self.p.t_even(src, r, self.ts)

    def keep_on_hit(self, i, o, r, now, alt):
        return alt < 0 or self.next[i] - now <= self.p.t_even(alt, r, self.ts)

    def write_ttl(self, i, o, w, now):
        return INF if self.next[i] < INF else 0.0
