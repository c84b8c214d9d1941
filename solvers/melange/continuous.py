"""The continuous split on HiGHS, solved over only the GPU counts that a cheap enough solution can have.

Why: on 600 buckets x 32 types most of the branch-and-bound goes to types and counts that no optimum uses.
`links.RootLP.probe` bounds every solution with B[j] >= k (or <= k) by an LP. For a target cost T, a type
whose B[j] >= 1 bound exceeds T cannot appear in any solution of cost <= T, and a count whose bound exceeds
T cannot either, so the MIP runs without those types and with those counts cut off. If its optimum V is
<= T, V is the optimum of the whole problem: every solution outside the smaller MIP costs more than T >= V.
If V > T, V is still feasible, so one more MIP over the ranges for target V (which hold every solution of
cost <= V) is proven optimal; if the smaller MIP is infeasible, the full model runs. Correctness never
depends on the first target, only speed does.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from solvers.melange import ilp
from solvers.melange.backend import run
from solvers.melange.links import RootLP
from solvers.melange.problem import Problem
from solvers.melange.reduce import without
from solvers.melange.result import Routing

# First target: this far above the LP bound. On 600x32 seeds 0-4 the optimum is 0.1-1.9% above it; a target
# below the optimum costs one more MIP, a target far above keeps types and counts the MIP must refute.
TARGET_GAP = 0.02
BOUND_SLACK = 1e-6  # relative: a type or count is cut off only when its LP bound clears the target by this
CAP_STEPS = 2  # counts above the LP's probed per type; a type that takes more keeps no cap

Ranges = dict[int, int | None]  # type -> the most GPUs a cheap enough solution has; None = no cap found


@dataclass(frozen=True)
class Split:
    """A continuous-split solve, in the caller's type indices."""

    status: str
    routing: Routing | None
    counts: dict[int, int] | None
    bound: float | None


def solve_split(problem: Problem, deadline: float) -> Split:
    """The proven continuous optimum (or the time-limited incumbent and a valid bound)."""
    root = RootLP(problem)
    if root.bound is None:  # the LP has no optimum: the plain MIP reports why
        return _mip(problem, root, None, None, deadline)
    target = root.bound * (1 + TARGET_GAP)
    first = _mip(problem, root, _ranges(root, target), target, deadline)
    if first.status == "infeasible":  # nothing costs <= target
        return _mip(problem, root, None, None, deadline)
    if first.status != "optimal" or problem.cost_of(first.counts) <= target:
        return first
    target = problem.cost_of(first.counts)  # feasible, so every optimum lies within the ranges for it
    return _mip(problem, root, _ranges(root, target), target, deadline)


def _ranges(root: RootLP, target: float) -> Ranges:
    """Per type, the most GPUs that a solution of cost <= target may have (0 = the type is dropped)."""
    limit = target + BOUND_SLACK * max(1.0, abs(target))
    lp = root.counts
    dropped = {j: (0.0, 0.0) for j in range(len(lp))
               if lp[j] < 1 - 1e-9 and root.probe({j: (1.0, math.inf)}) > limit}
    out: Ranges = dict.fromkeys(dropped, 0)
    for j in range(len(lp)):
        if j in dropped:
            continue
        least = most = math.floor(lp[j] + 1e-9)  # the LP optimum itself has this many
        while most - least < CAP_STEPS and root.probe(dropped | {j: (most + 1.0, math.inf)}) <= limit:
            most += 1
        out[j] = most if most - least < CAP_STEPS else None
    return out


def _mip(problem: Problem, root: RootLP, ranges: Ranges | None, target: float | None,
         deadline: float) -> Split:
    """The linked continuous MIP within `ranges` (None: every type, no ranges). Its bound holds for the whole
    problem only up to `target`: everything outside the ranges costs more than that."""
    keep = [j for j in range(len(problem.gpus)) if ranges is None or ranges[j] != 0]
    index = {j: i for i, j in enumerate(keep)}
    small = without(problem, set(range(len(problem.gpus))) - set(keep))
    m = ilp.build(small, "continuous", links=[(b, index[j]) for b, j in root.links if j in index])
    for j in keep if ranges is not None else ():
        if ranges[j] is not None:  # never above the type's own cap (a probe beyond it is infeasible)
            m.counts[index[j]].upBound = ranges[j]
    r = run(m.lp, "highs", deadline - time.perf_counter(), tight=True)
    bound = r.bound
    if r.status != "optimal" and target is not None:  # solutions outside the ranges cost more than target
        bound = min(target, bound if bound is not None else -math.inf)
    if root.bound is not None:
        bound = max(root.bound, bound if bound is not None else -math.inf)
    if r.status not in ("optimal", "time_limit", "feasible"):
        return Split(r.status, None, None, bound)
    counts = dict.fromkeys(range(len(problem.gpus)), 0)
    counts.update({keep[i]: c for i, c in ilp.read_counts(m).items()})
    return Split(r.status, ilp.read_routing(m), counts, bound)
