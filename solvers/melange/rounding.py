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


def repair(problem: Problem, routing: Routing, counts: dict[int, int], unit: float | None) -> Routing | None:
    """Move traffic off types whose load exceeds their count onto types with spare GPUs, or None.

    Solvers accept a load of count + 1e-7 (their tolerance), and buckets with a tiny rate may land on a type
    that has no GPU at all; rather than buying a GPU for 1e-8 of load, shift whole slices (`unit` = 1/s;
    None = any fraction, for the continuous split) of the smallest contributions to types with room.
    """
    names = [g.name for g in problem.gpus]
    spot = {g.name: g.spot for g in problem.gpus}
    rows = [[dict(shares) for shares in row] for row in routing]
    loads = loads_of(problem, routing)
    per = {(b, j): problem.rates[b[0]][b[1]] * problem.load_per_rate(j, b)  # load of the whole bucket on j
           for b in problem.buckets() for j in range(len(names)) if problem.eligible(j, b)}
    for j, n in enumerate(names):
        over = loads[n] - counts[j]
        if over <= LOAD_TOLERANCE:
            continue
        moves = sorted((per[b, j] * rows[b[0]][b[1]][n], b) for b in problem.buckets()
                       if rows[b[0]][b[1]].get(n, 0.0) > 0)
        for _, b in moves:
            if over <= LOAD_TOLERANCE:
                break
            shares = rows[b[0]][b[1]]
            amount = shares[n]
            if unit is not None and over < per[b, j] * shares[n]:
                amount = min(shares[n], math.ceil(over / (per[b, j] * unit) - 1e-9) * unit)
            elif unit is None:
                amount = min(shares[n], over / per[b, j])
            for k, m in enumerate(names):
                if k == j or (b, k) not in per or (spot[m] and not spot[n]):
                    continue
                if counts[k] - loads[m] - amount * per[b, k] >= LOAD_TOLERANCE:
                    shares[n] -= amount
                    shares[m] = shares.get(m, 0.0) + amount
                    if shares[n] <= 1e-12:
                        del shares[n]
                    loads[n] -= amount * per[b, j]
                    loads[m] += amount * per[b, k]
                    over -= amount * per[b, j]
                    break
        if over > LOAD_TOLERANCE:
            return None
    return tuple(tuple(row) for row in rows)
