"""Rounding a continuous split to whole slices, and repairing loads that overshoot a count."""

from __future__ import annotations

import pytest

from solvers.melange.problem import GpuType, Problem
from solvers.melange.result import loads_of
from solvers.melange.rounding import counts_for, repair, round_to_slices

A = GpuType("A", 1.0, ((10.0, 10.0),))
B = GpuType("B", 2.0, ((20.0, 20.0),))
S = GpuType("S", 0.5, ((10.0, 10.0),), spot=True)


def test_round_to_slices_keeps_each_bucket_whole_and_the_on_demand_minimum() -> None:
    p = Problem((A, S), ((8.0, 4.0),), slice_factor=4, min_on_demand_fraction=0.5)
    routing = (({"A": 0.3, "S": 0.7}, {"A": 0.55, "S": 0.45}),)
    (row,) = round_to_slices(p, routing)
    for shares in row:
        assert sum(shares.values()) == pytest.approx(1.0)
        assert all(abs(v * 4 - round(v * 4)) < 1e-12 for v in shares.values())
        assert shares.get("A", 0) >= 0.5
    assert counts_for(p, (row,)) == {0: 1, 1: 1}


def test_repair_moves_a_tiny_bucket_off_a_type_without_gpus() -> None:
    p = Problem((A, B), ((9.0, 1e-7),), slice_factor=8)
    routing = (({"A": 1.0}, {"B": 1.0}),)  # B has no GPU: its 5e-9 of load would buy one
    fixed = repair(p, routing, {0: 1, 1: 0}, 1 / 8)
    assert fixed is not None and fixed[0][1] == {"A": 1.0}
    assert loads_of(p, fixed)["A"] <= 1.0 + 1e-9


def test_repair_never_moves_on_demand_traffic_to_spot_and_gives_up_without_room() -> None:
    p = Problem((A, S), ((10.5, 0.0),), slice_factor=2, min_on_demand_fraction=1.0)
    routing = (({"A": 1.0}, {}),)
    assert repair(p, routing, {0: 1, 1: 5}, 1 / 2) is None
    q = Problem((S, A), ((10.5, 0.0),), slice_factor=2)
    moved = repair(q, (({"S": 1.0}, {}),), {0: 1, 1: 1}, 1 / 2)
    assert moved is not None and moved[0][0] == {"S": 0.5, "A": 0.5}
