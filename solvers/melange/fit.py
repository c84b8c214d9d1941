"""The aggregated optimum by a search over GPU counts: a master picks counts, a check fits whole slices in.

Why: on random 200-bucket x 24-type instances at 256-1000 req/s, HiGHS on the aggregated model stalled on
both sides. The optimum there is a near-exact fill (its fits leave ~1e-8 GPU idle per type), so the search
must both find such a fill and refute every cheaper count vector that the continuous split allows, and HiGHS
did neither within minutes (docs/benchmarks.md). This splits the two jobs (a combinatorial Benders scheme):

- Master: the aggregated model with only the heavy (bucket, type) pairs integer, those whose slice weighs at
  least HEAVY_SLICE GPU, and the light ones continuous, with the root's linking cuts, over the counts that
  LP probes allow (`probed`). It relaxes the aggregated model, so its optimum is a lower bound, yet its
  heavy slices already rule out most count vectors that only a fractional split of big buckets would fit.
- Check: the aggregated model with the master's counts B fixed. If whole slices fit, B is optimal. If not,
  no counts <= B (type by type) fit either, as fewer GPUs never help, so the master gets the cut "some type
  has more GPUs than in B" and runs again.

Numerics: such fits are so tight that HiGHS 1.15 called a feasible check infeasible in 3 of about 20 runs
on the optimal counts of 1000 req/s seed 0 (other random seeds and options). So the exact check's "no" is
confirmed by a second check that allows FIT_MARGIN GPU more per type, which a solver error of 1e-8 cannot
flip, before a cut is made. Counts whose slices fit within the margin but not exactly (even after `repair`)
are cut too, since the search must go on, but the reported bound stays at their cost: the result is then a
`feasible` incumbent with its gap, never an `optimal` that a solver's rounding decided. The exact check goes
first because it finds fits far faster than the one with the margin (0.5-14 s against 6-27 s on six hard
instances, both with a constant objective).
"""

from __future__ import annotations

import math
import time

import numpy as np

from solvers.melange.backend import MIP_REL_GAP, SLICE_MODEL_OPTIONS, TIGHT_MODEL_OPTIONS, highs_result
from solvers.melange.highs_lp import split_lp
from solvers.melange.links import RootLP
from solvers.melange.probed import AGGREGATED_TARGET_GAP, Ranges, Split, ranges_for
from solvers.melange.problem import Problem
from solvers.melange.result import Routing
from solvers.melange.rounding import repair

HEAVY_SLICE = 0.03  # GPU per slice; 200x24 at 1000 req/s: half the pairs integer (0.1: slower; 0: full MIP)
FIT_MARGIN = 1e-6  # GPU per type that the check allows before its "no" makes a cut
RESERVE = 0.1  # of the time left, kept from the checks for `_spare`


def search(problem: Problem, root: RootLP, floor: float, incumbent: Split | None, deadline: float) -> Split:
    """The aggregated optimum, proven (`optimal`), or the best solution known with a valid bound.

    `floor` is a proven lower bound (the continuous optimum); `incumbent` a feasible aggregated solution
    (rounded from the continuous split), returned with the bound if the clock runs out first."""
    master, check = _Master(problem, root), _Check(problem)
    reserve = RESERVE * (deadline - time.perf_counter())  # for a near-optimal incumbent if the clock stops
    target = floor * (1 + AGGREGATED_TARGET_GAP)
    ranges: Ranges | None = ranges_for(root, target)
    master.limit(ranges)
    lower, unsure = floor, math.inf  # unsure: the cheapest counts refuted only by the exact check

    def stop(status: str) -> Split:
        """Out of time (or of counts): the incumbent, if there is one, with the bound proven so far."""
        if incumbent is not None:
            return Split("time_limit" if status == "time_limit" else "feasible", incumbent.routing,
                         incumbent.counts, min(lower, unsure))
        return Split(status, None, None, min(lower, unsure))

    while True:
        counts = master.solve(deadline) if time.perf_counter() < deadline else "time_limit"
        if counts == "time_limit":
            return stop("time_limit")
        if counts == "infeasible":
            if ranges is None:  # every count vector is refuted (or capped away)
                return stop("infeasible" if unsure == math.inf else "no_solution")
            ranges = None
            master.limit(ranges)
            continue
        cost = problem.cost_of(counts)
        if ranges is not None and cost > target:  # the ranges only hold solutions up to the target
            target, wider = cost, ranges_for(root, cost)
            if wider != ranges:
                ranges = wider
                master.limit(ranges)
                continue
        lower = max(lower, cost)
        status, routing = check.fit(counts, 0.0, deadline - reserve)
        if status == "no_fit":  # cut only if no fit exists even with FIT_MARGIN more GPU per type
            status, routing = check.fit(counts, FIT_MARGIN, deadline - reserve)
            if status == "fit":  # within the margin: exact after shifting a slice, or unsure
                routing = repair(problem, routing, counts, 1.0 / problem.slice_factor)
                if routing is None:
                    status, unsure = "no_fit", min(unsure, cost)
        if status == "time_limit":
            incumbent = _spare(problem, check, counts, incumbent, deadline)
            return stop("time_limit")
        if routing is not None:
            return Split("optimal" if cost <= unsure else "feasible", routing, counts, min(cost, unsure))
        master.cut(counts)


def _spare(problem: Problem, check: _Check, counts: dict[int, int], incumbent: Split | None,
           deadline: float) -> Split | None:
    """The master's counts plus one GPU of the cheapest type they use: a GPU to spare makes whole slices
    easy to fit (600x32 at 1000 req/s: 1.3 s), so a stopped search still returns a near-optimal mix."""
    grow = [j for j, n in counts.items() if n > 0 and n + 1 <= check.caps[j]]
    if not grow:
        return incumbent
    j = min(grow, key=lambda k: problem.gpus[k].cost)
    more = counts | {j: counts[j] + 1}
    if incumbent is not None and problem.cost_of(more) >= problem.cost_of(incumbent.counts):
        return incumbent
    routing = check.fit(more, 0.0, deadline)[1]
    return Split("feasible", routing, more, None) if routing is not None else incumbent


class _Model:
    """The aggregated model's columns in highspy, shares counted in whole slices, then the counts."""

    def __init__(self, problem: Problem, heavy: float, options: dict) -> None:
        import highspy

        self.highspy, self.problem = highspy, problem
        self.pairs, lp = split_lp(problem, highspy, problem.slice_factor)
        self.n_share, m = len(self.pairs), len(problem.gpus)
        s = problem.slice_factor
        self.weight = [problem.rates[b[0]][b[1]] * problem.load_per_rate(j, b) / s for b, j in self.pairs]
        kind = highspy.HighsVarType
        lp.integrality_ = [kind.kInteger if w >= heavy else kind.kContinuous for w in self.weight] \
            + [kind.kInteger] * m
        self.h = h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.passModel(lp)
        for name, value in {"mip_rel_gap": MIP_REL_GAP, **SLICE_MODEL_OPTIONS, **options}.items():
            h.setOptionValue(name, value)
        self.caps = [math.inf if g.max_count is None else g.max_count for g in problem.gpus]

    def run(self, deadline: float) -> str:
        """Solve within the deadline; the status as `backend.highs_result` reads it."""
        self.h.setOptionValue("time_limit", max(0.01, deadline - time.perf_counter()))
        self.h.run()
        return highs_result(self.h, 0.0).status

    def counts(self) -> dict[int, int]:
        x = self.h.getSolution().col_value
        return {j: round(x[self.n_share + j]) for j in range(len(self.problem.gpus))}


class _Master(_Model):
    """Heavy slices integer, light ones continuous, the root's linking cuts, and cuts of refuted counts."""

    def __init__(self, problem: Problem, root: RootLP) -> None:
        super().__init__(problem, HEAVY_SLICE, TIGHT_MODEL_OPTIONS)
        col = {pair: c for c, pair in enumerate(self.pairs)}
        s, k = float(problem.slice_factor), len(root.links)
        if k:  # share <= B[j], in slices: x - s * B[j] <= 0
            index = np.array([c for b, j in root.links for c in (col[b, j], self.n_share + j)],
                             dtype=np.int32)
            self.h.addRows(k, np.full(k, -self.highspy.kHighsInf), np.zeros(k), 2 * k,
                           np.arange(0, 2 * k, 2, dtype=np.int32), index, np.tile([1.0, -s], k))

    def limit(self, ranges: Ranges | None) -> None:
        """Counts within `ranges` (None: only the types' own caps)."""
        for j, cap in enumerate(self.caps):
            most = cap if ranges is None or ranges[j] is None else min(cap, ranges[j])
            self.h.changeColBounds(self.n_share + j, 0.0, min(most, self.highspy.kHighsInf))

    def solve(self, deadline: float) -> dict[int, int] | str:
        """The optimal counts, or `infeasible` or `time_limit` (nothing proven either way)."""
        status = self.run(deadline)
        if status == "optimal":
            return self.counts()
        return "infeasible" if status == "infeasible" else "time_limit"

    def cut(self, counts: dict[int, int]) -> None:
        """Some type j gets more than counts[j]: binaries y_j with B[j] >= (counts[j] + 1) y_j, sum y >= 1."""
        h, inf = self.h, self.highspy.kHighsInf
        grow = [j for j, cap in enumerate(self.caps) if counts[j] + 1 <= cap]
        first = h.getNumCol()
        n = len(grow)
        h.addCols(n, np.zeros(n), np.zeros(n), np.ones(n), 0, np.array([], dtype=np.int32),
                  np.array([], dtype=np.int32), np.array([]))
        ys = np.arange(first, first + n, dtype=np.int32)
        h.changeColsIntegrality(n, ys, np.full(n, self.highspy.HighsVarType.kInteger))
        index = np.array([c for j, y in zip(grow, ys, strict=True) for c in (self.n_share + j, y)],
                         dtype=np.int32)
        value = np.array([v for j in grow for v in (1.0, -(counts[j] + 1.0))])
        starts = np.arange(0, 2 * n, 2, dtype=np.int32)
        h.addRows(n, np.zeros(n), np.full(n, inf), 2 * n, starts, index, value)
        h.addRow(1.0, inf, n, ys, np.ones(n))


class _Check(_Model):
    """Every slice integer, the counts fixed: do whole slices fit?

    Any fit will do, so the first one ends the search; the objective, the total load, only steers it: the
    LP then leaves the most GPU idle for whole slices to use. On the optimal counts of seven hard 200x24
    instances that cut the time to a fit from 0.5-103 s (a constant objective) to 0.2-20 s, with one
    outlier at 38 s among three random seeds (docs/benchmarks.md)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem, 0.0, {"mip_max_improving_sols": 1})
        self.first_capacity_row = len(problem.buckets())
        n = self.n_share
        self.h.changeColsCost(n, np.arange(n, dtype=np.int32), np.array(self.weight))

    def fit(self, counts: dict[int, int], margin: float, deadline: float) -> tuple[str, Routing | None]:
        """(`fit`, the routing) for a fit within `margin` GPU per type; (`no_fit` or `time_limit`, None)."""
        for j, n in counts.items():
            self.h.changeColBounds(self.n_share + j, n, n)
            self.h.changeRowBounds(self.first_capacity_row + j, -self.highspy.kHighsInf, margin)
        status = self.run(deadline)
        if status in ("optimal", "feasible"):  # any solution is a fit (the first one stops the search)
            return "fit", self.routing()
        return "no_fit" if status == "infeasible" else "time_limit", None

    def routing(self) -> Routing:
        """Each pair's whole slices as a share of its bucket."""
        x = self.h.getSolution().col_value
        rows, cols = self.problem.shape
        out: list[list[dict[str, float]]] = [[{} for _ in range(cols)] for _ in range(rows)]
        s = self.problem.slice_factor
        for c, (b, j) in enumerate(self.pairs):
            units = round(x[c])
            if units > 0:
                out[b[0]][b[1]][self.problem.gpus[j].name] = units / s
        return tuple(tuple(row) for row in out)
