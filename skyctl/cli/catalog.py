"""`skyctl catalog`: GPU offerings with their list prices, and GPU spec sheets."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from skyctl.catalog import gpu_specs, load_catalog
from skyctl.catalog.refresh import LIVE_CLOUDS, refresh
from skyctl.cli.output import console, err_console, print_json, table, want_json
from skyctl.errors import UserError, did_you_mean

app = typer.Typer(no_args_is_help=True)

_NUMERIC = {"COUNT", "GPU GB", "vCPU", "RAM GB", "$/h ON-DEMAND", "$/h SPOT", "$/GPU-h",
            "MEMORY GB", "BW GB/s", "BF16 TFLOP/s", "FP16 TFLOP/s"}


def _justify(col: str) -> str:
    return "right" if col in _NUMERIC else "left"


def _money(x: float | None) -> str | None:
    return None if x is None else f"{x:.4f}".rstrip("0").rstrip(".")


def _num(x: float) -> str:
    return f"{x:g}"


@app.command("ls")
def ls(
    ctx: typer.Context,
    gpu: str | None = typer.Option(None, "--gpu", help="GPU type, e.g. H100, a100-80gb; 'A100' lists both."),
    cloud: str | None = typer.Option(None, "--cloud", help="aws, gcp or azure."),
    region: str | None = typer.Option(None, "--region", help="Region, e.g. us-east-1."),
    zone: str | None = typer.Option(None, "--zone", help="Zone, e.g. us-central1-a."),
    count: int | None = typer.Option(None, "--count", min=1, help="Only instances with this many GPUs."),
    spot: bool = typer.Option(False, "--spot", help="Sort by spot price; hide offerings without one."),
    catalog: Path | None = typer.Option(None, "--catalog", help="Offerings CSV to use instead of "
                                        "$SKYCTL_CATALOG, ~/.skyctl/catalog.csv or the shipped one."),
    json_: bool = typer.Option(False, "--json", help="A JSON list of offerings."),
) -> None:
    """List GPU offerings, cheapest first."""
    cat = load_catalog(catalog)
    hits = cat.query(gpu=gpu, cloud=cloud, region=region, zone=zone, spot=spot, gpu_count=count)
    if want_json(ctx, json_):
        print_json([o.to_dict() for o in hits])
        return
    rows = [(o.cloud, o.region, o.zone or "-", o.instance_type, o.gpu, o.gpu_count, _num(o.gpu_memory_gb),
             o.vcpus, _num(o.memory_gb), _money(o.price_ondemand), _money(o.price_spot),
             _money(o.price_per_gpu(spot))) for o in hits]
    order = "spot" if spot else "on-demand"
    columns = ["CLOUD", "REGION", "ZONE", "INSTANCE", "GPU", "COUNT", "GPU GB", "vCPU", "RAM GB",
               "$/h ON-DEMAND", "$/h SPOT", "$/GPU-h"]
    t = table(f"{len(hits)} GPU offerings, cheapest {order} first", columns, rows, _justify)
    t.caption = f"{cat.source}; $/GPU-h is {order}; list prices, see `--json` for each row's date and source"
    console.print(t)


@app.command("gpus")
def gpus(
    ctx: typer.Context,
    json_: bool = typer.Option(False, "--json", help="A JSON list of GPU specs."),
) -> None:
    """GPU spec sheets: memory, bandwidth and dense tensor throughput."""
    specs = list(gpu_specs().values())
    if want_json(ctx, json_):
        print_json([s.to_dict() for s in specs])
        return
    rows = [(s.name, _num(s.memory_gb), _num(s.mem_bw_gbps), _num(s.bf16_tflops) if s.bf16_tflops else "-",
             _num(s.fp16_tflops), s.source) for s in specs]
    columns = ["GPU", "MEMORY GB", "BW GB/s", "BF16 TFLOP/s", "FP16 TFLOP/s", "SOURCE"]
    t = table("GPU specs (dense, no sparsity)", columns, rows, _justify)
    console.print(t)


@app.command("refresh")
def refresh_cmd(
    ctx: typer.Context,
    cloud: list[str] | None = typer.Option(None, "--cloud", help="aws, gcp or azure (repeatable; default: "
                                           "all three)."),
    region: list[str] | None = typer.Option(None, "--region", help="Only these regions (repeatable)."),
    json_: bool = typer.Option(False, "--json", help="A JSON summary of what changed."),
) -> None:
    """Update $SKYCTL_HOME/catalog.csv from live price APIs, atomically (a failure keeps the old file)."""
    clouds = [c.strip().lower() for c in cloud] if cloud else list(LIVE_CLOUDS)
    for c in clouds:
        if c not in LIVE_CLOUDS:
            raise UserError("no live price source for this cloud", field="--cloud", value=c,
                            fix=did_you_mean(c, LIVE_CLOUDS) or f"use one of {', '.join(LIVE_CLOUDS)}")
    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), console=err_console,
                  transient=True) as bar:
        task = bar.add_task("fetching prices", total=None)

        def progress(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=total or None)

        result = refresh(clouds, regions=set(region) if region else None, progress=progress)
    summary = [{"cloud": c.cloud, "updated": c.updated, "added": c.added, "kept": c.kept, "source": c.source}
               for c in result.clouds]
    if want_json(ctx, json_):
        print_json({"path": str(result.path), "rows": result.rows, "clouds": summary})
        return
    rows = [(s["cloud"], s["updated"], s["added"], s["kept"], s["source"]) for s in summary]
    t = table(f"catalog refreshed: {result.rows} offerings in {result.path}",
              ["CLOUD", "UPDATED", "ADDED", "KEPT (no live price)", "SOURCE"], rows)
    console.print(t)
