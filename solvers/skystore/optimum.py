"""The exact offline optimum: a DP per object version over the sets of regions holding a replica.

Each version lives from its write to the next write (which deletes every replica) or the horizon.
Between two accesses the holder set is fixed (dropping a replica earlier is never worse than at the
access that ends its usefulness); at a read in region r the data comes from the cheapest holder, and
the new holder set may be any non-empty subset of (old set + r) that keeps the base copy. Replicas are
only created where the object is read or written, which covers every simulated policy except
single-region (whose writes are forwarded). With the subset lattice the step is: add the read cost,
fold "r joins the set", then a superset-minimum transform (choose what to keep), all in numpy, so a
version costs O(reads x m 2^m) for the m regions that touch it.

Rows of the cost stack: total, storage, network, request, hits, misses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from solvers.skystore.costmodel import Prices
from solvers.skystore.trace import Trace

MAX_REGIONS_PER_OBJECT = 12


@dataclass
class OptimumResult:
    storage_cost: float
    network_cost: float
    request_cost: float
    hits: int
    misses: int

    @property
    def total_cost(self) -> float:
        return self.storage_cost + self.network_cost + self.request_cost


def _pick(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise the cheaper of two cost stacks (by the total row)."""
    return np.where(b[0] < a[0], b, a)


def _superset_min(c: np.ndarray, m: int) -> np.ndarray:
    """c'[S] = cheapest c[U] over U containing S: 'keep any subset of what you hold'."""
    for j in range(m):
        v = c.reshape(c.shape[0], -1, 2, 1 << j)
        v[:, :, 0, :] = _pick(v[:, :, 0, :], v[:, :, 1, :])
    return c


class _Version:
    """One object version's regions (made local) and the per-holder-set storage and read costs."""

    def __init__(self, prices: Prices, rates: list[float], eg: list[list[float]], regions: list[int],
                 size: int) -> None:
        self.m = m = len(regions)
        self.masks = np.arange(1 << m)
        self.has_all = (self.masks[None, :] >> np.arange(m)[:, None]) & 1 == 1
        self.has = list(self.has_all)
        self.rate = (np.array([rates[g] for g in regions]) * size) @ self.has_all
        self.prices, self.eg, self.regions, self.size = prices, eg, regions, size
        self.read_cost: dict[int, np.ndarray] = {}

    def serve(self, j: int) -> np.ndarray:
        """Cost stack of a read in local region j from each holder set: cheapest holder, local wins."""
        got = self.read_cost.get(j)
        if got is not None:
            return got
        p, g = self.prices, self.regions[j]
        net = np.array([self.eg[s][g] * self.size for s in self.regions])
        get = np.array([p.get[s] for s in self.regions])
        tot = np.where(self.has_all, (net + get)[:, None], np.inf)
        tot[j] = np.inf
        k = np.argmin(tot, axis=0)
        c = np.zeros((6, 1 << self.m))
        c[0] = tot[k, self.masks]
        c[2], c[3], c[5] = net[k], get[k], 1.0
        local = self.has[j]
        c[0, local], c[2, local], c[3, local], c[4, local], c[5, local] = p.get[g], 0.0, p.get[g], 1.0, 0.0
        c[:, self.masks == 0] = np.inf
        self.read_cost[j] = c
        return c


def optimum_version(prices: Prices, rates: list[float], eg: list[list[float]], size: int, writer: int,
                    t0: float, reads: list[tuple[float, int]], t_end: float, base: bool) -> np.ndarray:
    """Cost stack [total, storage, network, request, hits, misses] of one version's optimum."""
    regions = sorted({writer, *(r for _, r in reads)})
    if len(regions) > MAX_REGIONS_PER_OBJECT:
        raise ValueError(f"an object touched from {len(regions)} regions is beyond the exact optimum")
    loc = {g: j for j, g in enumerate(regions)}
    ver = _Version(prices, rates, eg, regions, size)
    m, wbit = ver.m, 1 << loc[writer]
    c = np.full((6, 1 << m), np.inf)
    c[:, wbit] = 0.0
    c[0, wbit] = c[3, wbit] = prices.put[writer]
    allowed = np.arange(1 << m) != 0
    if base:
        allowed &= ver.has[loc[writer]]
    prev = t0
    for t, r in reads:
        _add_storage(c, ver.rate * (t - prev))
        prev = t
        j = loc[r]
        bit, has = 1 << j, ver.has[j]
        served = c + ver.serve(j)
        kept = np.where(has, served, np.inf)  # r already held a copy
        joined = np.where(has, served[:, np.arange(1 << m) ^ bit], np.inf)  # r gets a copy now
        kept, joined = _superset_min(kept, m), _superset_min(joined, m)
        put = np.where(has, prices.put[r], 0.0)
        joined[0] += put
        joined[3] += put
        c = _pick(kept, joined)
        c[:, ~allowed] = np.inf
    _add_storage(c, ver.rate * (t_end - prev))
    return c[:, int(np.argmin(c[0]))]


def _add_storage(c: np.ndarray, cost: np.ndarray) -> None:
    c[0] += cost
    c[1] += cost


def optimum(trace: Trace, prices: Prices, *, time_scale: float = 1.0, base: bool = True,
            horizon: float | None = None, progress: Callable[[int], None] | None = None) -> OptimumResult:
    """The minimum total cost of serving `trace`, with its breakdown (exact, see the module doc)."""
    rates, eg = prices.rates(time_scale), prices.egress_per_byte()
    order = np.lexsort((np.arange(len(trace)), trace.obj))
    T, W, R = trace.t[order].tolist(), trace.write[order].tolist(), trace.region[order].tolist()
    OB, S = trace.obj[order].tolist(), trace.size[order].tolist()
    end = max(float(trace.t[-1]) if len(trace) else 0.0, horizon or 0.0)
    total = np.zeros(6)
    i, n = 0, len(T)
    while i < n:
        o, w, t0, size = OB[i], R[i], T[i], S[i]
        reads: list[tuple[float, int]] = []
        j = i + 1
        while j < n and OB[j] == o and not W[j]:
            reads.append((T[j], R[j]))
            j += 1
        t_end = T[j] if j < n and OB[j] == o else end
        total += optimum_version(prices, rates, eg, size, w, t0, reads, t_end, base)
        if progress is not None and (i >> 14) != (j >> 14):
            progress(j)
        i = j
    if progress is not None:
        progress(n)
    return OptimumResult(float(total[1]), float(total[2]), float(total[3]), int(total[4]), int(total[5]))
