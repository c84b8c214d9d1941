"""The omniscient optimum against brute force, the per-tick model, and hand-checked cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from solvers.melange.errors import ProblemError
from solvers.spot.optimal import SpotProblem, blocks, evaluate, ready_counts, solve


def brute_force(problem: SpotProblem) -> float:
    """The cheapest fully available plan by enumerating every alive count per row and tick."""
    cap = problem.capacity
    n_zones, n = cap.shape
    rows = [list(itertools.product(*(range(min(int(cap[z, t]), problem.target) + 1) for t in range(n))))
            for z in range(n_zones)]
    rows.append(list(itertools.product(range(problem.target + 1), repeat=n)))
    best = np.inf
    for plan in itertools.product(*rows):
        s = evaluate(problem, np.array(plan[:-1]).reshape(n_zones, n), np.array(plan[-1]))
        if s.availability == 1.0:
            best = min(best, s.cost)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_matches_brute_force_on_tiny_instances(seed: int) -> None:
    rng = np.random.default_rng(seed)
    zones, ticks, target, cold = [(1, 5, 2, 1), (2, 4, 1, 1), (2, 5, 1, 2)][seed % 3]
    cap = rng.integers(0, target + 1, size=(zones, ticks))
    prices = tuple(rng.uniform(0.5, 1.5, size=zones).round(2))
    problem = SpotProblem(cap, target=target, cold=cold, spot_price=prices, tick_seconds=3600)
    got = solve(problem)
    assert got.status == "optimal" and got.availability == 1.0
    assert got.cost == pytest.approx(brute_force(problem))


@pytest.mark.parametrize("seed", range(4))
def test_aggregated_blocks_lose_nothing_against_the_per_tick_model(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    runs = rng.integers(0, 4, size=(3, 12))  # 12 runs of 10 ticks, like 300 s points on 30 s ticks
    cap = np.repeat(runs, 10, axis=1)
    problem = SpotProblem(cap, target=3, cold=4, spot_price=tuple(rng.uniform(0.8, 1.2, 3).round(3)))
    fast, full = solve(problem), solve(problem, aggregate=False)
    assert fast.status == full.status == "optimal"
    assert fast.cost == pytest.approx(full.cost) and fast.availability == 1.0


def test_spot_everywhere_costs_a_third_plus_nothing() -> None:
    cap = np.full((3, 40), 3)
    s = solve(SpotProblem(cap, target=3, cold=4))
    assert s.cost_pct == pytest.approx(100 / 3) and s.ondemand.sum() == 0
    assert (s.ready[4:] == 3).all() and (s.ready[:4] == 0).all()


def test_no_spot_means_all_on_demand() -> None:
    s = solve(SpotProblem(np.zeros((2, 20), dtype=int), target=2, cold=3))
    assert s.cost_pct == pytest.approx(100.0) and (s.ondemand == 2).all()


def test_prewarms_another_zone_before_a_known_drop() -> None:
    # zone 0 holds 1 until tick 10, zone 1 from tick 0: the plan moves before the drop without on-demand
    cap = np.array([[1] * 10 + [0] * 10, [1] * 20])
    s = solve(SpotProblem(cap, target=1, cold=2, spot_price=(1.0, 2.0)))
    assert s.ondemand.sum() == 0 and s.availability == 1.0
    assert s.alive[1, :7].sum() == 0 and (s.alive[1, 8:] == 1).all()  # launched exactly cold ticks early
    assert s.cost == pytest.approx((10 * 1.0 + 12 * 2.0) * 30 / 3600)


def test_ready_counts_are_window_minima() -> None:
    assert ready_counts(np.array([2, 3, 1, 3, 3, 3]), 2).tolist() == [[0, 0, 1, 1, 1, 3]]


def test_blocks_cover_every_tick_once_and_keep_ends_fine() -> None:
    cap = np.repeat(np.array([[1, 2, 2, 0]]), 10, axis=1)
    spans = blocks(cap, 3)
    assert [t for s, e in spans for t in range(s, e)] == list(range(40))
    assert (4, 7) in spans and (14, 27) in spans  # runs of 10 and 20 ticks keep 4 head + 3 tail singles


def test_bad_input_is_a_problem_error() -> None:
    with pytest.raises(ProblemError) as err:
        solve(SpotProblem(np.zeros((2, 3), dtype=int), cold=4))
    assert err.value.field == "capacity"
    with pytest.raises(ProblemError):
        solve(SpotProblem(np.ones((2, 10), dtype=int), spot_price=(1.0,)))
