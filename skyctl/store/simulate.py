"""`skyctl store simulate` / `gen-trace` as services: read and check inputs, call the solvers.

The trace CSV has the original simulator's columns `timestamp,op,issue_region,obj_key,size`
(timestamp ms, size bytes; extra columns ignored; `.gz` read transparently). Ops are GET/PUT or the
IBM forms REST.GET.OBJECT/REST.PUT.OBJECT; any other op (HEAD, COPY, DELETE...) is skipped.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skyctl.errors import UserError, did_you_mean
from skyctl.store.pricing import Pricing
from solvers.skystore import policies as pol
from solvers.skystore import workload
from solvers.skystore.optimum import MAX_REGIONS_PER_OBJECT, optimum
from solvers.skystore.simulator import simulate
from solvers.skystore.trace import Trace, make_trace, next_read_same_region

COLUMNS = ("timestamp", "op", "issue_region", "obj_key", "size")
OPS = {"GET": False, "REST.GET.OBJECT": False, "PUT": True, "REST.PUT.OBJECT": True}
POLICIES = ("always-store", "always-evict", "replicate-all", "single-region", "t-even", "fixed-ttl-1h",
            "fixed-ttl-12h", "lru", "ewma", "t-evict", "t-evict-decay", "clairvoyant", "optimum")
OPTIMUM_AUTO_LIMIT = 300_000  # `--policy all` includes the exact optimum up to this many requests
LRU_SHARE = 0.2  # default LRU capacity per region: this share of the trace's distinct bytes
DECAY_HALF_LIFE_H = 24.0

Progress = Callable[[str, int, int], None]  # (policy, requests done, requests total)


@dataclass(frozen=True)
class PolicyCost:
    policy: str
    storage_cost: float
    network_cost: float
    request_cost: float
    total_cost: float
    hits: int
    misses: int
    bytes_moved: int | None
    curve: tuple[tuple[float, float], ...] = ()

    def as_dict(self) -> dict:
        return {"policy": self.policy, "storage_cost": self.storage_cost, "network_cost": self.network_cost,
                "request_cost": self.request_cost, "total_cost": self.total_cost, "hits": self.hits,
                "misses": self.misses, "bytes_moved": self.bytes_moved}


def _open_text(path: Path):
    try:
        raw = path.open("rb")
    except OSError as e:
        raise UserError("cannot read the trace", field="--trace", value=str(path),
                        fix=e.strerror or "check the path") from None
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw), newline="")
    raw.seek(0)
    return io.TextIOWrapper(raw, newline="")


def read_trace(path: Path) -> Trace:
    """Parse a trace CSV into the solver's arrays; every bad row is a UserError with its line."""
    regions: dict[str, int] = {}
    objs: dict[str, int] = {}
    t, write, region, obj, size = [], [], [], [], []
    with _open_text(path) as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except (StopIteration, OSError, EOFError) as e:
            raise UserError("empty or unreadable trace", field="--trace", value=str(path),
                            fix=f"write the header {','.join(COLUMNS)} then one request per row ({e})",
                            ) from None
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise UserError(f"missing column {missing[0]!r}", field="--trace", value=str(path),
                            fix=f"the header must contain {','.join(COLUMNS)}")
        it, io_, ir, ik, isz = (header.index(c) for c in COLUMNS)
        line = 1
        try:
            for row in reader:
                line += 1
                w = OPS.get(row[io_])
                if w is None:
                    continue
                t.append(float(row[it]) / 1000.0)
                write.append(w)
                region.append(regions.setdefault(row[ir], len(regions)))
                obj.append(objs.setdefault(row[ik], len(objs)))
                size.append(int(float(row[isz])))
        except (ValueError, IndexError) as e:
            raise UserError(f"bad row ({e})", field=f"line {line}", source=str(path),
                            fix="timestamp (ms) and size (bytes) must be numbers, every column present",
                            ) from None
        except (OSError, EOFError) as e:
            raise UserError(f"cannot decompress ({e})", field="--trace", value=str(path),
                            fix="give a plain CSV or a complete .gz") from None
    if not t:
        raise UserError("the trace has no GET or PUT requests", field="--trace", value=str(path),
                        fix="ops must be GET/PUT or REST.GET.OBJECT/REST.PUT.OBJECT")
    if min(size) < 0:
        raise UserError("sizes must be non-negative bytes", field="--trace", value=str(path),
                        fix="fix the size column")
    return make_trace(t, write, region, obj, size, list(regions), len(objs))


def with_regions(trace: Trace, regions: list[str] | None) -> Trace:
    """Re-index the trace's regions onto the configured set (which replicate-all pushes to)."""
    if not regions:
        return trace
    if len(set(regions)) != len(regions):
        raise UserError("regions repeat", field="--regions", value=",".join(regions),
                        fix="list each region once")
    for r in trace.regions:
        if r not in regions:
            raise UserError(f"the trace has requests from {r}, which is not configured", field="--regions",
                            value=",".join(regions), fix=f"add {r} to --regions")
    remap = [regions.index(r) for r in trace.regions]
    region = np.asarray(remap, dtype=np.int64)[trace.region]
    return Trace(trace.t, trace.write, region, trace.obj, trace.size, tuple(regions), trace.n_objects)


def policy_names(spec: str) -> list[str]:
    """`all` or a comma-separated list of policy names."""
    if spec == "all":
        return list(POLICIES)
    names = [p.strip() for p in spec.split(",") if p.strip()]
    for n in names:
        if n not in POLICIES:
            raise UserError("unknown policy", field="--policy", value=n,
                            fix=did_you_mean(n, POLICIES) or f"use all or one of {', '.join(POLICIES)}")
    return names


def _build(name: str, prices, time_scale: float, trace: Trace, lru_bytes: float) -> pol.Policy:
    simple = {"always-store": pol.AlwaysStore, "always-evict": pol.AlwaysEvict,
              "replicate-all": pol.ReplicateAll, "single-region": pol.SingleRegion,
              "t-even": pol.TEven, "ewma": pol.EWMA, "t-evict": pol.TEvict}
    if name in simple:
        return simple[name](prices, time_scale)
    if name.startswith("fixed-ttl-"):
        return pol.FixedTTL(prices, time_scale, float(name.removeprefix("fixed-ttl-").removesuffix("h")))
    if name == "lru":
        return pol.LRU(prices, time_scale, lru_bytes)
    if name == "t-evict-decay":
        return pol.TEvict(prices, time_scale, half_life_h=DECAY_HALF_LIFE_H)
    return pol.Clairvoyant(prices, time_scale, next_read_same_region(trace))


def run_policies(trace: Trace, pricing: Pricing, names: list[str], *, time_scale: float = 1.0,
                 base: bool = True, progress: Progress | None = None, curve_points: int = 0,
                 explicit: bool = True) -> list[PolicyCost]:
    """Simulate each policy over `trace`; `explicit=False` (from `all`) skips the optimum on big traces."""
    if time_scale <= 0:
        raise UserError("must be positive", field="--time-scale", value=time_scale, fix="use 1 for real time")
    prices = pricing.to_prices(list(trace.regions))
    _, first = np.unique(trace.obj, return_index=True)
    distinct = float(trace.size[first].sum())
    out = []
    n = len(trace)
    for name in names:
        tick = None if progress is None else (lambda done, name=name: progress(name, done, n))
        if name == "optimum":
            too_wide = len(trace.regions) > MAX_REGIONS_PER_OBJECT
            if not explicit and (n > OPTIMUM_AUTO_LIMIT or too_wide):
                continue
            if too_wide:
                raise UserError(f"the exact optimum handles at most {MAX_REGIONS_PER_OBJECT} regions",
                                field="--policy", value="optimum", fix="leave it out or use fewer regions")
            r = optimum(trace, prices, time_scale=time_scale, base=base, progress=tick)
            out.append(PolicyCost("optimum", r.storage_cost, r.network_cost, r.request_cost, r.total_cost,
                                  r.hits, r.misses, None))
            continue
        policy = _build(name, prices, time_scale, trace, LRU_SHARE * distinct)
        r = simulate(trace, prices, policy, time_scale=time_scale, base=base, progress=tick,
                     curve_points=curve_points)
        out.append(PolicyCost(r.policy, r.storage_cost, r.network_cost, r.request_cost, r.total_cost,
                              r.hits, r.misses, r.bytes_moved, tuple(r.curve)))
    return out


def generate_trace(out: Path, kind: str, regions: list[str], *, ibm: Path | None = None, objects: int = 1000,
                   days: float = 7.0, seed: int = 1, augment: bool = False, gaps: str = "ibm") -> int:
    """Write a workload-`kind` trace over `regions` (from an IBM trace or synthetic); returns rows."""
    kind = kind.upper().removeprefix("TYPE")
    if kind not in workload.TYPES:
        raise UserError("unknown workload type", field="--type", value=kind, fix="use A, B, C, D or E")
    if not regions:
        raise UserError("no regions", field="--regions", fix="give at least one region, e.g. aws:us-east-1")
    if ibm is not None:
        try:
            with ibm.open() as f:
                reqs = workload.parse_ibm(f)
        except OSError as e:
            raise UserError("cannot read the IBM trace", field="--ibm", value=str(ibm),
                            fix=e.strerror or "check the path") from None
        except ValueError as e:
            raise UserError(str(e), field="--ibm", value=str(ibm), fix="give an IBM COS trace file") from None
    else:
        if objects < 1 or days <= 0:
            raise UserError("need at least one object and a positive duration", field="--objects/--days",
                            value=(objects, days), fix="e.g. --objects 1000 --days 7")
        if gaps not in ("ibm", "poisson"):
            raise UserError("unknown gap model", field="--gaps", value=gaps, fix="use ibm or poisson")
        reqs = workload.synthetic(objects, days, seed, gaps=gaps)
    rows = workload.assign_regions(reqs, kind, regions, seed)
    header = list(COLUMNS)
    if augment:
        rows = workload.augment(rows)
        header += ["time_to_next_access", "time_to_next_access_same_reg"]
    opener = gzip.open if out.suffix == ".gz" else open
    try:
        with opener(out, "wt", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
    except OSError as e:
        raise UserError("cannot write the trace", field="--out", value=str(out),
                        fix=e.strerror or "check the path") from None
    return len(rows)
