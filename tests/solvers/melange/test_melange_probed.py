"""MIPs over probed types and counts (`solvers.melange.probed`) find the same optimum as the plain model,
whatever the first target, and their bound stays below the optimum when the clock stops them."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solvers.melange import ilp, probed
from solvers.melange.backend import run
from solvers.melange.links import RootLP
from solvers.melange.problem import GpuType, Problem, SolveOptions
from solvers.melange.result import check
from solvers.melange.solve import solve
from solvers.melange.synthetic import random_problem

FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _plain(p: Problem) -> float:
    """The model without cuts, probing or dropped types, on CBC: an independent reference."""
    m = ilp.build(p, "continuous")
    r = run(m.lp, "cbc", 30)
    assert r.status == "optimal"
    return r.objective


@FAST
@given(seed=st.integers(0, 10_000), kind=st.sampled_from(["plain", "caps", "spot"]),
       gap=st.sampled_from([-0.5, 0.0, 0.02, 0.5]))
def test_probed_split_matches_the_plain_model(variant, seed: int, kind: str, gap: float) -> None:
    """gap -0.5 drops every type (the smaller MIP is infeasible, the full one runs); 0 puts the first target
    at the LP bound, below the optimum (a second MIP over the ranges of a feasible cost); 0.5 keeps most."""
    p = variant(random_problem(5, 12, 4, seed, rate=30.0), seed, kind)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(probed, "SPLIT_TARGET_GAP", gap)
        sol = solve(p, SolveOptions(mode="continuous", solver="highs"))
    if sol.status == "infeasible":  # a tight cap can leave a bucket without room
        with pytest.raises(AssertionError):
            _plain(p)
        return
    assert sol.status == "optimal" and check(p, sol) == []
    assert sol.cost_per_hour == pytest.approx(_plain(p), abs=1e-6)
    assert sol.bound == pytest.approx(sol.cost_per_hour, abs=1e-6)


def test_probe_bounds_a_type_and_leaves_the_lp_as_it_was() -> None:
    """One bucket at 10 req/s: A serves 10/s for 1 $/h, B 20/s for 5 $/h. LP bound 1; with B >= 1 the
    cheapest is B alone (5 $/h, with A at 0), so a target below 5 drops B, and the LP is unchanged after."""
    a = GpuType("A", 1.0, ((10.0,),))
    b = GpuType("B", 5.0, ((20.0,),))
    root = RootLP(Problem((a, b), ((10.0,),), slice_factor=4))
    assert root.bound == pytest.approx(1.0)
    assert root.probe({1: (1.0, math.inf)}) == pytest.approx(5.0)
    assert root.probe({0: (2.0, math.inf)}) == pytest.approx(2.0)
    assert root.probe({1: (1.0, math.inf)}) == pytest.approx(5.0)  # restored between probes
    assert probed.ranges_for(root, 2.0) == {0: 2, 1: 0}  # A >= 3 costs 3 > 2; B is dropped
    capped = RootLP(Problem((replace(a, max_count=1), b), ((10.0,),), slice_factor=4))
    assert capped.probe({0: (2.0, math.inf)}) == math.inf  # beyond A's own cap: infeasible


@pytest.mark.slow
def test_stopped_split_is_not_optimal_and_its_bound_holds() -> None:
    """600 buckets x 32 types (optimum 7.00 $/h, proven in seconds): stopped after 1 s it must not claim
    the optimum, and its bound must not exceed 7.00 even though types were dropped for a target."""
    p = random_problem(32, 600, 8, 0)
    sol = solve(p, SolveOptions(mode="continuous", solver="highs", time_limit=1.0))
    assert sol.status in ("time_limit", "no_solution")
    assert sol.bound is not None and sol.bound <= 7.00 + 1e-9
    if sol.status == "time_limit":
        assert check(p, sol) == [] and sol.cost_per_hour >= 7.00 - 1e-9 and sol.gap > 0
