"""`skyctl store simulate` and `skyctl store gen-trace`: replay traces against placement policies."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from skyctl.cli.output import console, err_console, print_json, pyplot, save_figure, table, want_json
from skyctl.errors import UserError
from skyctl.store import simulate as sim
from skyctl.store.pricing import load_pricing

BASE_MODES = ("first-write", "none")
_NUMERIC = {"STORAGE $", "NETWORK $", "REQUESTS $", "TOTAL $", "HITS", "MISSES", "GB MOVED", "VS BEST"}


def _usd(x: float) -> str:
    return f"{x:,.4f}" if x >= 1 else f"{x:.4g}"


def _regions(spec: str | None) -> list[str] | None:
    return [r.strip() for r in spec.split(",") if r.strip()] if spec else None


def _curve_points(n_objects: int) -> int:
    """Samples of the cost curve: each one scans every object, so big traces get fewer."""
    return max(10, min(200, 5_000_000 // max(1, n_objects)))


def _plot(results: list[sim.PolicyCost], path: Path) -> None:
    """Cumulative cost over trace time per policy; matplotlib only loads when a plot is asked for."""
    plt = pyplot(path)
    fig, ax = plt.subplots(figsize=(9, 5))
    for r in results:
        if r.curve:
            ax.plot([t / 86400 for t, _ in r.curve], [c for _, c in r.curve], label=r.policy)
    ax.set_xlabel("trace time (days)")
    ax.set_ylabel("cumulative cost ($)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    save_figure(plt, fig, path)


def simulate(
    ctx: typer.Context,
    trace: Path = typer.Option(..., "--trace",
                               help="CSV (or .csv.gz): timestamp,op,issue_region,obj_key,size."),
    policy: str = typer.Option("all", "--policy",
                               help=f"all, or comma-separated: {', '.join(sim.POLICIES)}."),
    pricing: Path | None = typer.Option(None, "--pricing",
                                        help="YAML pricing file (default: shipped list prices)."),
    regions: str | None = typer.Option(None, "--regions",
                                       help="Configured regions, comma-separated (default: the trace's)."),
    time_scale: float = typer.Option(1.0, "--time-scale",
                                     help="Storage time compression; 90 = original simulator."),
    base_region: str = typer.Option("first-write", "--base-region", help="first-write or none."),
    json_: bool = typer.Option(False, "--json", help="Machine-readable JSON output."),
    plot: Path | None = typer.Option(None, "--plot", help="Write cumulative cost over time to this PNG."),
) -> None:
    """Simulate placement policies over a request trace and report each policy's cost."""
    if base_region not in BASE_MODES:
        raise UserError("unknown base-region mode", field="--base-region", value=base_region,
                        fix="use first-write or none")
    names = sim.policy_names(policy)
    tr = sim.with_regions(sim.read_trace(trace), _regions(regions))
    prices = load_pricing(pricing, list(tr.regions))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=True, disable=len(tr) < 50_000) as bar:
        tasks: dict[str, int] = {}

        def tick(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done)

        results = sim.run_policies(tr, prices, names, time_scale=time_scale,
                                   base=base_region == "first-write", progress=tick,
                                   curve_points=_curve_points(tr.n_objects) if plot else 0,
                                   explicit=policy != "all")
    if plot:
        _plot(results, plot)
    if want_json(ctx, json_):
        print_json([r.as_dict() for r in results])
        return
    best = min(r.total_cost for r in results)
    rows = [(r.policy, _usd(r.storage_cost), _usd(r.network_cost), _usd(r.request_cost),
             _usd(r.total_cost), r.hits, r.misses,
             "" if r.bytes_moved is None else f"{r.bytes_moved / 2**30:.3f}",
             f"{r.total_cost / best:.3f}" if best > 0 else "")
            for r in results]
    cols = ["POLICY", "STORAGE $", "NETWORK $", "REQUESTS $", "TOTAL $", "HITS", "MISSES", "GB MOVED",
            "VS BEST"]
    title = f"{len(tr):,} requests, {tr.n_objects:,} objects, regions {', '.join(tr.regions)}"
    tbl = table(title, cols, rows, lambda c: "right" if c in _NUMERIC else "left")
    tbl.columns[0].min_width = max(len(r.policy) for r in results)  # names stay whole on narrow terminals
    console.print(tbl)


def gen_trace(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Output CSV (gzipped if it ends in .gz)."),
    type_: str = typer.Option(..., "--type", help="Workload type A, B, C, D or E."),
    regions: str = typer.Option(..., "--regions",
                                help="Comma-separated regions, e.g. aws:us-east-1,gcp:us-west1"),
    ibm: Path | None = typer.Option(None, "--ibm",
                                    help="IBM COS trace to take requests from (default: synthetic)."),
    objects: int = typer.Option(1000, "--objects", help="Synthetic objects."),
    days: float = typer.Option(7.0, "--days", help="Synthetic trace length in days."),
    seed: int = typer.Option(1, "--seed", help="Random seed."),
    gaps: str = typer.Option("ibm", "--gaps",
                             help="Synthetic re-access gaps: ibm (bursty, IBM trace mix) or poisson."),
    augment: bool = typer.Option(False, "--augment", help="Add the next-access columns."),
    json_: bool = typer.Option(False, "--json", help="Machine-readable JSON output."),
) -> None:
    """Write a multi-region workload trace (types A-E) for `skyctl store simulate`."""
    region_list = _regions(regions) or []
    n = sim.generate_trace(out, type_, region_list, ibm=ibm, objects=objects, days=days, seed=seed,
                           augment=augment, gaps=gaps)
    info = {"out": str(out), "rows": n, "type": type_.upper(), "regions": region_list, "seed": seed}
    if want_json(ctx, json_):
        print_json(info)
    else:
        console.print(f"wrote {n:,} requests of workload {info['type']} over {len(region_list)} regions "
                      f"to {out}")
