"""`skyctl gpu-mix estimate` and `skyctl gpu-mix profile`: make the throughput profile that `solve` reads.

`estimate` uses the roofline model and the catalog's GPU spec sheets (no GPU needed, clearly labelled an
estimate); `profile` measures a running OpenAI-compatible server. Both write a `skyctl/profile-v1` file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from skyctl.catalog import canonical_gpu, gpu_spec
from skyctl.cli.output import console, err_console, print_json, table, want_json
from skyctl.errors import Failure, UserError
from skyctl.gpu_mix.profile_client import MELANGE_RATES, SweepConfig, SweepResult, run_sweep
from skyctl.gpu_mix.profile_io import merge_profiles, read_profile, user_error, write_profile
from solvers.melange.errors import ProblemError
from solvers.melange.estimator import MELANGE_EDGES, Efficiency, GpuNumbers, estimate_profile, llama_shape
from solvers.melange.profile import ThroughputProfile

DEFAULT_GPUS = "L4,A10G,A100-80GB,H100"
EDGES_TEXT = ",".join(str(e) for e in MELANGE_EDGES)
ESTIMATE_NOTE = ("estimate, not measured: a roofline model of a vLLM-style server from GPU spec sheets; "
                 "profile your own server with `skyctl gpu-mix profile` before relying on it")


def estimate(
    ctx: typer.Context,
    model_params: float = typer.Option(..., "--model-params", help="Parameter count, e.g. 7e9."),
    gpus: str = typer.Option(DEFAULT_GPUS, "--gpus", help="Comma-separated catalog GPU names."),
    out: Path | None = typer.Option(None, "--out", help="Profile file to write (.yaml or .json)."),
    slo_tpot_ms: float = typer.Option(120.0, "--slo-tpot-ms", help="Mean time per output token SLO."),
    slo_ttft_ms: float | None = typer.Option(None, "--slo-ttft-ms", help="Optional mean TTFT SLO."),
    model: str | None = typer.Option(None, "--model", help="Model name recorded in the file."),
    layers: int | None = typer.Option(None, "--layers", help="Transformer layers (default: Llama ratio)."),
    hidden: int | None = typer.Option(None, "--hidden", help="Hidden size (default: 128 x layers)."),
    kv_heads: int | None = typer.Option(None, "--kv-heads", help="KV heads for GQA (default: all heads)."),
    dtype: str = typer.Option("fp16", "--dtype", help="Weight dtype: fp16, bf16, fp8, int8, int4."),
    kv_dtype: str | None = typer.Option(None, "--kv-dtype", help="KV-cache dtype (default: --dtype)."),
    input_edges: str = typer.Option(EDGES_TEXT, "--input-edges", help="Input bucket upper edges (tokens)."),
    output_edges: str = typer.Option(EDGES_TEXT, "--output-edges", help="Output bucket upper edges."),
    bandwidth_eff: float = typer.Option(Efficiency.bandwidth, "--bandwidth-efficiency",
                                        help="Achieved fraction of peak memory bandwidth."),
    compute_eff: float = typer.Option(Efficiency.compute, "--compute-efficiency",
                                      help="Achieved fraction of dense peak TFLOP/s."),
    step_overhead_ms: float = typer.Option(Efficiency.step_overhead_ms, "--step-overhead-ms",
                                           help="Fixed CPU time per engine step (older engines: 5-20)."),
    max_batch: int = typer.Option(Efficiency.max_batch, "--max-batch", help="Server's max running requests."),
    json_: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Estimate a throughput profile from the catalog's GPU specs (roofline; no GPU needed)."""
    for name, value in (("--bandwidth-efficiency", bandwidth_eff), ("--compute-efficiency", compute_eff)):
        if not 0 < value <= 1:
            raise UserError("must be in (0, 1]", field=name, value=value)
    if step_overhead_ms < 0 or max_batch < 1:
        bad = ("--step-overhead-ms", step_overhead_ms) if step_overhead_ms < 0 else ("--max-batch", max_batch)
        raise UserError("must be positive", field=bad[0], value=bad[1])
    eff = Efficiency(bandwidth=bandwidth_eff, compute=compute_eff, step_overhead_ms=step_overhead_ms,
                     max_batch=max_batch)
    names = [canonical_gpu(g) for g in _names(gpus, "--gpus")]
    try:
        shape = llama_shape(model_params, layers=layers, hidden=hidden, kv_heads=kv_heads, dtype=dtype,
                            kv_dtype=kv_dtype)
        specs = {n: _gpu_numbers(n, dtype) for n in names}
        prof = estimate_profile(model or f"{model_params / 1e9:g}B-parameter model", shape, specs,
                                slo_tpot_ms=slo_tpot_ms, slo_ttft_ms=slo_ttft_ms,
                                input_edges=_numbers(input_edges, "--input-edges"),
                                output_edges=_numbers(output_edges, "--output-edges"), eff=eff,
                                spec_source="skyctl catalog GPU spec sheets")
    except ProblemError as e:
        raise _cli_error(e) from None
    if out is not None:
        write_profile(prof, out)
    if want_json(ctx, json_):
        print_json({"estimate": True, "note": ESTIMATE_NOTE, "out": str(out) if out else None,
                    "model_shape": {"params": shape.params, "layers": shape.layers, "hidden": shape.hidden,
                                    "kv_heads": shape.kv_heads, "weight_bytes": shape.weight_bytes,
                                    "kv_bytes_per_token": shape.kv_bytes_per_token},
                    "profile": prof.to_dict()})
        return
    err_console.print(f"[yellow]note:[/] {ESTIMATE_NOTE}", highlight=False)
    _print_tables(prof)
    if out is not None:
        console.print(f"wrote {out}")


def profile(
    ctx: typer.Context,
    endpoint: str = typer.Option(..., "--endpoint", help="Base URL of an OpenAI-compatible server."),
    gpu: str = typer.Option(..., "--gpu", help="Catalog name of the GPU type the server runs on."),
    out: Path = typer.Option(..., "--out", help="Profile file to write; an existing one gains this GPU."),
    slo_tpot_ms: float = typer.Option(120.0, "--slo-tpot-ms", help="Mean time per output token SLO."),
    slo_ttft_ms: float | None = typer.Option(None, "--slo-ttft-ms", help="Optional mean TTFT SLO."),
    model: str | None = typer.Option(None, "--model", help="Model name to send in requests."),
    token_ids: bool = typer.Option(False, "--token-ids", help="Send prompts as token-id lists."),
    rates: str = typer.Option(",".join(f"{r:g}" for r in MELANGE_RATES), "--rates",
                              help="Request rates to sweep (req/s)."),
    requests_per_point: int = typer.Option(10, "--requests-per-point", help="Requests per (bucket, rate)."),
    max_seconds: float = typer.Option(3600.0, "--max-seconds", help="Time budget for the whole sweep."),
    input_edges: str = typer.Option(EDGES_TEXT, "--input-edges", help="Input bucket upper edges (tokens)."),
    output_edges: str = typer.Option(EDGES_TEXT, "--output-edges", help="Output bucket upper edges."),
    seed: int = typer.Option(0, "--seed", help="Seed of the Poisson arrival times."),
    json_: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Measure a throughput profile of a running server (Mélange-style rate sweep per bucket)."""
    cfg = SweepConfig(endpoint=endpoint, input_edges=_ints(input_edges, "--input-edges"),
                      output_edges=_ints(output_edges, "--output-edges"), slo_tpot_ms=slo_tpot_ms,
                      slo_ttft_ms=slo_ttft_ms, rates=_numbers(rates, "--rates"),
                      requests_per_point=requests_per_point, max_seconds=max_seconds, model=model,
                      token_ids=token_ids, seed=seed)
    name = canonical_gpu(gpu)
    base = read_profile(out) if out.exists() else None
    zeros = tuple(tuple(0.0 for _ in cfg.output_edges) for _ in cfg.input_edges)
    if base:  # a file that cannot take this GPU is an error now, not after an hour of profiling
        merge_profiles(base, _measured(cfg, name, zeros, base), str(out))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=True) as bar:
        task = bar.add_task("profiling", total=None)
        res = run_sweep(cfg, lambda done, total, what: bar.update(task, completed=done, total=total,
                                                                   description=what))
    if len(res.unmeasured) == len(cfg.input_edges) * len(cfg.output_edges):
        raise Failure(f"the {max_seconds:g} s budget ran out before any bucket was measured; "
                      "raise --max-seconds or use fewer --rates/--requests-per-point")
    new = _measured(cfg, name, tuple(tuple(r) for r in res.table()), base)
    prof = merge_profiles(base, new, str(out)) if base else new
    write_profile(prof, out)
    if want_json(ctx, json_):
        print_json(_sweep_json(res, name, out))
        return
    if res.unmeasured:
        err_console.print(f"[yellow]warning:[/] time budget ran out: {len(res.unmeasured)} bucket(s) not "
                          f"measured and written as 0 (cannot serve): "
                          + ", ".join(f"in {i}/out {o}" for i, o in res.unmeasured), highlight=False)
    _print_tables(replace(prof, tputs={name: prof.tputs[name]}))
    console.print(f"wrote {out} ({name}, {res.seconds:.0f} s)")


def _measured(cfg: SweepConfig, gpu: str, tputs: tuple[tuple[float, ...], ...],
              base: ThroughputProfile | None) -> ThroughputProfile:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return ThroughputProfile(model=cfg.model or (base.model if base else "") or "unknown",
                             source=f"measured: {cfg.endpoint} on {when}", slo_tpot_ms=cfg.slo_tpot_ms,
                             slo_ttft_ms=cfg.slo_ttft_ms, input_edges=tuple(map(float, cfg.input_edges)),
                             output_edges=tuple(map(float, cfg.output_edges)), tputs={gpu: tputs})


def _sweep_json(res: SweepResult, gpu: str, out: Path) -> dict:
    return {"gpu": gpu, "out": str(out), "seconds": round(res.seconds, 3), "tputs": res.table(),
            "unmeasured": [list(b) for b in res.unmeasured],
            "buckets": [{"input": b.input_len, "output": b.output_len, "chosen_rate": b.chosen_rate,
                         "throughput": b.throughput, "measured": b.measured,
                         "points": [p.__dict__ for p in b.points]} for b in res.buckets]}


def _print_tables(prof: ThroughputProfile) -> None:
    cols = ["input \\ output", *(f"≤{o:g}" for o in prof.output_edges)]
    for name, t in prof.tputs.items():
        rows = [[f"≤{i:g}", *(f"{x:g}" for x in row)] for i, row in zip(prof.input_edges, t, strict=True)]
        console.print(table(f"{name}: max req/s per bucket at TPOT ≤ {prof.slo_tpot_ms:g} ms", cols, rows,
                            justify=lambda c: "left" if c.startswith("input") else "right"))


def _gpu_numbers(name: str, dtype: str) -> GpuNumbers:
    """Spec-sheet numbers; bf16 TFLOP/s for bf16 models, fp16 otherwise (and for GPUs without bf16)."""
    s = gpu_spec(name)
    tflops = s.bf16_tflops if dtype.lower() == "bf16" and s.bf16_tflops > 0 else s.fp16_tflops
    return GpuNumbers(memory_gb=s.memory_gb, mem_bw_gbps=s.mem_bw_gbps, tflops=tflops)


def _names(text: str, option: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise UserError("name at least one", field=option, value=text, fix="e.g. L4,A10G")
    return names


def _numbers(text: str, option: str) -> tuple[float, ...]:
    try:
        return tuple(float(p) for p in _names(text, option))
    except ValueError:
        raise UserError("must be comma-separated numbers", field=option, value=text,
                        fix="e.g. 25,100,250") from None


def _ints(text: str, option: str) -> tuple[int, ...]:
    values = _numbers(text, option)
    if any(v != int(v) for v in values):
        raise UserError("token counts must be whole numbers", field=option, value=text)
    return tuple(int(v) for v in values)


def _cli_error(e: ProblemError) -> UserError:
    """Estimator fields are argument names: `kv_heads` -> `--kv-heads`."""
    field = e.field and "--" + e.field.split(".")[0].replace("_", "-")
    return user_error(ProblemError(e.message, field=field, value=e.value, fix=e.fix))
