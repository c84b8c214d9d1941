"""Single-type baselines (paper §6.1): the same ILP restricted to one GPU type.

With one type every bucket goes to it, so the optimum is `ceil(sum_b r_b / T[b])` GPUs; no solver needed.
Baselines ignore caps and the on-demand minimum: they answer "what would this type alone cost".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from solvers.melange.problem import Problem
from solvers.melange.result import LOAD_TOLERANCE


@dataclass(frozen=True)
class Baseline:
    """`count`/`cost_per_hour` are None when the type cannot serve some bucket that has traffic."""

    gpu: str
    count: int | None
    cost_per_hour: float | None

    def savings_pct(self, mix_cost: float) -> float | None:
        """How much cheaper the mix is than this type alone, in percent (1 - mix / baseline)."""
        if not self.cost_per_hour:
            return None
        return 100.0 * (1.0 - mix_cost / self.cost_per_hour)


def single_type(problem: Problem, j: int) -> Baseline:
    g = problem.gpus[j]
    load = 0.0
    for b in problem.buckets():
        if not problem.eligible(j, b):
            return Baseline(g.name, None, None)
        load += problem.rates[b[0]][b[1]] * problem.load_per_rate(j, b)
    count = max(0, math.ceil(load - LOAD_TOLERANCE))
    return Baseline(g.name, count, count * g.cost)


def baselines(problem: Problem) -> list[Baseline]:
    return [single_type(problem, j) for j in range(len(problem.gpus))]
