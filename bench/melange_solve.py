"""Solve time of the Mélange GPU-mix ILP against problem size, formulation and backend.

1. The reproduction-target instances (T1-T8 of shared/reference/melange.md, read by path): all proven
   optimal, and how fast (the target is < 5 s each).
2. Paper size (60 buckets x 4 types x slice factor 8): median over seeds for aggregated vs binary, HiGHS vs
   CBC (target: aggregated median <= 0.2 s; the paper reports 0.14-1.14 s for binary on CBC).
3. A size grid (types 4-32, buckets 60-600, slice factor 8-64) for both integer formulations and backends,
   with a per-solve time limit; stopped solves show their status and MIP gap.
4. Continuous mode at 600 buckets x 32 types (target <= 5 s, proven optimal).
5. Random 200-bucket x 24-type instances, aggregated (target: proven optimal < 60 s) against the plain
   aggregated model on plain HiGHS (the baseline, measured in the same run), at several total rates.

Instances come from `solvers.melange.synthetic.random_problem` (seeded). Usage:
    python bench/melange_solve.py [--quick]
    python bench/melange_solve.py --edge [--seeds N]  # only the two edge targets (4, 5 without the plain
                                                      # baseline), over seeds 0..N-1
The `--edge` part uses nothing newer than `solve()`, so the same file run from an older checkout times the
older solver on the same instances (the before/after in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from solvers.melange import ilp  # noqa: E402
from solvers.melange.backend import run  # noqa: E402
from solvers.melange.problem import GpuType, Problem, SolveOptions  # noqa: E402
from solvers.melange.solve import solve  # noqa: E402
from solvers.melange.synthetic import random_problem  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "melange"
MAX_BINARY_VARS = 150_000  # PuLP needs minutes and GBs just to build bigger binary models


def target_instances() -> list[tuple[str, Problem]]:
    """T1-T8 as the tests solve them (T7/T8 use the Feb-2024 profiles)."""
    if not DATA.exists():
        return []
    toy = json.loads((DATA / "toy_examples.json").read_text())
    out = []

    def mel(cfg, s, rate=None, caps=None):
        caps = caps or {}
        gpus = tuple(GpuType(n, v["cost"], tuple(map(tuple, v["tputs"])), caps.get(n))
                     for n, v in cfg["gpu_info"].items())
        total = rate or cfg["total_request_rate"]
        return Problem(gpus, tuple(tuple(p * total for p in row) for row in cfg["workload_distribution"]), s)

    ex = toy["toy_current_example_json"]["config"]
    out += [(f"T1/T2 s={s}", mel(ex, s)) for s in (1, 2, 4, 8, 16, 24, 32)]
    out += [(f"T3/T4 {k}", mel(toy[k]["config"], 1)) for k in ("toy_notebook", "toy_apr2024_main_py")]
    out += [(f"T5 caps {c}", mel(ex, 4, caps=c)) for c in ({"A10G": 2, "A100-80GB": 1}, {"A10G": 0})]
    out += [(f"T6 rate {r}", mel(ex, 4, rate=r)) for r in (10, 20, 30, 40, 60)]
    info = json.loads((DATA / "profiles_llama2_7b_feb2024.json").read_text())["gpu_info"]
    prices = {"H100": 7.516}
    feb = tuple(GpuType(n, prices.get(n, info[n]["cost"]), tuple(tuple(r) for r in info[n]["tputs"][:6]))
                for n in ("L4", "A10G", "A100", "H100"))
    hist = json.loads((DATA / "arena_histograms_feb2024.json").read_text())
    h7 = hist["arena_first1000convos_commit_4acefed"]["fractions"]
    out.append(("T7", Problem(feb[1:3], tuple(tuple(p * 4 for p in row) for row in h7), 1)))
    reg = json.loads((DATA / "regression_arena6x6_feb2024_profiles.json").read_text())["fractions"]
    for rate in (1, 2, 4, 8, 16, 32):
        out.append((f"T8 rate {rate}", Problem(feb, tuple(tuple(p * rate for p in row) for row in reg), 8)))
    return out


def timed(p: Problem, mode: str, solver: str, limit: float):
    sol = solve(p, SolveOptions(mode=mode, solver=solver, time_limit=limit))
    return sol.solve_seconds, sol.status, sol.gap


def plain(p: Problem, limit: float):
    """The baseline: the aggregated model handed straight to HiGHS (no bound, no warm start, no reduction)."""
    t0 = time.perf_counter()
    m = ilp.build(p, "aggregated")
    r = run(m.lp, "highs", limit)
    gap = None if r.bound is None or not r.objective else (r.objective - r.bound) / r.objective
    return time.perf_counter() - t0, r.status, 0.0 if r.status == "optimal" else gap


def cell(t: float, status: str, gap) -> str:
    if status == "optimal":
        return f"{t:.2f}"
    g = "gap ?" if gap is None else f"gap {100 * gap:.2f}%"
    return f"{t:.1f} {status} ({g})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer seeds and sizes (a few minutes)")
    ap.add_argument("--edge", action="store_true", help="only continuous 600x32 and aggregated 200x24")
    ap.add_argument("--seeds", type=int, default=None,
                    help="with --edge: seeds 0..N-1 (default 5 continuous, 3 aggregated)")
    args = ap.parse_args()
    if args.edge:
        edge(args.seeds)
        return
    seeds = range(3 if args.quick else 5)

    print("### Reproduction targets (aggregated, HiGHS)\n")
    ts = [(name, *timed(p, "aggregated", "highs", 30)) for name, p in target_instances()]
    if ts:
        proven = sum(1 for _, _, st, _ in ts if st == "optimal")
        slowest = max(ts, key=lambda x: x[1])
        print(f"{proven}/{len(ts)} proven optimal; slowest {slowest[0]} {slowest[1]:.3f} s; "
              f"median {statistics.median(t for _, t, _, _ in ts):.3f} s\n")
    else:
        print("skipped: ../shared/data/melange not found\n")

    print("### Paper size: 60 buckets x 4 types x slice factor 8 (median over seeds, rate 64 req/s)\n")
    print("| formulation | HiGHS median s | CBC median s | all proven |\n|---|---|---|---|")
    for mode in ("aggregated", "binary", "continuous"):
        res = {sv: [timed(random_problem(4, 60, 8, s), mode, sv, 60) for s in seeds]
               for sv in ("highs", "cbc")}
        ok = all(st == "optimal" for rs in res.values() for _, st, _ in rs)
        print(f"| {mode} | {statistics.median(t for t, _, _ in res['highs']):.3f} | "
              f"{statistics.median(t for t, _, _ in res['cbc']):.3f} | {'yes' if ok else 'no'} |")

    limit = 20.0 if args.quick else 30.0
    grid = [(4, 60, 8), (8, 60, 64), (16, 200, 8), (32, 200, 8), (32, 600, 8)]
    if not args.quick:
        grid += [(4, 200, 64), (16, 600, 8), (32, 600, 64)]
    print(f"\n### Size grid (seed 0, rate 64 req/s, time limit {limit:g} s; seconds, or status and gap)\n")
    print("| types | buckets | s | aggregated HiGHS | aggregated CBC | binary HiGHS | binary CBC "
          "| continuous |")
    print("|---|---|---|---|---|---|---|---|")
    for nt, nb, s in grid:
        p = random_problem(nt, nb, s, 0)
        row = [cell(*timed(p, "aggregated", sv, limit)) for sv in ("highs", "cbc")]
        for sv in ("highs", "cbc"):
            row.append(cell(*timed(p, "binary", sv, limit)) if nt * nb * s <= MAX_BINARY_VARS
                       else f"not built ({nt * nb * s:,} binaries)")
        row.append(cell(*timed(p, "continuous", "highs", limit)))
        print(f"| {nt} | {nb} | {s} | " + " | ".join(row) + " |")

    print("\n### Continuous mode, 600 buckets x 32 types (HiGHS)\n")
    cs = [timed(random_problem(32, 600, 8, s), "continuous", "highs", 60) for s in seeds]
    print(f"median {statistics.median(t for t, _, _ in cs):.2f} s, max {max(t for t, _, _ in cs):.2f} s, "
          f"proven {sum(st == 'optimal' for _, st, _ in cs)}/{len(cs)}\n")

    print("### 200 buckets x 24 types, slice factor 8 (time limit 60 s)\n")
    print("| rate req/s | seed | skyctl aggregated | plain aggregated on HiGHS |\n|---|---|---|---|")
    rates = (64, 256) if args.quick else (64, 256, 1000)
    for rate in rates:
        for s in seeds:
            p = random_problem(24, 200, 8, s, rate)
            print(f"| {rate} | {s} | {cell(*timed(p, 'aggregated', 'highs', 60))} | "
                  f"{cell(*plain(p, 60))} |", flush=True)


def edge(seeds: int | None = None) -> None:
    """The two targets that sat at their edge: continuous 600x32 (<= 5 s) and aggregated 200x24 (< 60 s)."""
    n_cont, n_agg = (seeds, seeds) if seeds else (5, 3)
    print(f"### Continuous mode, 600 buckets x 32 types, seeds 0-{n_cont - 1} (HiGHS)\n")
    cs = [timed(random_problem(32, 600, 8, s), "continuous", "highs", 60) for s in range(n_cont)]
    print(" | ".join(cell(*c) for c in cs))
    print(f"median {statistics.median(t for t, _, _ in cs):.2f} s, max {max(t for t, _, _ in cs):.2f} s, "
          f"proven {sum(st == 'optimal' for _, st, _ in cs)}/{len(cs)}\n")
    print(f"### Aggregated, 200 buckets x 24 types, slice factor 8, seeds 0-{n_agg - 1} (60 s limit)\n")
    for rate in (256, 1000):
        ts = []
        for s in range(n_agg):
            ts.append(timed(random_problem(24, 200, 8, s, rate), "aggregated", "highs", 60))
            print(f"rate {rate} seed {s}: {cell(*ts[-1])}", flush=True)
        print(f"rate {rate}: proven in under 60 s {sum(st == 'optimal' for _, st, _ in ts)}/{len(ts)}, "
              f"median {statistics.median(t for t, _, _ in ts):.2f} s\n", flush=True)


if __name__ == "__main__":
    main()
