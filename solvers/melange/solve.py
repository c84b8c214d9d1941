"""`solve(problem, options) -> Solution`: validate, build the chosen formulation, solve, check, report.

The aggregated mode first solves the continuous split (only the counts are integer, so it is fast). Its
optimum is a proven lower bound for every integer-slice model. If rounding whole slices matches it, the
optimum is proven at once; otherwise, on HiGHS, the count search of `fit` proves the optimum (a master over
counts, a check that whole slices fit them), and on CBC the full aggregated MIP runs. A clock that stops
either keeps the best solution with the bound proven so far.
"""

from __future__ import annotations

import math
import time

from solvers.melange import fit, ilp
from solvers.melange.backend import RunResult, resolve_solver, run
from solvers.melange.errors import ProblemError
from solvers.melange.links import RootLP
from solvers.melange.probed import Split, solve_split
from solvers.melange.problem import MODES, Problem, SolveOptions
from solvers.melange.reduce import dominated, without
from solvers.melange.result import LOAD_TOLERANCE, LP_TOLERANCE, Routing, Solution, loads_of
from solvers.melange.rounding import counts_for, repair, round_to_slices
from solvers.melange.validate import validate

HAS_SOLUTION = ("optimal", "time_limit", "feasible")


def solve(problem: Problem, options: SolveOptions | None = None) -> Solution:
    """The cheapest integer GPU counts (and routing) for `problem`; never reports an incumbent as optimal."""
    options = options or SolveOptions()
    validate(problem)
    if options.mode not in MODES:
        raise ProblemError(f"unknown mode, expected one of {', '.join(MODES)}", field="mode",
                           value=options.mode)
    if not options.time_limit > 0:
        raise ProblemError("must be > 0 seconds", field="time_limit", value=options.time_limit)
    solver = resolve_solver(options.solver)
    t0 = time.perf_counter()
    drop = dominated(problem)
    small = without(problem, drop)
    if options.mode == "aggregated":
        a = _aggregated(small, solver, t0 + options.time_limit)
        status, routing, counts, bound = a.status, a.routing, a.counts, a.bound
    elif options.mode == "continuous":
        c = _continuous(small, solver, t0 + options.time_limit)
        status, routing, counts, bound = c.status, c.routing, c.counts, c.bound
    else:
        m = ilp.build(small, options.mode)
        r = run(m.lp, solver, options.time_limit, options.mode)
        status, routing, counts, bound = _read(m, r)
    if counts is not None:  # back to the caller's type indices; dominated types get none
        kept = [j for j in range(len(problem.gpus)) if j not in drop]
        counts = {j: 0 for j in drop} | {kept[i]: c for i, c in counts.items()}
    return _finish(problem, options.mode, solver, status, routing, counts, bound, time.perf_counter() - t0)


def _read(m: ilp.Model, r: RunResult) -> tuple[str, Routing | None, dict[int, int] | None, float | None]:
    if r.status not in HAS_SOLUTION:
        return r.status, None, None, r.bound
    return r.status, ilp.read_routing(m), ilp.read_counts(m), r.bound


def _continuous(problem: Problem, solver: str, deadline: float, root: RootLP | None = None) -> Split:
    """The continuous split; on HiGHS with linking cuts over the probed types and counts (`probed`)."""
    if solver == "highs":
        return solve_split(problem, deadline, root)
    return _plain(problem, "continuous", solver, deadline)


def _plain(problem: Problem, mode: str, solver: str, deadline: float) -> Split:
    m = ilp.build(problem, mode)
    return Split(*_read(m, run(m.lp, solver, deadline - time.perf_counter(), mode)))


def _aggregated(problem: Problem, solver: str, deadline: float) -> Split:
    """Continuous bound -> rounding and repair -> the count search of `fit` (HiGHS) or the full MIP (CBC)."""
    root = RootLP(problem) if solver == "highs" else None
    cont = _continuous(problem, solver, deadline, root)
    if cont.status == "infeasible":  # the integer models' feasible sets are subsets of this one
        return Split("infeasible", None, None, None)
    if cont.status != "optimal":
        return _plain(problem, "aggregated", solver, deadline)
    cont_counts = cont.counts
    floor = problem.cost_of(cont_counts)
    rounded = round_to_slices(problem, cont.routing)
    fitted = repair(problem, rounded, cont_counts, 1.0 / problem.slice_factor)
    if fitted is not None:  # whole slices fit the continuous optimum's counts: proven optimal
        return Split("optimal", fitted, cont_counts, floor)
    counts = counts_for(problem, rounded)
    incumbent = Split("time_limit", rounded, counts, floor) if counts is not None else None
    if root is not None and root.bound is not None:
        return fit.search(problem, root, floor, incumbent, deadline)
    full = _plain(problem, "aggregated", solver, deadline)
    if full.status in HAS_SOLUTION:
        proven = full.status == "optimal" or problem.cost_of(full.counts) <= floor + 1e-9
        return Split("optimal" if proven else full.status, full.routing, full.counts,
                     max(floor, full.bound or floor))
    if full.status != "infeasible" and incumbent is not None:  # the clock ran out: keep the rounded one
        return incumbent
    return Split(full.status, None, None, floor)


def _finish(problem: Problem, mode: str, solver: str, status: str, routing: Routing | None,
            counts: dict[int, int] | None, bound: float | None, seconds: float) -> Solution:
    """Exact loads from the routing; counts trimmed to the fewest GPUs that fit (and never too few)."""
    names = [g.name for g in problem.gpus]
    if routing is None or counts is None:
        rows, cols = problem.shape
        empty = tuple(tuple({} for _ in range(cols)) for _ in range(rows))
        return Solution(status, mode, solver, dict.fromkeys(names, 0), 0.0, dict.fromkeys(names, 0.0),
                        empty, bound, seconds)
    tol = LP_TOLERANCE if mode == "continuous" else LOAD_TOLERANCE
    loads = loads_of(problem, routing)
    if any(loads[g.name] > counts[j] + tol for j, g in enumerate(problem.gpus)):
        fixed = repair(problem, routing, counts, None if mode == "continuous" else 1.0 / problem.slice_factor)
        if fixed is not None:
            routing, loads = fixed, loads_of(problem, fixed)
    final = {}
    for j, n in enumerate(names):
        need = max(0, math.ceil(loads[n] - tol))
        if need > counts[j] and status == "optimal":
            status = "feasible"  # the backend's tolerance hid a shortfall; the fixed count is not proven
        final[n] = need if problem.gpus[j].cost > 0 or need > counts[j] else counts[j]
    cost = sum(g.cost * final[g.name] for g in problem.gpus)
    if bound is not None:
        bound = min(bound, cost)
    return Solution(status, mode, solver, final, cost, loads, _fill_idle(problem, routing, final), bound,
                    seconds)


def _fill_idle(problem: Problem, routing: Routing, counts: dict[str, int]) -> Routing:
    """Buckets without traffic still need weights for a load balancer: split them by deployed capacity
    (count x throughput), the paper's load-balancer rule, over the types that can serve them."""
    out = [list(row) for row in routing]
    for i, row in enumerate(problem.rates):
        for k, r in enumerate(row):
            if r > 0:
                continue
            cap = {g.name: counts[g.name] * g.tputs[i][k] for g in problem.gpus if g.tputs[i][k] > 0}
            total = sum(cap.values())
            out[i][k] = {n: c / total for n, c in cap.items() if c > 0} if total > 0 else {}
    return tuple(tuple(row) for row in out)
