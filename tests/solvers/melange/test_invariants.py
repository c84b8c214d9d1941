"""Invariants of shared/reference/melange.md checked on small random instances (hypothesis)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solvers.melange.baselines import baselines
from solvers.melange.problem import GpuType, Problem, SolveOptions
from solvers.melange.reduce import dominated
from solvers.melange.result import check
from solvers.melange.solve import solve

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TPUT = st.one_of(st.just(0.0), st.floats(0.5, 40.0).map(lambda x: round(x, 2)))


@st.composite
def problems(draw, max_types: int = 3) -> Problem:
    rows, cols = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    n = draw(st.integers(1, max_types))
    gpus = []
    for j in range(n):
        table = [[draw(TPUT) for _ in range(cols)] for _ in range(rows)]
        if j == 0:  # one type serves everything, so the instance is feasible without caps
            table = [[t or 1.0 for t in row] for row in table]
        cost = round(draw(st.floats(0.3, 8.0)), 2)
        gpus.append(GpuType(f"G{j}", cost, tuple(map(tuple, table))))
    weights = [[draw(st.integers(0, 5)) for _ in range(cols)] for _ in range(rows)]
    if not any(map(any, weights)):
        weights[0][0] = 1
    total = sum(map(sum, weights))
    rate = draw(st.floats(0.5, 60.0))
    rates = tuple(tuple(w / total * rate for w in row) for row in weights)
    return Problem(tuple(gpus), rates, draw(st.sampled_from([1, 2, 4])))


def cost(problem: Problem, mode: str = "aggregated") -> float:
    sol = solve(problem, SolveOptions(mode=mode, time_limit=20))
    assert sol.status == "optimal"
    assert check(problem, sol) == []
    assert all(isinstance(c, int) for c in sol.counts.values())
    return sol.cost_per_hour


@FAST
@given(problems())
def test_mix_never_costs_more_than_any_single_type(p: Problem) -> None:
    c = cost(p)
    for b in baselines(p):
        if b.cost_per_hour is not None:
            assert c <= b.cost_per_hour + 1e-9


@FAST
@given(problems(), st.floats(1.0, 3.0))
def test_cost_non_decreasing_in_rate(p: Problem, factor: float) -> None:
    more = replace(p, rates=tuple(tuple(r * factor for r in row) for row in p.rates))
    assert cost(p) <= cost(more) + 1e-9


@FAST
@given(problems(max_types=3))
def test_adding_a_type_or_loosening_a_cap_never_costs_more(p: Problem) -> None:
    full = cost(p)
    if len(p.gpus) > 1:
        assert full <= cost(replace(p, gpus=p.gpus[:1])) + 1e-9
    capped = replace(p, gpus=(replace(p.gpus[0], max_count=2), *p.gpus[1:]))
    sol = solve(capped, SolveOptions())
    if sol.status == "optimal":
        assert check(capped, sol) == []
        assert full <= sol.cost_per_hour + 1e-9
    else:
        assert sol.status == "infeasible"


@FAST
@given(problems(), st.sampled_from([2, 3]))
def test_finer_slices_and_continuous_never_cost_more(p: Problem, k: int) -> None:
    coarse = cost(p)
    fine = cost(replace(p, slice_factor=p.slice_factor * k))
    assert fine <= coarse + 1e-9
    assert cost(p, "continuous") <= fine + 1e-9


@FAST
@given(problems())
def test_binary_and_aggregated_formulations_agree(p: Problem) -> None:
    assert cost(p, "binary") == pytest.approx(cost(p, "aggregated"), abs=1e-6)


@FAST
@given(problems())
def test_counts_are_minimal_for_their_load(p: Problem) -> None:
    sol = solve(p, SolveOptions())
    for g in p.gpus:
        load, n = sol.loads[g.name], sol.counts[g.name]
        assert load <= n + 1e-9
        assert n == max(0, math.ceil(load - 1e-9))


@FAST
@given(problems(), st.sampled_from([0.25, 0.5, 1.0]))
def test_spot_mix_keeps_the_on_demand_share_of_every_bucket(p: Problem, a: float) -> None:
    spot = tuple(replace(g, name=f"{g.name}:spot", cost=g.cost / 3, spot=True) for g in p.gpus)
    q = replace(p, gpus=p.gpus + spot, min_on_demand_fraction=a)
    sol = solve(q, SolveOptions())
    assert sol.status == "optimal" and check(q, sol) == []  # check() verifies the share per bucket
    no_min = solve(replace(q, min_on_demand_fraction=0.0), SolveOptions())
    assert no_min.cost_per_hour <= sol.cost_per_hour + 1e-9


@FAST
@given(problems(), st.floats(1.0, 2.0), st.booleans())
def test_dominance_reduction_is_exact(p: Problem, markup: float, capped: bool) -> None:
    """A dearer copy of a type is dropped before solving, unless the cheaper one is capped."""
    g = p.gpus[0]
    dear = replace(g, name="dear", cost=round(g.cost * markup, 2))
    cheap = replace(g, max_count=1) if capped else g
    q = replace(p, gpus=(cheap, *p.gpus[1:], dear))
    assert capped or len(q.gpus) - 1 in dominated(q)
    sol = solve(q, SolveOptions())
    if not capped:
        assert sol.counts["dear"] == 0 or dear.cost == g.cost
        assert sol.cost_per_hour == pytest.approx(cost(p), abs=1e-6)
    elif sol.status == "optimal":  # the dear copy may be needed beyond the cap: not dropped
        assert check(q, sol) == []
        with_cap_binary = solve(q, SolveOptions(mode="binary"))
        assert sol.cost_per_hour == pytest.approx(with_cap_binary.cost_per_hour, abs=1e-6)
