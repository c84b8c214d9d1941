"""Exact model reduction: drop GPU types that another type beats on price and on every bucket's throughput.

Type j is dominated by k when k costs no more, serves every bucket with traffic at least as fast, has no cap,
and is on-demand whenever j is (so the on-demand minimum is unaffected). Any solution using j stays feasible,
and no dearer, with j's slices moved to k: k's extra load is at most j's and its price no higher. Identical
types (the same GPU listed at two equal prices) are the extreme case and the main source of symmetry.
"""

from __future__ import annotations

from dataclasses import replace

from solvers.melange.problem import Problem


def dominated(problem: Problem) -> set[int]:
    """Indices of types that can be removed without changing the optimal cost."""
    buckets = problem.buckets()
    out: set[int] = set()
    for j, gj in enumerate(problem.gpus):
        for k, gk in enumerate(problem.gpus):
            if k == j or k in out or gk.max_count is not None or gk.cost > gj.cost:
                continue
            if gk.spot and not gj.spot:
                continue
            if not all(gk.tputs[i][c] >= gj.tputs[i][c] for i, c in buckets):
                continue
            strictly = gk.cost < gj.cost or any(gk.tputs[i][c] > gj.tputs[i][c] for i, c in buckets) \
                or gk.spot != gj.spot
            if strictly or k < j:  # among identical types keep the first
                out.add(j)
                break
    return out


def without(problem: Problem, drop: set[int]) -> Problem:
    return replace(problem, gpus=tuple(g for j, g in enumerate(problem.gpus) if j not in drop))
