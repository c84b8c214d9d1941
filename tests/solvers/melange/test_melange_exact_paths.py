"""The objective-level search and the linking cuts change how the optimum is found, never what it is:
each is checked against the plain model on the same backend (and binary/brute force via the invariants)."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solvers.melange import ilp, levels
from solvers.melange.backend import run
from solvers.melange.links import violated_links
from solvers.melange.problem import GpuType, Problem, SolveOptions
from solvers.melange.result import check
from solvers.melange.rounding import counts_for, round_to_slices
from solvers.melange.solve import solve
from solvers.melange.synthetic import random_problem

FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _plain(p: Problem, mode: str) -> float:
    m = ilp.build(p, mode)
    r = run(m.lp, "highs", 30)
    assert r.status == "optimal"
    return r.objective


def test_granularity_of_prices() -> None:
    def prices(*costs):
        return Problem(tuple(GpuType(f"G{i}", c, ((1.0,),)) for i, c in enumerate(costs)), ((1.0,),))

    assert levels.granularity(prices(3.0, 7.0)) == 1.0
    assert levels.granularity(prices(0.7, 1.01, 3.67)) == pytest.approx(0.01)
    assert levels.granularity(prices(7.516, 0.7)) == pytest.approx(0.001)
    assert levels.granularity(prices(1.0 / 3.0)) is None  # spot = on-demand / 3: no level search


def test_levels_double_the_gap_up_to_the_ceiling() -> None:
    got = list(levels.levels(10.0, 0.01, 10.1))
    assert got == pytest.approx([10.005, 10.015, 10.035, 10.075, 10.155])


@FAST
@given(seed=st.integers(0, 10_000), s=st.sampled_from([1, 2, 4]))
def test_level_search_finds_the_plain_aggregated_optimum(seed: int, s: int) -> None:
    """Run from the continuous floor even where rounding would already prove it: same optimum as plain."""
    p = random_problem(3, 6, s, seed, rate=25.0)
    cont = ilp.build(p, "continuous")
    assert run(cont.lp, "highs", 30).status == "optimal"
    counts = ilp.read_counts(cont)
    floor = sum(g.cost * counts[j] for j, g in enumerate(p.gpus))
    incumbent = counts_for(p, round_to_slices(p, ilp.read_routing(cont)))
    ceiling = sum(g.cost * incumbent[j] for j, g in enumerate(p.gpus))
    status, m, bound = levels.search(p, "highs", floor, 0.01, ceiling, time.perf_counter() + 30, run)
    assert status == "optimal"
    best = _plain(p, "aggregated")
    got = ilp.read_counts(m)
    assert sum(g.cost * got[j] for j, g in enumerate(p.gpus)) == pytest.approx(best, abs=1e-6)
    assert floor - 1e-9 <= bound <= best + 1e-9


def test_level_search_proves_the_instance_that_rounding_cannot() -> None:
    """T2 (T1's config at s=4): the continuous split costs 4.68, whole slices 5.69, so neither rounding nor
    the fixed-count check can prove it and the levels from 4.685 up must."""
    a10g = GpuType("A10G", 1.01, ((2.0, 1.0), (5.0, 2.0)))
    a100 = GpuType("A100-80GB", 3.67, ((20.0, 20.0), (40.0, 20.0)))
    p = Problem((a10g, a100), ((6.0, 3.0), (15.0, 6.0)), 4)
    assert solve(p, SolveOptions(mode="continuous", solver="highs")).cost_per_hour == pytest.approx(4.68)
    sol = solve(p, SolveOptions(solver="highs"))
    assert sol.status == "optimal" and check(p, sol) == []
    assert sol.cost_per_hour == pytest.approx(5.69, abs=1e-6)
    assert sol.cost_per_hour == pytest.approx(_plain(p, "binary"), abs=1e-6)


@FAST
@given(seed=st.integers(0, 10_000), od=st.sampled_from([0.0, 0.5]))
def test_linking_cuts_keep_the_continuous_optimum(seed: int, od: float) -> None:
    p = random_problem(4, 12, 4, seed, rate=30.0)
    if od:
        spot = tuple(replace(g, name=f"{g.name}:spot", cost=round(g.cost / 3, 2), spot=True) for g in p.gpus)
        p = replace(p, gpus=p.gpus + spot, min_on_demand_fraction=od)
    linked = ilp.build(p, "continuous", links=violated_links(p))
    r = run(linked.lp, "highs", 30, restart=False)
    assert r.status == "optimal"
    assert r.objective == pytest.approx(_plain(p, "continuous"), abs=1e-6)
    sol = solve(p, SolveOptions(mode="continuous", solver="highs"))
    assert sol.status == "optimal" and check(p, sol) == []
    cbc = solve(p, SolveOptions(mode="continuous", solver="cbc"))  # no cuts on CBC: the old path
    assert sol.cost_per_hour == pytest.approx(cbc.cost_per_hour, abs=1e-6)


def test_linking_cuts_tighten_the_lp_bound() -> None:
    """600 buckets x 32 types: the LP bound rises from 6.24 to 6.87 $/h (optimum 7.00) with a few hundred
    of the 17,166 possible cuts."""
    p = random_problem(32, 600, 8, 0)
    pairs = violated_links(p)
    assert 0 < len(pairs) < 2000
    bounds = []
    for links in ((), pairs):
        m = ilp.build(p, "continuous", links=links)
        for v in m.counts.values():
            v.cat = "Continuous"
        assert run(m.lp, "highs", 60).status == "optimal"
        bounds.append(m.lp.objective.value())
    assert bounds[0] == pytest.approx(6.2439, abs=1e-3)
    assert bounds[1] == pytest.approx(6.8728, abs=1e-3)
