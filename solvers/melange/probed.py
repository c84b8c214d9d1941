"""The continuous split over only the GPU types and counts that a cheap enough solution can have, proven for
the whole problem; the same ranges bound the aggregated model's count search (`fit`).

Why: on 600 buckets x 32 types much of the branch-and-bound goes to types and counts that no optimum uses.
`links.RootLP.probe` bounds every solution with B[j] >= k by an LP (valid for both formulations: the
aggregated model's LP relaxation is the continuous split's). For a
target cost T, a type whose B[j] >= 1 bound exceeds T is in no solution of cost <= T, and neither is a count
whose bound exceeds T, so the MIP runs without those types and with those counts cut off. If its optimum V
is <= T, V is the optimum of the whole problem: every solution outside the smaller MIP costs more than
T >= V. If V > T, V is still feasible, so the ranges for target V hold every optimum: if they are the same
ranges V is proven, otherwise one more MIP over them is. If the smaller MIP is infeasible, the full model
runs. Correctness never depends on the first target, only speed does.
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

# First target of the continuous split: this far above the LP bound. On 600x32 seeds 0-4 the optimum is
# 0.1-1.9% above it; a target below the optimum costs one more MIP, a target far above keeps types and counts
# the MIP must refute. The aggregated model's first target (`fit`) is this far above the continuous
# optimum (its floor): on 200x24 instances its optimum was 0.02-0.07% above.
SPLIT_TARGET_GAP = 0.02
AGGREGATED_TARGET_GAP = 0.0005
BOUND_SLACK = 1e-6  # relative: a type or count is cut off only when its LP bound clears the target by this
CAP_STEPS = 2  # counts above the LP's probed per type; a type that takes more keeps no cap

Ranges = dict[int, int | None]  # type -> the most GPUs a cheap enough solution has; None = no cap found


@dataclass(frozen=True)
class Split:
    """A solve in the caller's type indices: status, routing, counts, and a bound for the whole problem."""

    status: str
    routing: Routing | None
    counts: dict[int, int] | None
    bound: float | None


def solve_split(problem: Problem, deadline: float, root: RootLP | None = None) -> Split:
    """The proven continuous-split optimum on HiGHS (or the time-limited incumbent and a valid bound)."""
    root = root or RootLP(problem)
    if root.bound is None:  # the LP has no optimum: the plain MIP reports why
        return _mip(problem, root, None, None, deadline, None)
    target = root.bound * (1 + SPLIT_TARGET_GAP)
    return solve_within(problem, root, target, deadline, root.bound)


def solve_within(problem: Problem, root: RootLP, target: float, deadline: float, floor: float) -> Split:
    """The continuous-split optimum, solved over the ranges for `target` (module doc);
    `floor` is a proven lower bound that the reported bound never falls below."""
    ranges = ranges_for(root, target)
    first = _mip(problem, root, ranges, target, deadline, floor)
    if first.status == "infeasible":  # nothing costs <= target
        return _mip(problem, root, None, None, deadline, floor)
    if first.status != "optimal" or problem.cost_of(first.counts) <= target:
        return first
    target = problem.cost_of(first.counts)  # feasible: every optimum lies within the ranges for it
    wider = ranges_for(root, target)
    if wider == ranges:  # the MIP just solved already covered every solution that costs <= target
        return first
    return _mip(problem, root, wider, target, deadline, floor)


def ranges_for(root: RootLP, target: float) -> Ranges:
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
         deadline: float, floor: float | None) -> Split:
    """The continuous split's MIP within `ranges` (None: every type, no caps), with the root's linking
    cuts. Its bound holds for the whole problem only up to `target`: outside costs more."""
    keep = [j for j in range(len(problem.gpus)) if ranges is None or ranges[j] != 0]
    index = {j: i for i, j in enumerate(keep)}
    small = without(problem, set(range(len(problem.gpus))) - set(keep))
    links = [(b, index[j]) for b, j in root.links if j in index]
    m = ilp.build(small, "continuous", links=links)
    for j in keep if ranges is not None else ():
        if ranges[j] is not None:  # never above the type's own cap (a probe beyond it is infeasible)
            m.counts[index[j]].upBound = ranges[j]
    r = run(m.lp, "highs", deadline - time.perf_counter(), "continuous")
    bound = r.bound
    if r.status != "optimal" and target is not None:  # solutions outside the ranges cost more than target
        bound = min(target, bound if bound is not None else -math.inf)
    if floor is not None:
        bound = max(floor, bound if bound is not None else -math.inf)
    if r.status not in ("optimal", "time_limit", "feasible"):
        return Split(r.status, None, None, bound)
    counts = dict.fromkeys(range(len(problem.gpus)), 0)
    counts.update({keep[i]: c for i, c in ilp.read_counts(m).items()})
    return Split(r.status, ilp.read_routing(m), counts, bound)
