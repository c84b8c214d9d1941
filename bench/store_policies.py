"""Benchmark: SkyStore placement policies relative to the exact optimum, and simulator speed.

Workloads A-E over 3, 6 and 9 regions (the VLDB region sets), built from
  * the IBM COS sample in ../shared/data/skystore/traces/ (tiny: T_evict stays in its cold start), and
  * synthetic traces whose re-access gaps follow the IBM traces' gap classes (bursty, heavy-tailed),
  * plus, for contrast, the original synthetic generator's memoryless (Poisson) streams on 3 regions.
Costs use the shipped list prices with request charges, time_scale 90 (the original simulator's
compression), base region = first writer. Speed: requests per second per policy on one large trace,
with always-store as the in-script baseline.

    python bench/store_policies.py            # full (about 15 minutes on a 2-core box)
    python bench/store_policies.py --quick    # a few minutes
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from skyctl.store.pricing import load_pricing
from skyctl.store.simulate import POLICIES, run_policies
from solvers.skystore import workload

SAMPLE = Path(__file__).resolve().parents[2] / "shared/data/skystore/traces/IBMObjectStoreSample"
REGION_SETS = {
    3: ["aws:us-east-1", "azure:westeurope", "gcp:us-west1"],
    6: ["aws:us-east-1", "azure:westeurope", "gcp:us-west1", "aws:us-west-2", "azure:eastus",
        "gcp:us-east1"],
    9: ["aws:us-east-1", "aws:us-west-1", "aws:eu-west-1", "azure:eastus", "azure:westus", "azure:westeurope",
        "gcp:us-east1", "gcp:us-west1", "gcp:europe-west1"],
}
BASELINES = ("always-store", "always-evict", "replicate-all", "t-even")
TIME_SCALE = 90.0


def _costs(reqs, kind: str, regions: list[str], pricing) -> tuple[int, dict[str, float]]:
    tr = workload.to_trace(workload.assign_regions(reqs, kind, regions, seed=1), regions)
    res = run_policies(tr, pricing, list(POLICIES), time_scale=TIME_SCALE)
    return len(tr), {r.policy: r.total_cost for r in res}


def _table(title: str, rows: list[tuple[str, int, dict[str, float]]]) -> tuple[list[str], list[str]]:
    """Markdown table of cost / optimum; returns it and the workloads where T_evict loses a baseline."""
    lines = [f"### {title}", "", "| workload | requests | " + " | ".join(POLICIES[:-1]) + " | optimum $ |",
             "|---|---:|" + "---:|" * len(POLICIES)]
    losses = []
    for name, n, c in rows:
        opt = c["optimum"]
        cells = [f"**{c[p] / opt:.3f}**" if p == "t-evict" else f"{c[p] / opt:.3f}" for p in POLICIES[:-1]]
        lines.append(f"| {name} | {n:,} | " + " | ".join(cells) + f" | {opt:,.2f} |")
        losses += [f"{name}: t-evict {c['t-evict'] / opt:.3f} >= {b} {c[b] / opt:.3f}"
                   for b in BASELINES if c["t-evict"] >= c[b]]
    return lines, losses


def _speed(n_objects: int, pricing, repeats: int) -> list[str]:
    regions = REGION_SETS[6]
    reqs = workload.synthetic(n_objects, 7, seed=5)
    tr = workload.to_trace(workload.assign_regions(reqs, "E", regions, seed=5), regions)
    out = [f"### Speed: {len(tr):,} requests, {tr.n_objects:,} objects, 6 regions, type E", "",
           "| policy | median s | requests/s | time vs always-store |", "|---|---:|---:|---:|"]
    base = None
    for name in POLICIES:
        times = []
        for _ in range(1 if name == "optimum" else repeats):
            t0 = time.perf_counter()
            run_policies(tr, pricing, [name], time_scale=TIME_SCALE)
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        base = base or med
        out.append(f"| {name} | {med:.2f} | {len(tr) / med:,.0f} | {med / base:.2f} |")
        print(out[-1], file=sys.stderr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller traces, one repeat")
    args = ap.parse_args()
    objects, speed_objects, repeats = (4000, 40_000, 1) if args.quick else (12_000, 170_000, 3)
    pricing = load_pricing()
    report: list[str] = []
    all_losses: list[str] = []

    if SAMPLE.exists():
        with SAMPLE.open() as f:
            ibm = workload.parse_ibm(f)
        rows = [(f"IBM sample {k}, 3 reg", *_costs(ibm, k, REGION_SETS[3], pricing)) for k in workload.TYPES]
        lines, losses = _table("IBM COS sample (../shared/data/skystore/traces/IBMObjectStoreSample)", rows)
        report += [*lines, ""]
        all_losses += losses
    else:
        report.append(f"IBM sample not found at {SAMPLE}: skipped\n")

    reqs = workload.synthetic(objects, 7, seed=1)
    for n_reg, regions in REGION_SETS.items():
        rows = []
        for k in workload.TYPES:
            rows.append((f"{k}, {n_reg} reg", *_costs(reqs, k, regions, pricing)))
            print(f"done {rows[-1][0]}", file=sys.stderr)
        lines, losses = _table(f"Synthetic, IBM gap mix, {objects:,} objects, 7 days, {n_reg} regions", rows)
        report += [*lines, ""]
        all_losses += losses

    poisson = workload.synthetic(objects // 4, 7, seed=1, gaps="poisson")
    rows = [(f"{k}, 3 reg", *_costs(poisson, k, REGION_SETS[3], pricing)) for k in workload.TYPES]
    title = f"Synthetic, Poisson gaps (original generator), {objects // 4:,} objects, 3 regions"
    lines, losses = _table(title, rows)
    report += [*lines, ""]
    all_losses += [f"poisson {x}" for x in losses]

    report += _speed(speed_objects, pricing, repeats)
    report += ["", "T_evict not cheaper than a baseline:" if all_losses else "T_evict beat every baseline.",
               *[f"- {x}" for x in all_losses]]
    print("\n".join(report))


if __name__ == "__main__":
    main()
