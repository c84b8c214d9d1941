"""What a solve returns, and the exact checker that every returned allocation passes."""

from __future__ import annotations

import math
from dataclasses import dataclass

from solvers.melange.problem import Problem

LOAD_TOLERANCE = 1e-9  # float sums like 10.000000000000002 must still fit 10 GPUs
LP_TOLERANCE = 1e-6  # continuous splits come from an LP and carry its feasibility tolerance

Routing = tuple[tuple[dict[str, float], ...], ...]  # [input][output] -> {gpu: share of that bucket}


@dataclass(frozen=True)
class Solution:
    """GPU counts and routing. `status`: optimal (proven), time_limit or feasible (an incumbent whose gap is
    `gap`), infeasible. `bound` is the best proven lower bound on the cost ($/h)."""

    status: str
    mode: str
    solver: str
    counts: dict[str, int]
    cost_per_hour: float
    loads: dict[str, float]  # GPUs' worth of work routed to each type
    routing: Routing
    bound: float | None
    solve_seconds: float

    @property
    def gap(self) -> float | None:
        """Relative MIP gap (cost - bound) / cost; 0 when proven optimal, None when unknown."""
        if self.status == "optimal":
            return 0.0
        if self.bound is None or self.status == "infeasible":
            return None
        return max(0.0, (self.cost_per_hour - self.bound) / self.cost_per_hour) if self.cost_per_hour else 0.0

    @property
    def utilization(self) -> dict[str, float]:
        """Load / count for each deployed type: how busy its GPUs are on average at the sized rate."""
        return {n: self.loads[n] / c for n, c in self.counts.items() if c > 0}

    @property
    def allocation(self) -> dict[str, int]:
        return {n: c for n, c in self.counts.items() if c > 0}


def loads_of(problem: Problem, routing: Routing) -> dict[str, float]:
    """Per type: sum over buckets of share * rate / tput (GPUs' worth of work)."""
    loads = dict.fromkeys((g.name for g in problem.gpus), 0.0)
    for b in problem.buckets():
        r = problem.rates[b[0]][b[1]]
        for j, g in enumerate(problem.gpus):
            share = routing[b[0]][b[1]].get(g.name, 0.0)
            if share > 0:
                loads[g.name] += share * r * problem.load_per_rate(j, b)
    return loads


def check(problem: Problem, sol: Solution) -> list[str]:
    """Violations of the model's constraints in `sol` (empty when it is a valid allocation)."""
    tol = LP_TOLERANCE if sol.mode == "continuous" else LOAD_TOLERANCE
    out = []
    for b in problem.buckets():
        shares = sol.routing[b[0]][b[1]]
        if abs(sum(shares.values()) - 1.0) > tol:
            out.append(f"bucket {b}: shares sum to {sum(shares.values())}")
        for j, g in enumerate(problem.gpus):
            if shares.get(g.name, 0.0) > 0 and not problem.eligible(j, b):
                out.append(f"bucket {b}: routed to ineligible {g.name}")
        od = sum(v for n, v in shares.items() if not _gpu(problem, n).spot)
        if od < problem.min_on_demand_fraction - tol:
            out.append(f"bucket {b}: on-demand share {od} < {problem.min_on_demand_fraction}")
    loads = loads_of(problem, sol.routing)
    for g in problem.gpus:
        n = sol.counts[g.name]
        if loads[g.name] > n + tol:
            out.append(f"{g.name}: load {loads[g.name]} > count {n}")
        if g.max_count is not None and n > g.max_count:
            out.append(f"{g.name}: count {n} > cap {g.max_count}")
        if g.cost > 0 and n > math.ceil(loads[g.name] - tol):
            out.append(f"{g.name}: count {n} not minimal for load {loads[g.name]}")
    cost = sum(g.cost * sol.counts[g.name] for g in problem.gpus)
    if abs(cost - sol.cost_per_hour) > 1e-6:
        out.append(f"cost {sol.cost_per_hour} != sum of count x price {cost}")
    return out


def _gpu(problem: Problem, name: str):
    return next(g for g in problem.gpus if g.name == name)
