"""The count search of `solvers.melange.fit`: the aggregated optimum, proven, whatever the master relaxes;
a cut per refuted count vector; an honest `feasible` when only the exact check refuted cheaper counts."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from solvers.melange import fit, ilp, probed
from solvers.melange.backend import run
from solvers.melange.links import RootLP
from solvers.melange.problem import GpuType, Problem
from solvers.melange.synthetic import random_problem

FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _search(p: Problem, limit: float = 30.0) -> tuple[probed.Split, float]:
    """fit.search as solve() calls it, with the continuous optimum as floor; also returns the floor."""
    root = RootLP(p)
    split = probed.solve_split(p, time.perf_counter() + limit, root)
    floor = p.cost_of(split.counts)
    return fit.search(p, root, floor, None, time.perf_counter() + limit), floor


def _cbc_aggregated(p: Problem) -> float:
    """The plain aggregated model on CBC: an independent reference (HiGHS's presolve misreported seed 400,
    see backend.SLICE_MODEL_OPTIONS)."""
    r = run(ilp.build(p, "aggregated").lp, "cbc", 30)
    assert r.status == "optimal"
    return r.objective


@FAST
@given(seed=st.integers(0, 10_000), kind=st.sampled_from(["plain", "caps", "spot"]),
       heavy=st.sampled_from([0.0, 0.03, math.inf]))
@example(seed=400, kind="plain", heavy=0.03)
@example(seed=80, kind="plain", heavy=math.inf)
def test_search_matches_the_plain_aggregated_model(variant, seed: int, kind: str, heavy: float) -> None:
    """heavy 0 makes the master the aggregated model itself, inf the continuous split (most cuts)."""
    p = variant(random_problem(5, 12, 4, seed, rate=30.0), seed, kind)
    if probed.solve_split(p, time.perf_counter() + 30).status == "infeasible":
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fit, "HEAVY_SLICE", heavy)
        got, floor = _search(p)
    assert got.status == "optimal"
    assert p.cost_of(got.counts) == pytest.approx(_cbc_aggregated(p), abs=1e-6)
    assert floor - 1e-9 <= got.bound == pytest.approx(p.cost_of(got.counts), abs=1e-6)


def _two_types() -> Problem:
    """One bucket of 10 req/s in two slices of 5. A: 6 req/s for 1 $/h, B: 4 req/s for 0.9 $/h. The
    continuous split fills one of each exactly (1.90 $/h), but a slice of 5 req/s does not fit one B, so
    whole slices need two A (2.00 $/h: B alone needs 3 for 2.70, one A and two B cost 2.80)."""
    a = GpuType("A", 1.0, ((6.0,),))
    b = GpuType("B", 0.9, ((4.0,),))
    return Problem((a, b), ((10.0,),), slice_factor=2)


def test_refuted_counts_are_cut_until_slices_fit(monkeypatch) -> None:
    """With every slice continuous in the master, it first proposes the continuous optimum (A=1, B=1); the
    check refutes it, and the cut "A >= 2 or B >= 2" leads to two A."""
    monkeypatch.setattr(fit, "HEAVY_SLICE", math.inf)
    cuts = []
    real_cut = fit._Master.cut
    monkeypatch.setattr(fit._Master, "cut", lambda self, counts: (cuts.append(dict(counts)),
                                                                  real_cut(self, counts)))
    p = _two_types()
    got, floor = _search(p)
    assert floor == pytest.approx(1.9)
    assert cuts == [{0: 1, 1: 1}]
    assert got.status == "optimal" and got.counts == {0: 2, 1: 0}
    assert got.bound == pytest.approx(2.0)


def test_counts_that_fit_only_within_the_margin_leave_the_bound_there(monkeypatch) -> None:
    """A margin of 0.5 GPU lets A=1, B=1 carry a slice each (B at 1.25): refuted only by the exact check,
    so the answer, two A, is reported `feasible` with the bound at 1.90, not as a proven optimum."""
    monkeypatch.setattr(fit, "HEAVY_SLICE", math.inf)
    monkeypatch.setattr(fit, "FIT_MARGIN", 0.5)
    got, _ = _search(_two_types())
    assert got.status == "feasible" and got.counts == {0: 2, 1: 0}
    assert got.bound == pytest.approx(1.9)


def test_search_stopped_by_the_clock_returns_the_incumbent_and_a_valid_bound() -> None:
    p = _two_types()
    root = RootLP(p)
    incumbent = probed.Split("feasible", (({"B": 1.0},),), {0: 0, 1: 3}, 1.9)
    got = fit.search(p, root, 1.9, incumbent, time.perf_counter() - 1.0)
    assert got.status == "time_limit" and got.counts == {0: 0, 1: 3}
    assert got.bound == pytest.approx(1.9)
