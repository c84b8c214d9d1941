"""Spot policies on the SpotHedge traces: `skyctl serve simulate --policy all` on AWS 1-3 and GCP 1.

Prints one markdown row per (trace, policy) with availability, cost % of on-demand, preemptions and
on-demand hours per window, then the wall time of each trace's run and controller ticks/s. Baseline in the
same run: the artifact's committed figures (brief §3.3), printed next to ours.

    python bench/spot_policies.py [--traces aws1,aws2,aws3,gcp1] [--repeats 10] [--seed 0] [--jobs 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from skyctl.serve.simulate import CONTROLLER_POLICIES, POLICIES, Setup, open_trace, simulate, summarize

# (availability %, cost %) from the artifact's plots: Even Spread, Round Robin, SkyServe, Optimal
ARTIFACT = {
    "aws1": {"even_spread": (52, 29), "round_robin": (93, 39), "spothedge": (100, 45), "optimal": (100, 40)},
    "aws2": {"even_spread": (32, 20), "round_robin": (82, 33), "spothedge": (99, 58), "optimal": (100, 38)},
    "aws3": {"even_spread": (27, 16), "round_robin": (90, 37), "spothedge": (100, 45), "optimal": (100, 34)},
    "gcp1": {"even_spread": (63, 25), "round_robin": (99, 39), "spothedge": (100, 46), "optimal": (100, 34)},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--traces", default="aws1,aws2,aws3,gcp1")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the rows to this file")
    args = ap.parse_args()
    setup = Setup(repeats=args.repeats, seed=args.seed)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; setup {setup}")
    print("| trace | policy | availability % | cost % of OD | preemptions/run | OD h/run "
          "| artifact avail/cost |")
    print("|---|---|---|---|---|---|---|")
    out, timing = [], []
    for name in args.traces.split(","):
        trace = open_trace(name)
        t0 = time.perf_counter()
        runs = simulate(trace, POLICIES, setup, jobs=args.jobs or None)
        wall = time.perf_counter() - t0
        ticks = sum(len(r.ready) for p in CONTROLLER_POLICIES for r in runs[p])
        timing.append((name, wall, ticks))
        for s in summarize(runs):
            ref = ARTIFACT.get(name, {}).get(s.policy)
            print(f"| {name} | {s.policy} | {s.availability_pct:.2f} | {s.cost_pct_of_ondemand:.1f} | "
                  f"{s.preemptions:.1f} | {s.ondemand_hours:.2f} | "
                  f"{f'{ref[0]} / {ref[1]}' if ref else '-'} |",
                  flush=True)
            out.append({"trace": name, **s.to_dict()})
    for name, wall, ticks in timing:
        print(f"{name}: --policy all wall {wall:.1f} s; {ticks} controller ticks -> "
              f"{ticks / wall:.0f} ticks/s "
              f"(all processes, optimal's solves included in the wall time)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
