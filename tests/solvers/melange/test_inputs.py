"""Bad inputs are named precisely (field, value, fix); profiles round-trip; inputs are never mutated."""

from __future__ import annotations

import copy

import pytest

from solvers.melange.errors import ProblemError
from solvers.melange.problem import GpuType, Problem, SolveOptions, bucket_rates
from solvers.melange.profile import ThroughputProfile
from solvers.melange.solve import solve

PROFILE = {
    "kind": "skyctl/profile-v1", "model": "m", "source": "test", "slo": {"tpot_ms": 120, "ttft_ms": None},
    "input_edges": [25, 100], "output_edges": [25, 100, 250],
    "gpus": {"L4": [[5, 2, 1], [3, 1, 0]], "H100": [[50, 20, 10], [30, 10, 5]]},
}


def raises(fn, *fragments: str) -> ProblemError:
    with pytest.raises(ProblemError) as e:
        fn()
    for f in fragments:
        assert f in str(e.value), str(e.value)
    return e.value


def test_profile_round_trips_and_is_not_mutated() -> None:
    d = copy.deepcopy(PROFILE)
    p = ThroughputProfile.from_dict(d)
    assert d == PROFILE
    assert p.shape == (2, 3) and p.tputs["L4"][1][2] == 0.0
    assert ThroughputProfile.from_dict(p.to_dict()) == p
    assert p.to_dict()["input_edges"] == [25, 100]


@pytest.mark.parametrize("mutate,fragments", [
    (lambda d: d["gpus"]["L4"].pop(), ("gpus.L4", "1 rows", "2 input buckets", "rows are input")),
    (lambda d: d["gpus"]["H100"][1].append(3), ("gpus.H100[1]", "4 columns", "3 output buckets")),
    (lambda d: d["gpus"]["L4"][0].__setitem__(1, -2), ("gpus.L4[0][1]", ">= 0", "-2")),
    (lambda d: d["gpus"]["L4"][0].__setitem__(1, "fast"), ("gpus.L4[0][1]", "must be a number")),
    (lambda d: d.__setitem__("input_edges", [100, 25]), ("input_edges[1]", "strictly increasing")),
    (lambda d: d.__setitem__("kind", "other"), ("kind", "skyctl/profile-v1")),
    (lambda d: d.__setitem__("gpus", {}), ("gpus",)),
])
def test_profile_errors_name_gpu_row_and_column(mutate, fragments) -> None:
    d = copy.deepcopy(PROFILE)
    mutate(d)
    raises(lambda: ThroughputProfile.from_dict(d, "prof"), *fragments)


def problem(**kw) -> Problem:
    gpus = (GpuType("A", 1.0, ((2.0, 1.0), (5.0, 2.0))), GpuType("B", 3.0, ((20.0, 0.0), (40.0, 20.0))))
    base = dict(gpus=gpus, rates=((1.0, 2.0), (3.0, 4.0)), slice_factor=2, input_edges=(25.0, 100.0),
                output_edges=(25.0, 100.0))
    base.update(kw)
    return Problem(**base)


def test_shape_mismatch_says_which_table_and_orientation() -> None:
    p = problem(gpus=(GpuType("A", 1.0, ((2.0, 1.0, 1.0), (5.0, 2.0, 1.0))),))
    raises(lambda: solve(p), "gpus.A.tputs[0]", "3 columns", "workload histogram (2x2)", "columns are output")


def test_uncovered_buckets_are_named() -> None:
    p = problem(gpus=(GpuType("A", 1.0, ((2.0, 0.0), (0.0, 2.0))),))
    e = raises(lambda: solve(p), "no GPU type can serve 2 bucket(s)",
               "input 0-25 x output 25-100 tokens [0][1]", "input 25-100 x output 0-25 tokens [1][0]")
    assert e.field == "workload"
    # a bucket nobody serves is fine when it has no traffic
    assert solve(problem(gpus=(GpuType("A", 1.0, ((2.0, 0.0), (5.0, 2.0))),),
                         rates=((1.0, 0.0), (3.0, 4.0)))).status == "optimal"


def test_on_demand_minimum_needs_an_on_demand_type_per_bucket() -> None:
    gpus = (GpuType("A", 1.0, ((2.0, 1.0), (5.0, 2.0)), spot=True),
            GpuType("B", 3.0, ((20.0, 0.0), (40.0, 20.0))))
    raises(lambda: solve(problem(gpus=gpus, min_on_demand_fraction=0.5)), "no on-demand GPU type", "[0][1]")
    assert solve(problem(gpus=gpus, min_on_demand_fraction=0.0)).status == "optimal"


@pytest.mark.parametrize("kw,fragments", [
    ({"slice_factor": 0}, ("slice_factor", ">= 1")),
    ({"min_on_demand_fraction": 1.5}, ("min_on_demand_fraction", "between 0 and 1")),
    ({"rates": ((1.0, -2.0), (3.0, 4.0))}, ("workload[0][1]", ">= 0")),
    ({"gpus": (GpuType("A", -1.0, ((2.0, 1.0), (5.0, 2.0))),)}, ("gpus.A.cost",)),
    ({"gpus": (GpuType("A", 1.0, ((2.0, 1.0), (5.0, 2.0)), max_count=-1),)}, ("gpus.A.max_count",)),
    ({"gpus": ()}, ("no GPU types",)),
])
def test_bad_values(kw, fragments) -> None:
    raises(lambda: solve(problem(**kw)), *fragments)


def test_bad_options() -> None:
    raises(lambda: solve(problem(), SolveOptions(mode="greedy")), "mode", "aggregated, binary, continuous")
    raises(lambda: solve(problem(), SolveOptions(solver="gurobi")), "solver", "highs, cbc")
    raises(lambda: solve(problem(), SolveOptions(time_limit=0)), "time_limit")


def test_bucket_rates_checks_fractions_and_adds_headroom() -> None:
    raises(lambda: bucket_rates(((0.5, 0.6),), 10), "sum to 1.1, not 1", "normalise")
    assert bucket_rates(((0.25, 0.75),), 8, headroom=0.5) == ((3.0, 9.0),)
    (r,) = bucket_rates(((0.5, 0.5),), 8, poisson_z=2.0)
    assert r == pytest.approx((4 + 2 * 2, 4 + 2 * 2))
    raises(lambda: bucket_rates(((1.0,),), 8, headroom=-0.1), "headroom")


def test_headroom_buys_capacity() -> None:
    p = problem()
    sized = bucket_rates(((0.1, 0.2), (0.3, 0.4)), 10, headroom=0.5)
    assert sum(map(sum, sized)) == pytest.approx(15.0)
    more = solve(Problem(p.gpus, sized, 2))
    assert more.cost_per_hour > solve(p).cost_per_hour
