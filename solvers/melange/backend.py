"""Run a PuLP model on HiGHS (highspy API) or CBC and report honestly how the solve ended.

PuLP labels a time-limited incumbent "Optimal"; here the backend's own status decides: `optimal` only for a
proven optimum, `time_limit` for an incumbent stopped by the clock, `infeasible`, or `no_solution`.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import pulp

from solvers.melange.errors import ProblemError

SOLVERS = ("highs", "cbc")
MIP_REL_GAP = 1e-9  # prove the optimum, not "within 0.01%" (HiGHS's default)
TIGHT_MODEL_OPTIONS = {"mip_allow_restart": False, "mip_heuristic_run_rins": False,
                       "mip_heuristic_run_rens": False}
# The slice models (aggregated, binary) have capacity coefficients as small as a slice of a bucket with
# 1e-4 req/s: ~1e-7 GPU, under HiGHS's default MIP feasibility tolerance (1e-6). There HiGHS 1.15's presolve
# called dearer mixes optimal (random_problem(5, 12, 4, 80 or 400, rate=30): 3.62 and 21.32 $/h where 3.14
# and 18.96 are feasible); at 1e-9 it finds the optimum (docs/benchmarks.md).
SLICE_MODEL_OPTIONS = {"mip_feasibility_tolerance": 1e-9}


@dataclass(frozen=True)
class RunResult:
    status: str  # optimal | time_limit | feasible | infeasible | no_solution
    objective: float | None
    bound: float | None  # best proven lower bound (HiGHS), None when the backend does not say
    seconds: float


def default_solver() -> str:
    """HiGHS when highspy is importable, CBC (bundled with PuLP) otherwise."""
    return "highs" if pulp.HiGHS().available() else "cbc"


def resolve_solver(name: str | None) -> str:
    if name is None:
        return default_solver()
    if name not in SOLVERS:
        raise ProblemError(f"unknown solver, expected one of {', '.join(SOLVERS)}", field="solver",
                           value=name)
    if name == "highs" and not pulp.HiGHS().available():
        raise ProblemError("HiGHS is not installed", field="solver", value=name,
                           fix="pip install highspy, or use --solver cbc")
    return name


def run(model: pulp.LpProblem, solver: str, time_limit: float, mode: str | None = None) -> RunResult:
    """Solve `model`, a model of formulation `mode`, in place (variable values are set) within `time_limit`
    seconds; `mode` None runs HiGHS with its defaults (the benchmarks' plain baseline).

    HiGHS options depend on the formulation. The continuous split's LP bound is already tight (linking
    cuts): no root restarts (they redo the root cut loop) and no RINS/RENS sub-MIPs, which cost more there
    than they find (600 buckets x 32 types: median 2.4 s instead of 2.9 s over 5 seeds, each faster). The
    slice models get SLICE_MODEL_OPTIONS.

    No MIP start is passed: with highspy 1.15, `setSolution` before `run` made HiGHS report dearer
    solutions as proven optimal on our 200x24 instances (28.81 and 28.92 "optimal" where 28.69 is feasible
    and proven by the same HiGHS without the start), so a start would cost the one thing we guarantee.
    """
    t0 = time.perf_counter()
    limit = max(time_limit, 0.01)
    if solver == "highs":
        extra = {} if mode is None else TIGHT_MODEL_OPTIONS if mode == "continuous" else SLICE_MODEL_OPTIONS
        model.solve(pulp.HiGHS(msg=False, timeLimit=limit, gapRel=MIP_REL_GAP, **extra))
        return _highs_result(model, time.perf_counter() - t0)
    with warnings.catch_warnings():  # PuLP 3.x deprecates the bundled CBC; it is still our fallback
        warnings.simplefilter("ignore", DeprecationWarning)
        cbc = pulp.PULP_CBC_CMD(msg=False, timeLimit=limit, gapRel=MIP_REL_GAP)
    model.solve(cbc)
    return _cbc_result(model, time.perf_counter() - t0)


def _highs_result(model: pulp.LpProblem, seconds: float) -> RunResult:
    return highs_result(model.solverModel, seconds)


def highs_result(h, seconds: float) -> RunResult:
    """How a solve on the highspy object `h` ended (also for models built on highspy directly: `fit`)."""
    import highspy

    status = h.getModelStatus()
    info = h.getInfo()
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    obj = info.objective_function_value if has_solution else None
    bound = info.mip_dual_bound if math.isfinite(info.mip_dual_bound) else None
    st = highspy.HighsModelStatus
    if status == st.kOptimal:
        return RunResult("optimal", obj, obj, seconds)
    if status in (st.kInfeasible, st.kUnboundedOrInfeasible):
        return RunResult("infeasible", None, None, seconds)
    if not has_solution:
        return RunResult("no_solution", None, bound, seconds)
    return RunResult("time_limit" if status == st.kTimeLimit else "feasible", obj, bound, seconds)


def _cbc_result(model: pulp.LpProblem, seconds: float) -> RunResult:
    obj = pulp.value(model.objective)
    if model.status == pulp.LpStatusOptimal and model.sol_status == pulp.LpSolutionOptimal:
        return RunResult("optimal", obj, obj, seconds)
    if model.status == pulp.LpStatusInfeasible:
        return RunResult("infeasible", None, None, seconds)
    if model.sol_status == pulp.LpSolutionIntegerFeasible:
        return RunResult("time_limit", obj, None, seconds)
    return RunResult("no_solution", None, None, seconds)
