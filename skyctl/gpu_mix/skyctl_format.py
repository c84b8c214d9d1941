"""skyctl's gpu-mix YAML: a profile file, a workload, GPU types by name, prices from the catalog or inline.

    profile: profiles/llama-2-7b.yaml      # relative to this file; its buckets and SLO are the problem's
    slo: {tpot_ms: 120}                    # optional; must match the profile's
    workload:
      rate: 8                              # total req/s
      histogram: [[...], ...]              # fractions, rows = input buckets, columns = output buckets
      # or requests: sizes.csv.gz          # input_len,output_len rows (overflow: error|last_bucket)
    pricing: {cloud: aws, region: us-east-1}
    gpus: [L4, {name: A10G, max_count: 4}, {name: A10G, spot: true}, {name: H100, price: 7.5}]
    slice_factor: 8; min_on_demand_fraction: 0; headroom: 0; poisson_z: null
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skyctl.catalog import canonical_gpu
from skyctl.errors import UserError, did_you_mean
from skyctl.gpu_mix.config import GpuChoice, MixInput
from skyctl.gpu_mix.prices import catalog_price
from skyctl.gpu_mix.profile_io import read_profile
from skyctl.gpu_mix.workload import bucket_requests
from solvers.melange.profile import ThroughputProfile
from solvers.melange.values import edges, matrix, number, whole

KIND = "skyctl/gpu-mix-v1"
TOP = ("kind", "profile", "slo", "workload", "pricing", "gpus", "slice_factor", "min_on_demand_fraction",
       "headroom", "poisson_z")
WORKLOAD = ("rate", "histogram", "requests", "input_edges", "output_edges", "overflow")
PRICING = ("cloud", "region", "spot")
GPU = ("name", "spot", "price", "cloud", "region", "max_count")


def parse(doc: dict[str, Any], path: Path) -> MixInput:
    src = str(path)
    _keys(doc, TOP, "", src)
    if doc.get("kind", KIND) != KIND:
        raise UserError(f"unknown kind, expected {KIND!r}", field="kind", value=doc.get("kind"), source=src)
    if not doc.get("profile"):
        raise UserError("missing: the throughput-profile file", field="profile", source=src,
                        fix="make one with `skyctl gpu-mix estimate` and give its path")
    prof_path = path.parent / str(doc["profile"])
    profile = read_profile(prof_path)
    _check_slo(doc.get("slo"), profile, src)
    wl = _mapping(doc.get("workload"), "workload", src)
    _keys(wl, WORKLOAD, "workload.", src)
    fractions, n = _fractions(wl, profile, path, src)
    pricing = _mapping(doc.get("pricing") or {}, "pricing", src)
    _keys(pricing, PRICING, "pricing.", src)
    return MixInput(
        source=src, format="skyctl", gpus=_gpus(doc.get("gpus"), profile, pricing, src),
        fractions=fractions,
        total_rate=number(wl.get("rate"), "workload.rate", allow_equal=False),
        slice_factor=whole(doc.get("slice_factor", 8), "slice_factor", minimum=1),
        input_edges=profile.input_edges, output_edges=profile.output_edges,
        min_on_demand_fraction=number(doc.get("min_on_demand_fraction", 0.0), "min_on_demand_fraction"),
        headroom=number(doc.get("headroom", 0.0), "headroom"),
        poisson_z=None if doc.get("poisson_z") is None else number(doc["poisson_z"], "poisson_z"),
        profile=f"{prof_path} ({profile.model}; {profile.source})", requests=n)


def _fractions(wl: dict, profile: ThroughputProfile, path: Path, src: str):
    for side in ("input_edges", "output_edges"):
        if side in wl and edges(wl[side], f"workload.{side}") != getattr(profile, side):
            raise UserError(f"differs from the profile's {side} {list(getattr(profile, side))}",
                            field=f"workload.{side}", value=wl[side], source=src,
                            fix="use the profile's buckets (or leave the edges out)")
    if ("histogram" in wl) == ("requests" in wl):
        raise UserError("give exactly one of `histogram` and `requests`", field="workload", source=src)
    if "histogram" in wl:
        rows, cols = profile.shape
        return matrix(wl["histogram"], "workload.histogram", (rows, cols),
                      expected_from=f"the profile ({rows}x{cols})"), None
    return bucket_requests(path.parent / str(wl["requests"]), profile.input_edges, profile.output_edges,
                           str(wl.get("overflow", "error")))


def _gpus(raw: Any, profile: ThroughputProfile, pricing: dict, src: str) -> tuple[GpuChoice, ...]:
    if isinstance(raw, dict):  # {A10G: {max_count: 4}} is accepted as well as a list
        raw = [{"name": k, **(v or {})} for k, v in raw.items()]
    if not isinstance(raw, list) or not raw:
        raise UserError("must list the GPU types to choose from", field="gpus", source=src,
                        fix="e.g. gpus: [L4, A10G, A100-80GB]")
    tables = {_canonical_or_raw(k): v for k, v in profile.tputs.items()}
    out: list[GpuChoice] = []
    for i, entry in enumerate(raw):
        entry = {"name": entry} if isinstance(entry, str) else _mapping(entry, f"gpus[{i}]", src)
        _keys(entry, GPU, f"gpus[{i}].", src)
        name = str(entry.get("name", ""))
        spot = bool(entry.get("spot", pricing.get("spot", False))) or name.lower().endswith(":spot")
        try:
            gpu = canonical_gpu(name.split(":")[0])
        except UserError as e:
            raise UserError(e.message, field=f"gpus[{i}].name", source=src) from None
        if gpu not in tables:
            raise UserError(f"the profile has no throughput table for {gpu}", field=f"gpus[{i}].name",
                            source=src, fix=did_you_mean(gpu, tables) or
                            f"it has {', '.join(tables)}; add {gpu} with `skyctl gpu-mix estimate`")
        if "price" in entry:
            price, how = number(entry["price"], f"gpus[{i}].price"), "inline"
        else:
            price, how = catalog_price(gpu, cloud=entry.get("cloud", pricing.get("cloud")),
                                       region=entry.get("region", pricing.get("region")), spot=spot)
        cap = entry.get("max_count")
        out.append(GpuChoice(f"{gpu}:spot" if spot else gpu, price, tables[gpu],
                             None if cap is None else whole(cap, f"gpus[{i}].max_count"), spot, how))
    names = [g.name for g in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise UserError("GPU type listed twice", field="gpus", value=dup, source=src,
                        fix="list each type once (spot and on-demand variants are different types)")
    return tuple(out)


def _check_slo(slo: Any, profile: ThroughputProfile, src: str) -> None:
    """The SLO enters only through the profile, so a config asking for another SLO needs another profile."""
    if slo is None:
        return
    slo = _mapping(slo, "slo", src)
    for key, have in (("tpot_ms", profile.slo_tpot_ms), ("ttft_ms", profile.slo_ttft_ms)):
        want = slo.get(key)
        if want is not None and (have is None or abs(number(want, f"slo.{key}") - have) > 1e-9):
            raise UserError(f"the profile was made for {key} = {have}", field=f"slo.{key}", value=want,
                            source=src, fix="make a profile for this SLO (skyctl gpu-mix estimate/profile)")


def _canonical_or_raw(name: str) -> str:
    try:
        return canonical_gpu(name)
    except UserError:
        return name


def _mapping(value: Any, field: str, src: str) -> dict:
    if not isinstance(value, dict):
        raise UserError("must be a mapping", field=field, value=value, source=src)
    return value


def _keys(d: dict, allowed: tuple[str, ...], prefix: str, src: str) -> None:
    for key in d:
        if key not in allowed:
            raise UserError("unknown key", field=f"{prefix}{key}", source=src,
                            fix=did_you_mean(str(key), allowed) or f"allowed: {', '.join(allowed)}")
