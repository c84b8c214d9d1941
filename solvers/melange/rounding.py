"""Turn a continuous split into whole slices: a feasible aggregated solution to warm-start the MIP.

Largest-remainder rounding per bucket keeps every bucket's slices summing to s; counts are then the fewest
GPUs that fit the rounded loads. The result is an upper bound; the continuous optimum is the lower bound.
"""

from __future__ import annotations

import math

from solvers.melange.problem import Problem
from solvers.melange.result import LOAD_TOLERANCE, Routing, loads_of


def round_to_slices(problem: Problem, routing: Routing) -> Routing:
    """Each bucket's shares as multiples of 1/s, keeping the on-demand minimum."""
    s = problem.slice_factor
    spot = {g.name: g.spot for g in problem.gpus}
    min_od = math.ceil(problem.min_on_demand_fraction * s - 1e-9)
    rows, cols = problem.shape
    out: list[list[dict[str, float]]] = [[{} for _ in range(cols)] for _ in range(rows)]
    for b in problem.buckets():
        shares = routing[b[0]][b[1]]
        units = {n: math.floor(v * s + 1e-9) for n, v in shares.items()}
        order = sorted(shares, key=lambda n: units[n] - shares[n] * s)  # largest remainder first
        for n in order[: s - sum(units.values())]:
            units[n] += 1
        _restore_on_demand(units, shares, spot, min_od, s)
        out[b[0]][b[1]].update({n: u / s for n, u in units.items() if u > 0})
    return tuple(tuple(row) for row in out)


def _restore_on_demand(units: dict[str, int], shares: dict[str, float], spot: dict[str, bool],
                       min_od: int, s: int) -> None:
    """Move slices from spot to on-demand types until the bucket's on-demand minimum holds."""
    od = [n for n in shares if not spot[n]]
    while od and sum(units[n] for n in od) < min_od:
        donor = max((n for n in units if spot[n] and units[n] > 0), key=lambda n: units[n])
        taker = max(od, key=lambda n: shares[n] * s - units[n])
        units[donor] -= 1
        units[taker] += 1


def counts_for(problem: Problem, routing: Routing) -> dict[int, int] | None:
    """The fewest GPUs of each type that carry `routing`, or None if that breaks a cap."""
    loads = loads_of(problem, routing)
    counts = {}
    for j, g in enumerate(problem.gpus):
        counts[j] = max(0, math.ceil(loads[g.name] - LOAD_TOLERANCE))
        if g.max_count is not None and counts[j] > g.max_count:
            return None
    return counts
