"""Up-front checks of a `Problem`, so that the ILP never sees a malformed or trivially infeasible input.

Catches what the reference code turns into ZeroDivisionError/IndexError or a silent `None`: shape mismatches,
negative or non-numeric values, and buckets with traffic that no GPU type can serve.
"""

from __future__ import annotations

from solvers.melange.errors import ProblemError
from solvers.melange.problem import Problem
from solvers.melange.values import matrix, number

MAX_LISTED = 8  # uncovered buckets named in one message


def validate(problem: Problem) -> None:
    """Raise `ProblemError` naming the field, the value and the fix for the first problem found."""
    if not problem.gpus:
        raise ProblemError("no GPU types given", field="gpus", fix="list at least one GPU type")
    rates = matrix(problem.rates, "workload")
    shape = (len(rates), len(rates[0]))
    seen: set[str] = set()
    for g in problem.gpus:
        if g.name in seen:
            raise ProblemError("GPU type listed twice", field=f"gpus.{g.name}", fix="list each type once")
        seen.add(g.name)
        number(g.cost, f"gpus.{g.name}.cost")
        matrix(g.tputs, f"gpus.{g.name}.tputs", shape,
               expected_from=f"the workload histogram ({shape[0]}x{shape[1]})")
        if g.max_count is not None and (isinstance(g.max_count, bool) or not isinstance(g.max_count, int)
                                        or g.max_count < 0):
            raise ProblemError("must be a whole number >= 0", field=f"gpus.{g.name}.max_count",
                               value=g.max_count)
    s = problem.slice_factor
    if isinstance(s, bool) or not isinstance(s, int) or s < 1:
        raise ProblemError("must be a whole number >= 1", field="slice_factor", value=s)
    a = number(problem.min_on_demand_fraction, "min_on_demand_fraction")
    if a > 1:
        raise ProblemError("must be between 0 and 1", field="min_on_demand_fraction", value=a)
    _check_coverage(problem, range(len(problem.gpus)), "no GPU type can serve",
                    "add a GPU type whose profile is non-zero there, or remove that traffic")
    if a > 0:
        on_demand = [j for j, g in enumerate(problem.gpus) if not g.spot]
        _check_coverage(problem, on_demand, "no on-demand GPU type can serve",
                        "add an on-demand type that serves them, or set the on-demand fraction to 0")


def _check_coverage(problem: Problem, types, what: str, fix: str) -> None:
    types = list(types)
    bad = [b for b in problem.buckets() if not any(problem.eligible(j, b) for j in types)]
    if bad:
        named = "; ".join(f"{problem.bucket_label(b)} at {problem.rates[b[0]][b[1]]:.4g} req/s"
                          for b in bad[:MAX_LISTED])
        more = f" and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
        raise ProblemError(f"{what} {len(bad)} bucket(s) that have traffic: {named}{more}",
                           field="workload", fix=fix)
