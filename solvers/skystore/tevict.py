"""SkyStore's T_evict: a per (source, destination) TTL learned from a size-weighted histogram of
re-access gaps at the destination, plus a decayed-window variant that forgets old behaviour.

The cost of a candidate TTL of c hours, for gap histogram X (GB per hour bucket b = ceil(gap_h)),
L (GB of distinct objects, each paying c hours after its last access), storage s $/GB-h, egress N:
    cost(c) = sum_{b<=c} X_b (b - 0.4) s  +  sum_{b>c} X_b (c s + N)  +  L c s
A hit is charged the bucket's mid-point estimate (b - 1 + 0.6 h); a miss c hours then a re-fetch.
Candidates run from 0 to min(largest bucket, ceil(T_even_h) - 1); ties go to the larger TTL.
"""

from __future__ import annotations

import math

import numpy as np

from solvers.skystore.costmodel import HOUR_S, INF, MONTH_S, Prices


def ttl_costs(hist: np.ndarray, last_gb: float, egress: float, s_gb_h: float, max_c: int) -> np.ndarray:
    """cost(c) for c = 0..max_c; `hist[b]` is GB with gap bucket b (hist[0] unused)."""
    hist = np.asarray(hist, dtype=np.float64)
    b = np.arange(len(hist), dtype=np.float64)
    hit = np.concatenate(([0.0], np.cumsum(hist[1:] * (b[1:] - 0.4) * s_gb_h)))
    total = hist[1:].sum()
    seen = np.concatenate(([0.0], np.cumsum(hist[1:])))
    c = np.arange(max_c + 1)
    hit_c = hit[np.minimum(c, len(hist) - 1)]
    seen_c = seen[np.minimum(c, len(hist) - 1)]
    return hit_c + (total - seen_c) * (c * s_gb_h + egress) + last_gb * c * s_gb_h


def choose_ttl_hours(hist, last_gb: float, egress: float, s_gb_h: float, t_even_h: float) -> int | None:
    """The cheapest TTL in whole hours, or None when there is no history to learn from."""
    hist = np.asarray(hist, dtype=np.float64)
    nz = np.flatnonzero(hist[1:] > 0)
    if len(nz) == 0:
        return None
    max_bucket = int(nz[-1]) + 1
    cap = max_bucket if math.isinf(t_even_h) else min(max_bucket, math.ceil(t_even_h) - 1)
    if cap < 0:
        return 0
    costs = ttl_costs(hist, last_gb, egress, s_gb_h, cap)
    return cap - int(np.argmin(costs[::-1]))  # reversed argmin: ties go to the larger TTL


class TEvictLearner:
    """The per-destination histograms and the cached (src, dst) TTL table.

    `half_life_s=None` is SkyStore's cumulative histogram; a finite half-life decays the histogram
    and the distinct-object term at every recomputation, so a shifting workload is followed.
    """

    def __init__(self, prices: Prices, time_scale: float, *, min_reads: int = 1000,
                 recompute_s: float = 12 * HOUR_S, half_life_s: float | None = None) -> None:
        self.p, self.ts = prices, time_scale
        self.min_reads, self.recompute_s, self.half_life_s = min_reads, recompute_s, half_life_s
        n = prices.n
        finite = [prices.t_even(s, d, time_scale) for d in range(n) for s in [-1, *range(n)] if s != d]
        finite = [x for x in finite if not math.isinf(x)]
        self.max_bucket = max(1, min(100_000, math.ceil(max(finite, default=HOUR_S) / HOUR_S) + 1))
        self.hist = [[0.0] * (self.max_bucket + 1) for _ in range(n)]
        self.last_gb = [0.0] * n
        self.reads = [0] * n
        self.seen: list[dict[int, float]] = [{} for _ in range(n)]
        self.computed_at = [-INF] * n
        self.table: list[list[float]] = [[0.0] * (n + 1) for _ in range(n)]  # [dst][src], src n = median

    def observe(self, o: int, d: int, size: int, now: float) -> None:
        """Record a read of object `o` in region `d`."""
        gb = size / 2**30
        prev = self.seen[d].get(o)
        self.seen[d][o] = now
        self.reads[d] += 1
        if prev is None or (self.half_life_s is not None and now - prev > self.half_life_s):
            self.last_gb[d] += gb
        if prev is not None:
            b = max(1, math.ceil((now - prev) / HOUR_S))
            self.hist[d][min(b, self.max_bucket)] += gb

    def ttl(self, src: int, dst: int, now: float) -> float:
        """TTL in seconds for a replica in `dst` sized against a miss from `src` (-1: median)."""
        if now - self.computed_at[dst] >= self.recompute_s:
            self._recompute(dst, now)
        return self.table[dst][self.p.n if src < 0 else src]

    def _recompute(self, d: int, now: float) -> None:
        if self.half_life_s is not None and self.computed_at[d] > -INF:
            f = 0.5 ** ((now - self.computed_at[d]) / self.half_life_s)
            self.hist[d] = [x * f for x in self.hist[d]]
            self.last_gb[d] *= f
        self.computed_at[d] = now
        s_gb_h = self.p.storage[d] * self.ts / MONTH_S * HOUR_S
        hist = np.array(self.hist[d])
        for src in range(self.p.n + 1):
            if src == d:
                continue
            s_id = -1 if src == self.p.n else src
            te = self.p.t_even(s_id, d, self.ts)
            n_eg = self.p.median_egress_into(d) if s_id < 0 else self.p.egress[s_id][d]
            hours = None
            if self.reads[d] >= self.min_reads:
                hours = choose_ttl_hours(hist, self.last_gb[d], n_eg, s_gb_h, te / HOUR_S)
            self.table[d][src] = te / 2 if hours is None else hours * HOUR_S
