"""The omniscient optimum on the SkyServe traces, in the paper's setup, and how fast it solves.

Setup (shared/reference/skyserve.md §3.2): 30 s ticks, target 3, 24 h windows (2,880 ticks), 10 repeats at
seeded random offsets, cold start 120 s (4 ticks), spot price 1 in every zone, on-demand 3. Cost is % of
keeping 3 on-demand replicas for the whole window. The baseline, measured in the same run, is the
per-tick model (no block aggregation) on the first window of each trace: same optimum, slower.
Usage:
    python bench/spot_optimal.py [--repeats 10] [--seed 0] [--check N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from solvers.spot.optimal import SpotProblem, blocks, solve  # noqa: E402
from solvers.spot.traces import load_trace, paper_trace_dir  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "skyserve" / "spothedge_ae" / "data"
ARTIFACT_COST = {"aws1": 40, "aws2": 38, "aws3": 34, "gcp1": 34}
# (label, trace name, loader options): AWS 3 three ways, since its gap and meaning of "1" are disputed
VARIANTS = [
    ("AWS 1", "aws1", {}),
    ("AWS 2", "aws2", {}),
    ("AWS 3 (gap 300 s, 1 = one replica)", "aws3", {}),
    ("AWS 3 (gap 300 s, 1 = unlimited, artifact loader)", "aws3", {"available_means": 3}),
    ("AWS 3 (gap 195 s, 1 = one replica)", "aws3", {"gap_seconds": 195}),
    ("GCP 1", "gcp1", {}),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hours", type=float, default=24)
    ap.add_argument("--check", type=int, default=1, help="windows per trace also solved per tick")
    args = ap.parse_args()
    n_ticks = int(args.hours * 3600 // 30)
    print("| trace | artifact cost % | optimum cost % (mean, min-max) | availability % | blocks/window "
          "| solve s (median, max) | per-tick model s (same optimum?) |")
    print("|---|---|---|---|---|---|---|")
    for label, name, options in VARIANTS:
        trace = load_trace(paper_trace_dir(name, DATA), **options)
        costs, avails, secs, nblocks, checks = [], [], [], [], []
        for i, (_, cap) in enumerate(trace.windows(n_ticks, args.repeats, args.seed)):
            problem = SpotProblem(cap, target=3, cold=4)
            t0 = time.perf_counter()
            s = solve(problem)
            secs.append(time.perf_counter() - t0)
            assert s.status == "optimal", s.status
            costs.append(s.cost_pct)
            avails.append(100 * s.availability)
            nblocks.append(len(blocks(cap, 4)))
            if i < args.check:
                t0 = time.perf_counter()
                full = solve(problem, aggregate=False)
                same = full.status == "optimal" and abs(full.cost - s.cost) < 1e-6 * max(1.0, s.cost)
                verdict = "yes" if same else f"NO: {full.status}, {full.cost_pct:.2f}% vs {s.cost_pct:.2f}%"
                checks.append(f"{time.perf_counter() - t0:.1f} ({verdict})")
        print(f"| {label} | {ARTIFACT_COST[name]} | {statistics.mean(costs):.1f} ({min(costs):.1f}-"
              f"{max(costs):.1f}) | {statistics.mean(avails):.1f} | {statistics.median(nblocks):.0f} | "
              f"{statistics.median(secs):.2f}, {max(secs):.2f} | {', '.join(checks) or '-'} |", flush=True)


if __name__ == "__main__":
    main()
