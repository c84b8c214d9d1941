"""The split models as column-wise highspy LPs: one column per eligible (bucket, type) pair, then the counts.

Shared by the linking-cut loop (`links.RootLP`, fractional shares) and the count search (`fit`, shares in
whole slices), so both read the same rows: one per bucket (its shares sum to the whole), one capacity row
per type (load - B[j] <= 0), and, with an on-demand minimum, one per bucket for the on-demand share.
"""

from __future__ import annotations

import math

import numpy as np

from solvers.melange.problem import Problem

Pair = tuple[tuple[int, int], int]  # (bucket, type)


def split_lp(problem: Problem, highspy, slices: int | None = None) -> tuple[list[Pair], object]:
    """The model with every column continuous: shares in [0, 1] (`slices` None, the continuous split), or
    in [0, slices] counting whole slices of 1/slices of the bucket (the aggregated model's columns)."""
    m, buckets = len(problem.gpus), problem.buckets()
    n_b = len(buckets)
    whole = 1.0 if slices is None else float(slices)
    od_rows = problem.min_on_demand_fraction > 0
    od_min = problem.min_on_demand_fraction if slices is None \
        else math.ceil(problem.min_on_demand_fraction * slices - 1e-9)
    pairs = [(b, j) for b in buckets for j in range(m) if problem.eligible(j, b)]
    row_of = {b: i for i, b in enumerate(buckets)}
    starts, index, value = [0], [], []
    for b, j in pairs:
        row_b = row_of[b]
        load = problem.rates[b[0]][b[1]] * problem.load_per_rate(j, b) / whole
        rows = [(row_b, 1.0), (n_b + j, load)]
        if od_rows and not problem.gpus[j].spot:
            rows.append((n_b + m + row_b, 1.0))
        for r, v in rows:
            index.append(r)
            value.append(v)
        starts.append(len(index))
    for j in range(m):
        index.append(n_b + j)
        value.append(-1.0)
        starts.append(len(index))
    inf = highspy.kHighsInf
    n_rows = n_b + m + (n_b if od_rows else 0)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(pairs) + m, n_rows
    lp.col_cost_ = np.array([0.0] * len(pairs) + [g.cost for g in problem.gpus])
    lp.col_lower_ = np.zeros(lp.num_col_)
    lp.col_upper_ = np.array([whole] * len(pairs) + [inf if g.max_count is None else float(g.max_count)
                                                      for g in problem.gpus])
    lp.row_lower_ = np.array([whole] * n_b + [-inf] * m + [od_min] * (n_rows - n_b - m))
    lp.row_upper_ = np.array([whole] * n_b + [0.0] * m + [inf] * (n_rows - n_b - m))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(value)
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = lp.num_col_, n_rows
    return pairs, lp
