"""Fixtures for the Mélange solver tests: the shared reference data beside the repo clone."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from solvers.melange.problem import GpuType, Problem

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "melange"


@pytest.fixture(scope="session")
def melange_data() -> Path:
    if not (DATA / "toy_examples.json").exists():
        pytest.skip(f"reference data not found at {DATA.resolve()} (the shared/ folder beside the repo)")
    return DATA


@pytest.fixture(scope="session")
def load_json(melange_data: Path):
    def load(name: str):
        return json.loads((melange_data / name).read_text())

    return load


@pytest.fixture(scope="session")
def melange_problem():
    """A function: config in the original tool's format (+ overrides) -> Problem (a fixture, not an import:
    test folders have no __init__.py, so `from conftest import ...` could find another folder's conftest)."""
    return _melange_problem


def _melange_problem(cfg: dict, *, slice_factor: int | None = None, rate: float | None = None,
                     caps: dict[str, int] | None = None) -> Problem:
    """A Problem from a config in the original tool's format (as the tool reads it)."""
    caps = caps or {}
    gpus = tuple(GpuType(n, v["cost"], tuple(map(tuple, v["tputs"])), caps.get(n))
                 for n, v in cfg["gpu_info"].items())
    total = rate if rate is not None else cfg["total_request_rate"]
    # rates as the tool computes them, without our sum-to-1 check: the notebook toy (T3) sums to 1.25
    rates = tuple(tuple(p * total for p in row) for row in cfg["workload_distribution"])
    return Problem(gpus, rates, slice_factor or cfg["slice_factor"])


@pytest.fixture(scope="session")
def variant():
    """A function (problem, seed, kind) -> Problem: kind "caps" caps one type (the one the LP may like best),
    "spot" adds a spot copy of every type at a third of the price with an on-demand minimum of 0.5."""
    return _variant


def _variant(p: Problem, seed: int, kind: str) -> Problem:
    if kind == "caps":  # a cap on the type the LP likes best makes probes beyond it infeasible
        return replace(p, gpus=tuple(replace(g, max_count=1 + seed % 2) if j == seed % len(p.gpus) else g
                                     for j, g in enumerate(p.gpus)))
    if kind == "spot":
        spot = tuple(replace(g, name=f"{g.name}:spot", cost=round(g.cost / 3, 2), spot=True) for g in p.gpus)
        return replace(p, gpus=p.gpus + spot, min_on_demand_fraction=0.5)
    return p
