"""Objective-level search: prove the aggregated optimum by asking, for rising levels L above the continuous
floor, "is there a whole-slice solution that costs at most L?".

Why: on the hard instances HiGHS proves the bound early but finds the optimal incumbent late (200 buckets x
24 types at 1000 req/s, seed 0: bound 110.85 after 24 s, the 110.85 solution only after 60 s). With the row
cost <= L and HiGHS's `objective_bound` = L every node whose LP bound reaches L is pruned, so a level just
above the floor is refuted in seconds. The first level that is not refuted needs no separate proof: HiGHS
returns the minimum over {cost <= L}, a set that holds every solution cheaper than L, hence the optimum.

Levels are floor + g/2, floor + 1.5g, floor + 3.5g, ... (the gap doubles) where g is the prices' granularity
(prices in cents: no two costs differ by less than 0.01, so floor + g/2 holds exactly the solutions at the
floor). Without a granularity the search is not used; the caller solves the plain model instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from solvers.melange import ilp
from solvers.melange.problem import Problem

MAX_DECIMALS = 6  # prices given to more decimals than this have no usable granularity


def granularity(problem: Problem) -> float | None:
    """The coarsest 10^-k (k <= 6) that every price is a whole multiple of, or None."""
    for k in range(MAX_DECIMALS + 1):
        scale = 10.0 ** k
        if all(abs(g.cost * scale - round(g.cost * scale)) <= 1e-9 * max(1.0, g.cost * scale)
               for g in problem.gpus):
            return 1.0 / scale
    return None


def levels(floor: float, step: float, ceiling: float | None) -> Iterator[float]:
    """floor + (2^i - 1/2) * step for i = 0, 1, ...; the last one is the first at or above `ceiling`."""
    i = 0
    while True:
        level = floor + (2 ** i - 0.5) * step
        yield level
        if ceiling is not None and level >= ceiling:
            return
        i += 1


def search(problem: Problem, solver: str, floor: float, step: float, ceiling: float, deadline: float,
           run) -> tuple[str, ilp.Model | None, float]:
    """Run levels up to `ceiling` (the cost of a known whole-slice solution) until one is feasible.

    Returns (status, model, bound): `optimal` (the model holds the optimum), `time_limit` (the model, if not
    None, holds the last level's incumbent) or `exhausted` (every level up to the ceiling was refuted, which
    the known solution contradicts: solver tolerance; the caller keeps its solution unproven). `bound` is the
    highest refuted level (or the floor), a proven lower bound on the optimum.
    """
    bound = floor
    for level in levels(floor, step, ceiling):
        left = deadline - time.perf_counter()
        if left <= 0:
            return "time_limit", None, bound
        m = ilp.build(problem, "aggregated", max_cost=level)
        r = run(m.lp, solver, left, cutoff=level)
        within = r.objective is not None and r.objective <= level + 1e-9 * max(1.0, level)
        if r.status == "optimal" and within:
            return "optimal", m, bound
        if r.status == "infeasible":
            bound = level
            continue
        # stopped by the clock: within this level the optimum is at least its dual bound, above it > level
        bound = max(bound, min(r.bound if r.bound is not None else bound, level))
        return "time_limit", m if r.status in ("time_limit", "feasible") else None, bound
    return "exhausted", None, bound
