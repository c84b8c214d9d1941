"""`skyctl catalog`: GPU offerings with their list prices, and GPU spec sheets."""

from __future__ import annotations

from pathlib import Path

import typer

from skyctl.catalog import gpu_specs, load_catalog
from skyctl.cli.output import console, print_json, table, want_json

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
