"""Linking cuts share[b][j] <= B[j] for the continuous split, picked by a short cutting-plane loop on its LP.

Why: the continuous split's LP relaxation is weak because a type can carry a bucket on a fraction of a GPU
(600 buckets x 32 types, seed 0: LP bound 6.24 $/h, optimum 7.00). The cut is valid for every integer count
(B[j] = 0 forbids the type; B[j] >= 1 >= share) and lifts the bound to 6.87, but all 19,200 of them make each
LP several times slower. The few hundred that the LP optimum actually violates, added round by round, give
the same bound at a fraction of the rows. The loop runs on highspy directly (no PuLP model per round).

The same LP then *probes* the counts (see `probed.py`): re-solved from its optimal basis with B[j] >= k,
its bound is a lower bound on the cost of every solution with at least k GPUs of type j.
"""

from __future__ import annotations

import math

import numpy as np

from solvers.melange.highs_lp import Pair, split_lp
from solvers.melange.problem import Problem

MAX_ROUNDS = 30
VIOLATION = 1e-6


def violated_links(problem: Problem) -> list[Pair]:
    """The (bucket, type) pairs whose linking cut the LP relaxation violates, over rounds until none is."""
    return RootLP(problem).links


class RootLP:
    """The continuous split's LP relaxation with its linking cuts, kept in highspy for probing.

    `bound` is the LP bound, None when the LP has no optimum (e.g. caps make it infeasible); `counts` is
    the LP's B, `links` the cuts that were added.
    """

    def __init__(self, problem: Problem) -> None:
        import highspy

        self._highspy = highspy
        pairs, lp = split_lp(problem, highspy)
        self._upper = lp.col_upper_
        self._h = h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.passModel(lp)
        self._n_share = n_share = len(pairs)
        col_of_type = np.array([j for _, j in pairs], dtype=np.int32) + n_share
        found: list[int] = []
        x = None
        for r in range(MAX_ROUNDS + 1):
            h.run()
            if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                x = None
                break
            x = np.asarray(h.getSolution().col_value)
            new = np.nonzero(x[:n_share] > x[col_of_type] + VIOLATION)[0]
            if new.size == 0 or r == MAX_ROUNDS:
                break
            k = int(new.size)
            index = np.empty(2 * k, dtype=np.int32)
            index[0::2], index[1::2] = new, col_of_type[new]
            h.addRows(k, np.full(k, -highspy.kHighsInf), np.zeros(k), 2 * k,
                      np.arange(0, 2 * k, 2, dtype=np.int32), index, np.tile([1.0, -1.0], k))
            found += new.tolist()
        self.links = [pairs[c] for c in found]
        self.bound = None if x is None else h.getInfo().objective_function_value
        self.counts = None if x is None else x[n_share:]
        self._basis = None if x is None else h.getBasis()

    def probe(self, bounds: dict[int, tuple[float, float]]) -> float:
        """The LP bound with B[j] in bounds[j] (inf if that is infeasible); the LP is restored afterwards."""
        h, highspy = self._h, self._highspy
        cols = {self._n_share + j: b for j, b in bounds.items()}
        for col, (lo, hi) in cols.items():
            h.changeColBounds(col, lo, min(hi, self._upper[col]))
        h.setBasis(self._basis)  # warm start from the root optimum, not from the previous probe
        h.run()
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            value = max(self.bound, h.getInfo().objective_function_value)
        else:  # only a proven infeasibility excludes the counts; anything else proves nothing new
            value = math.inf if status == highspy.HighsModelStatus.kInfeasible else self.bound
        for col in cols:
            h.changeColBounds(col, 0.0, self._upper[col])
        return value

