"""`skyctl gpu-mix solve` as a function: config file in, `MixReport` (solution, baselines, diagnosis) out."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from skyctl.gpu_mix.config import MixInput, load_config
from skyctl.gpu_mix.profile_io import user_error
from solvers.melange.baselines import Baseline, baselines
from solvers.melange.errors import ProblemError
from solvers.melange.problem import GpuType, Problem, SolveOptions, bucket_rates
from solvers.melange.result import Solution
from solvers.melange.solve import solve

DIAGNOSIS_TIME_LIMIT = 10.0  # seconds per re-solve when explaining an infeasible problem


@dataclass(frozen=True)
class Overrides:
    """Command-line settings; None keeps the config file's value."""

    slice_factor: int | None = None
    min_on_demand_fraction: float | None = None
    headroom: float | None = None
    poisson_z: float | None = None
    caps: dict[str, int] | None = None


@dataclass(frozen=True)
class MixReport:
    input: MixInput
    problem: Problem
    solution: Solution
    baselines: list[Baseline]
    prices: dict[str, tuple[float, str]]  # name -> ($/h per GPU, where the price came from)
    diagnosis: str | None = None  # why it is infeasible, naming the caps


def solve_file(path: Path, options: SolveOptions, overrides: Overrides | None = None) -> MixReport:
    """Load, apply overrides, solve; solver input errors come back as UserError naming the file."""
    o = overrides or Overrides()
    mix = load_config(path)
    if o.caps:
        mix = mix.with_caps(o.caps)
    try:
        problem = build_problem(mix, o)
        sol = solve(problem, options)
    except ProblemError as e:
        raise user_error(e, source=str(path)) from None
    diagnosis = explain_infeasible(problem, options) if sol.status == "infeasible" else None
    prices = {g.name: (g.price, g.price_source) for g in mix.gpus}
    return MixReport(mix, problem, sol, baselines(problem), prices, diagnosis)


def build_problem(mix: MixInput, o: Overrides) -> Problem:
    def pick(cli, file):
        return file if cli is None else cli

    rates = bucket_rates(mix.fractions, mix.total_rate, headroom=pick(o.headroom, mix.headroom),
                         poisson_z=pick(o.poisson_z, mix.poisson_z))
    gpus = tuple(GpuType(g.name, g.price, g.tputs, g.max_count, g.spot) for g in mix.gpus)
    return Problem(gpus, rates, pick(o.slice_factor, mix.slice_factor),
                   pick(o.min_on_demand_fraction, mix.min_on_demand_fraction),
                   mix.input_edges, mix.output_edges)


def explain_infeasible(problem: Problem, options: SolveOptions) -> str:
    """Which caps make it infeasible: those whose removal alone restores feasibility, else all together.

    Without caps every bucket has an eligible type (validated) and counts are unbounded, so caps are the
    only possible cause; they interact with the slice factor and the on-demand minimum, hence re-solving.
    """
    capped = [j for j, g in enumerate(problem.gpus) if g.max_count is not None]
    caps = ", ".join(f"{problem.gpus[j].name} <= {problem.gpus[j].max_count}" for j in capped)
    quick = replace(options, time_limit=min(options.time_limit, DIAGNOSIS_TIME_LIMIT))
    alone = []
    for j in capped:
        gpus = tuple(replace(g, max_count=None) if i == j else g for i, g in enumerate(problem.gpus))
        if solve(replace(problem, gpus=gpus), quick).status != "infeasible":
            alone.append(problem.gpus[j].name)
    od = (f" with at least {problem.min_on_demand_fraction:g} of each bucket on on-demand GPUs"
          if problem.min_on_demand_fraction > 0 else "")
    where = f" at slice factor {problem.slice_factor}" if options.mode != "continuous" else ""
    msg = f"infeasible: the caps ({caps}) cannot carry the workload{od}{where}"
    if alone:
        return f"{msg}; raising the cap on {' or '.join(alone)} alone makes it feasible"
    return f"{msg}; no single cap is to blame: raise several, or add GPU types"
