"""A time-limited incumbent is never reported as optimal; its gap and bound are reported instead."""

from __future__ import annotations

import pytest

from solvers.melange import ilp
from solvers.melange.backend import run
from solvers.melange.problem import SolveOptions
from solvers.melange.result import check
from solvers.melange.solve import solve
from solvers.melange.synthetic import random_problem


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_binary_model_stopped_by_the_clock_is_not_optimal(solver) -> None:
    p = random_problem(8, 60, 32, seed=0, rate=500)
    sol = solve(p, SolveOptions(mode="binary", solver=solver, time_limit=1.0))
    assert sol.status in ("time_limit", "no_solution")
    if sol.status == "time_limit":
        assert check(p, sol) == []
        if solver == "highs":  # HiGHS reports its dual bound; CBC through PuLP does not
            assert sol.bound is not None and sol.bound <= sol.cost_per_hour and sol.gap > 0
        else:
            assert sol.gap is None


@pytest.mark.slow
def test_aggregated_incumbent_keeps_the_continuous_bound() -> None:
    p = random_problem(24, 200, 8, seed=0, rate=1000)  # proven in ~30-40 s (docs/benchmarks.md)
    sol = solve(p, SolveOptions(time_limit=8))
    assert sol.status in ("time_limit", "no_solution")
    if sol.status == "time_limit":
        assert check(p, sol) == []
        assert sol.bound is not None and 0 < sol.gap < 0.01  # fit.search's spare GPU: 0.2% on this box


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_backend_optimal_means_proven(solver) -> None:
    p = random_problem(4, 12, 4, seed=3, rate=20)
    m = ilp.build(p, "aggregated")
    r = run(m.lp, solver, 30, "aggregated")
    assert r.status == "optimal"
    assert m.lp.sol_status == 1  # PuLP's "optimal solution found", not merely "integer feasible"
    assert r.objective == pytest.approx(solve(p).cost_per_hour, abs=1e-6)

