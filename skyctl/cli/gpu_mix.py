"""`skyctl gpu-mix`: the cheapest mix of GPU types for a workload (Mélange ILP), and its profiles."""

from __future__ import annotations

from pathlib import Path

import typer

from skyctl.cli import gpu_mix_profile
from skyctl.cli.output import console, err_console, print_json, table, want_json
from skyctl.errors import Failure, UserError
from skyctl.gpu_mix.render import report_json, routing_rows
from skyctl.gpu_mix.service import MixReport, Overrides, solve_file
from solvers.melange.problem import SolveOptions

app = typer.Typer(no_args_is_help=True)
app.command("estimate")(gpu_mix_profile.estimate)
app.command("profile")(gpu_mix_profile.profile)


@app.command("solve")
def solve(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Mélange config (gpu_info, ...) or skyctl gpu-mix YAML."),
    slice_factor: int | None = typer.Option(None, "--slice-factor", min=1,
                                            help="Slices per bucket (default: the config's, else 8)."),
    mode: str = typer.Option("aggregated", "--mode", help="aggregated | binary | continuous."),
    time_limit: float = typer.Option(60.0, "--time-limit", help="Seconds before reporting the incumbent."),
    solver: str | None = typer.Option(None, "--solver", help="highs | cbc (default: HiGHS if installed)."),
    min_on_demand: float | None = typer.Option(
        None, "--min-on-demand-fraction",
        help="Share of every bucket's traffic that on-demand GPUs must carry on their own (spot mixes)."),
    headroom: float | None = typer.Option(None, "--headroom", help="Size for (1+H) x the rate, e.g. 0.2."),
    poisson_z: float | None = typer.Option(
        None, "--poisson-z", help="Add z*sqrt(rate) per bucket (Poisson quantile, e.g. 1.645)."),
    cap: list[str] = typer.Option([], "--cap", help="Maximum count, NAME=N (repeatable)."),
    show_routing: bool = typer.Option(False, "--show-routing", help="Print every bucket's routing weights."),
    json_: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Find the cheapest mix of GPU types that serves the workload within the profile's SLO."""
    overrides = Overrides(slice_factor, min_on_demand, headroom, poisson_z, _caps(cap))
    options = SolveOptions(mode=mode, solver=solver, time_limit=time_limit)
    as_json = want_json(ctx, json_)
    if as_json:
        report = solve_file(config, options, overrides)
    else:
        with err_console.status(f"solving ({mode}, time limit {time_limit:g} s)..."):
            report = solve_file(config, options, overrides)
    s = report.solution
    if as_json:
        print_json(report_json(report))
    else:
        _render(report, show_routing)
    if s.status == "infeasible":
        raise UserError(report.diagnosis or "infeasible", source=str(config),
                        fix="raise or drop a --cap / max_count, or add GPU types")
    if s.status == "no_solution":
        raise Failure(f"no feasible mix found within the time limit of {time_limit:g} s; raise --time-limit")


def _caps(items: list[str]) -> dict[str, int]:
    caps = {}
    for item in items:
        name, _, n = item.partition("=")
        if not name or not n.strip().isdigit():
            raise UserError("expected NAME=N with N a whole number >= 0", field="--cap", value=item)
        caps[name.strip()] = int(n)
    return caps


def _render(r: MixReport, show_routing: bool) -> None:
    s = r.solution
    if s.status in ("infeasible", "no_solution"):
        return
    util = s.utilization
    rows = [(n, c, f"{r.prices[n][0]:.4g}", f"{c * r.prices[n][0]:.2f}", f"{s.loads[n]:.3f}",
             f"{100 * util[n]:.1f}%") for n, c in s.allocation.items()]
    console.print(table(f"GPU mix for {r.input.source}", ["GPU", "count", "$/h each", "$/h", "load", "util"],
                        rows, justify=_right))
    gap = "" if s.status == "optimal" else f", gap {100 * (s.gap or 0):.3g}% (not proven optimal)"
    console.print(f"[bold]${s.cost_per_hour:.2f}/h[/]  status {s.status}{gap}  "
                  f"solved in {s.solve_seconds:.2f} s "
                  f"({s.mode}, {s.solver}, slice factor {r.problem.slice_factor}, "
                  f"{sum(map(sum, r.problem.rates)):.4g} req/s sized)", highlight=False)
    base = [(b.gpu, "-" if b.count is None else b.count,
             "cannot serve every bucket" if b.cost_per_hour is None else f"{b.cost_per_hour:.2f}",
             "" if b.cost_per_hour is None else f"{b.savings_pct(s.cost_per_hour):.1f}%")
            for b in r.baselines]
    console.print(table("Single-type baselines", ["GPU", "count", "$/h", "mix saves"], base, justify=_right))
    if show_routing:
        rt = [(f"{e.get('input_tokens', e['input_bucket'])}", f"{e.get('output_tokens', e['output_bucket'])}",
               f"{e['rate']:.4g}", ", ".join(f"{n} {w:.3f}" for n, w in e["weights"].items()))
              for e in routing_rows(r)]
        console.print(table("Routing weights (share of each bucket's traffic)",
                            ["input tokens", "output tokens", "req/s", "weights"], rt))


def _right(col: str) -> str:
    return "left" if col in ("GPU", "weights", "input tokens", "output tokens") else "right"
