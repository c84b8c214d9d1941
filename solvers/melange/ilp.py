"""The three formulations as PuLP models, and reading the routing back out of a solved model.

- `binary`: the paper's model, one 0/1 variable per (slice, type); kept for comparison (heavily symmetric).
- `aggregated`: one integer x[b][j] in 0..s per (bucket, type), the number of bucket b's s slices on type j;
  the same feasible set of (counts, routing) as `binary`, without the slice symmetry.
- `continuous`: a fractional share w[b][j] in [0, 1] per (bucket, type); the s -> infinity limit.
All share integer counts B[j] in 0..cap and minimise sum of price x count. Ineligible (T = 0) and zero-rate
buckets get no variables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pulp

from solvers.melange.problem import Problem
from solvers.melange.result import Routing

Bucket = tuple[int, int]


@dataclass
class Model:
    """A built PuLP model plus handles to its count and routing variables."""

    problem: Problem
    mode: str
    lp: pulp.LpProblem
    counts: dict[int, pulp.LpVariable]
    # (bucket, type) -> variables whose sum / divisor is the share of the bucket routed to the type
    shares: dict[tuple[Bucket, int], list[pulp.LpVariable]] = field(default_factory=dict)
    divisor: float = 1.0


def build(problem: Problem, mode: str, *, links: list[tuple[Bucket, int]] = ()) -> Model:
    """The model for `mode`; `links` adds the valid cuts share <= B[j] for those (bucket, type) pairs of the
    continuous split (see `links`)."""
    s = problem.slice_factor
    lp = pulp.LpProblem(f"melange_{mode}", pulp.LpMinimize)
    counts = {}
    for j, g in enumerate(problem.gpus):
        counts[j] = _var(lp, f"B_{j}", 0, g.max_count, pulp.LpInteger)
    m = Model(problem, mode, lp, counts, divisor=1.0 if mode == "continuous" else float(s))
    lp += pulp.lpSum(g.cost * counts[j] for j, g in enumerate(problem.gpus))
    capacity: dict[int, list] = {j: [] for j in counts}
    min_od = math.ceil(problem.min_on_demand_fraction * m.divisor - 1e-9) if mode != "continuous" \
        else problem.min_on_demand_fraction
    for b in problem.buckets():
        i, k = b
        types = [j for j in counts if problem.eligible(j, b)]
        slice_rate = problem.rates[i][k] / m.divisor  # req/s carried by one unit of the variable
        for j in types:
            m.shares[b, j] = _variables(lp, mode, s, i, k, j)
            capacity[j] += [(v, slice_rate * problem.load_per_rate(j, b)) for v in m.shares[b, j]]
        if mode == "binary":  # every slice goes to exactly one type
            for t in range(s):
                lp += pulp.lpSum(m.shares[b, j][t] for j in types) == 1, f"slice_{i}_{k}_{t}"
        else:
            lp += pulp.lpSum(m.shares[b, j][0] for j in types) == m.divisor, f"bucket_{i}_{k}"
        od = [v for j in types if not problem.gpus[j].spot for v in m.shares[b, j]]
        if min_od > 0:
            lp += pulp.lpSum(od) >= min_od, f"on_demand_{i}_{k}"
    for j, terms in capacity.items():
        if terms:
            lp += pulp.LpAffineExpression(terms) <= counts[j], f"capacity_{j}"
    for (i, k), j in links:
        lp += m.shares[(i, k), j][0] <= counts[j], f"link_{i}_{k}_{j}"
    return m


def _variables(lp: pulp.LpProblem, mode: str, s: int, i: int, k: int, j: int) -> list[pulp.LpVariable]:
    if mode == "binary":
        return [_var(lp, f"a_{i}_{k}_{j}_{t}", 0, 1, pulp.LpBinary) for t in range(s)]
    if mode == "aggregated":
        return [_var(lp, f"x_{i}_{k}_{j}", 0, s, pulp.LpInteger)]
    return [_var(lp, f"w_{i}_{k}_{j}", 0, 1, pulp.LpContinuous)]


def _var(lp: pulp.LpProblem, name: str, lo: float | None, hi: float | None, cat: str) -> pulp.LpVariable:
    """PuLP >= 3.3 wants variables created through the model; older PuLP only has the constructor."""
    if hasattr(lp, "add_variable"):
        return lp.add_variable(name, lo, hi, cat=cat)
    return pulp.LpVariable(name, lo, hi, cat)


def read_counts(m: Model) -> dict[int, int]:
    """Counts rounded (never truncated: a solver may return 0.9999999)."""
    return {j: round(v.value() or 0.0) for j, v in m.counts.items()}


def read_routing(m: Model) -> Routing:
    """Shares per bucket; integer modes are rounded to whole slices, continuous ones renormalised."""
    rows, cols = m.problem.shape
    out: list[list[dict[str, float]]] = [[{} for _ in range(cols)] for _ in range(rows)]
    integral = m.mode != "continuous"
    for (b, j), vs in m.shares.items():
        raw = sum((round(v.value() or 0.0) if integral else max(0.0, v.value() or 0.0)) for v in vs)
        if raw > 0:
            out[b[0]][b[1]][m.problem.gpus[j].name] = raw / m.divisor
    if not integral:
        for row in out:
            for shares in row:
                total = sum(shares.values())
                for n in shares:
                    shares[n] /= total
    return tuple(tuple(row) for row in out)

