"""Identity gate for simulator speed work: `skyctl serve simulate` must give exactly what it gave before.

Runs every controller policy on a few windows of some traces with this working tree, and the same runs
with an export of a reference commit (`git archive`), in a subprocess with that export first on
PYTHONPATH. The policy files (which others edit meanwhile) are copied from the working tree into the
export first, so both sides run the same policy and only the simulator/controller plumbing differs.
Compares per run, exactly: READY and $/h per tick, cost, preemptions, on-demand hours and every row.

    python bench/spot_sim_identity.py [--against COMMIT] [--traces aws1,aws3] [--repeats 3]

Exit status 1 and the first differences on any mismatch. The reference's results are cached per
(commit, policy files, arguments) under $TMPDIR, as the reference is the slow side.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BASE_COMMIT = "5943e7e5b2efda85855896e35d8f3b9004645bba"  # the last commit before the speed work
# Files of the policies themselves: the reference runs the working tree's copies.
POLICY_FILES = ("skyctl/serve/hedge_autoscaler.py", "skyctl/serve/hedge_placer.py",
                "skyctl/serve/hedge_stats.py", "skyctl/serve/placers.py", "skyctl/serve/sim_policies.py",
                "skyctl/serve/autoscalers.py")
TRACES_DIR = REPO.parent / "shared" / "data" / "skyserve" / "spothedge_ae" / "data"


def results(traces: list[str], repeats: int, hours: float) -> dict:
    """{(trace, policy, offset): (ready, rate, cost, preemptions, ondemand_hours, events)} of this
    checkout (whichever `skyctl` is first on sys.path)."""
    from skyctl.serve.simulate import CONTROLLER_POLICIES, Setup, open_trace, simulate

    out = {}
    for name in traces:
        runs = simulate(open_trace(name), CONTROLLER_POLICIES, Setup(repeats=repeats, hours=hours), jobs=2)
        for policy, rs in runs.items():
            for r in rs:
                out[(name, policy, r.offset)] = (r.ready, r.rate, r.cost, r.preemptions, r.ondemand_hours,
                                                 r.events)
    return out


def reference(commit: str, traces: list[str], repeats: int, hours: float) -> dict:
    files = b"".join((REPO / f).read_bytes() for f in POLICY_FILES)
    key = hashlib.sha256(f"{commit}{traces}{repeats}{hours}".encode() + files).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"spot_sim_identity-{key}.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "ref"
        export.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(export)], input=archive, check=True)
        for f in POLICY_FILES:
            shutil.copyfile(REPO / f, export / f)
        env = {**os.environ, "PYTHONPATH": str(export), "SKYCTL_TRACES_DIR": str(TRACES_DIR)}
        subprocess.run([sys.executable, __file__, "--dump", str(cache), "--traces", ",".join(traces),
                        "--repeats", str(repeats), "--hours", str(hours)], check=True, env=env, cwd=tmp)
    return pickle.loads(cache.read_bytes())


def compare(ref: dict, new: dict) -> list[str]:
    errors = [f"{k}: missing" for k in ref.keys() - new.keys()]
    names = ("ready", "rate", "cost", "preemptions", "ondemand_hours", "events")
    for k in sorted(ref.keys() & new.keys()):
        for name, a, b in zip(names, ref[k], new[k], strict=True):
            same = np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
            if not same:
                errors.append(f"{k} {name} differs: reference {_brief(a)} vs now {_brief(b)}")
    return errors


def _brief(value: object) -> str:
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) < 200 else text[:200] + "..."


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--against", default=BASE_COMMIT, help="reference commit")
    ap.add_argument("--traces", default="aws1,aws3")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--dump", help=argparse.SUPPRESS)  # the reference side: write results here
    args = ap.parse_args()
    traces = args.traces.split(",")
    if args.dump:
        Path(args.dump).write_bytes(pickle.dumps(results(traces, args.repeats, args.hours)))
        return
    os.environ.setdefault("SKYCTL_TRACES_DIR", str(TRACES_DIR))
    t0 = time.perf_counter()
    ref = reference(args.against, traces, args.repeats, args.hours)
    t1 = time.perf_counter()
    new = results(traces, args.repeats, args.hours)
    t2 = time.perf_counter()
    errors = compare(ref, new)
    print(f"{len(ref)} runs compared ({', '.join(traces)} x {args.repeats} windows x every controller "
          f"policy); reference {t1 - t0:.1f} s, now {t2 - t1:.1f} s")
    if errors:
        print(f"MISMATCH in {len(errors)} field(s):", *errors[:20], sep="\n  ")
        raise SystemExit(1)
    print("identical: READY, $/h per tick, cost, preemptions, on-demand hours and every row")


if __name__ == "__main__":
    main()
