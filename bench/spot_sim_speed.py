"""Wall time of `skyctl serve simulate --trace T --policy all` (24 h x 10 windows), before and after.

"Before" is an export of a reference commit (`git archive`, first on PYTHONPATH, policy files copied from
the working tree as in bench/spot_sim_identity.py), "after" this working tree; both run the CLI in a fresh
process, as a user does, so start-up and worker imports count. Prints the median of `--runs` walls per
trace and side, the ratio, the machine and its load average (the box is shared: numbers are noisy), and
checks that both sides printed the same `--json` summary.

    python bench/spot_sim_speed.py [--traces aws1,aws2,aws3,gcp1] [--runs 3] [--against COMMIT]
                                   [--side both|before|after]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from spot_sim_identity import BASE_COMMIT, POLICY_FILES, REPO, TRACES_DIR


def timed(env: dict[str, str], trace: str, cwd: str) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "skyctl", "serve", "simulate", "--trace", trace, "--policy", "all", "--json"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--traces", default="aws1,aws2,aws3,gcp1")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--against", default=BASE_COMMIT)
    ap.add_argument("--side", choices=("both", "before", "after"), default="both")
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"load average at start {os.getloadavg()}")
    env = {**os.environ, "SKYCTL_TRACES_DIR": str(TRACES_DIR)}
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "ref"
        export.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.against], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(export)], input=archive, check=True)
        for f in POLICY_FILES:
            shutil.copyfile(REPO / f, export / f)
        paths = {"before": export, "after": REPO}
        sides = {side: {**env, "PYTHONPATH": str(path)} for side, path in paths.items()
                 if args.side in ("both", side)}
        print("| trace | side | walls (s) | median (s) | load avg (1 min) |")
        print("|---|---|---|---|---|")
        medians: dict[tuple[str, str], float] = {}
        for trace in args.traces.split(","):
            outputs = {}
            for side, side_env in sides.items():
                walls = []
                for _ in range(args.runs):
                    wall, outputs[side] = timed(side_env, trace, tmp)
                    walls.append(wall)
                medians[(trace, side)] = statistics.median(walls)
                print(f"| {trace} | {side} | {', '.join(f'{w:.1f}' for w in walls)} | "
                      f"{medians[(trace, side)]:.1f} | {os.getloadavg()[0]:.2f} |", flush=True)
            if len(set(outputs.values())) > 1:
                raise SystemExit(f"{trace}: before and after print different results")
    if args.side == "both":
        for trace in args.traces.split(","):
            before, after = medians[(trace, "before")], medians[(trace, "after")]
            print(f"{trace}: {before:.1f} s -> {after:.1f} s ({before / after:.1f}x), same --json output")


if __name__ == "__main__":
    main()
