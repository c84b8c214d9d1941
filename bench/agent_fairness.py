"""VTC against FCFS (and LCF) on backlogged clients: accumulated service difference over time.

Virtual clock: one engine step = one tick, FakeRunner (deterministic tokens, never EOS). Shapes
follow the VTC artifact's `overload` and `on_off` suites scaled to steps: 256-token prompts and
outputs, a 10,000-token KV pool (625 blocks x 16), conservative admission. Service W = 1 * prompt +
2 * output tokens (ledger, counted at the step computed). Bound: 2U, U = max(w_p * L_in, w_q * M).
Also reports the engine's per-step wall time (scheduler + bookkeeping + fake runner).

    python bench/agent_fairness.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "agent"))

from fake_runner import ClientLoad, drive, make_engine

CONFIG = dict(block_size=16, num_blocks=625, max_num_seqs=64, max_batched_tokens=2048, max_model_len=1024,
              admission="conservative", max_waiting=100_000)
U = max(1.0 * 256, 2.0 * 625 * 16)


def scenario(name: str, steps: int) -> dict[str, ClientLoad]:
    if name == "overload":  # both above their fair share, arrival ratio 1:2
        return {"A": ClientLoad(every=20, prompt_len=256, max_tokens=256),
                "B": ClientLoad(every=10, prompt_len=256, max_tokens=256)}
    # on_off: A pauses in the second quarter (its queue drains, it goes idle); B floods throughout
    return {"A": ClientLoad(every=20, prompt_len=256, max_tokens=256, pause=(steps // 4, steps // 2)),
            "B": ClientLoad(every=10, prompt_len=256, max_tokens=256)}


def run(policy: str, name: str, steps: int) -> dict:
    engine, _ = make_engine(policy=policy, **CONFIG)
    loads = scenario(name, steps)
    timings: list[float] = []
    step = engine.step

    def timed_step():
        t0 = time.perf_counter()
        out = step()
        timings.append(time.perf_counter() - t0)
        return out

    engine.step = timed_step
    trace = drive(engine, loads, steps=steps)
    d = [s.get("A", 0.0) - s.get("B", 0.0) for s in trace.service]
    return {"policy": policy, "d": d, "range": trace.gap_range("A", "B"),
            "step_ms": statistics.median(timings) * 1e3}


def report(name: str, rows: list[dict], steps: int, since: int) -> None:
    """Table of |D(t) - D(since)| at ten checkpoints after `since` (0 = accumulated from the start)."""
    marks = [since + (steps - since) * k // 10 - 1 for k in range(1, 11)]
    what = "accumulated |W_A - W_B|" if since == 0 else f"|D(t) - D({since})| after A returns at step {since}"
    print(f"\n### {name}: {what}, cost-tokens; 2U = {2 * U:,.0f}\n")
    print("| policy | " + " | ".join(str(m + 1) for m in marks) + " | max range(D) while both backlogged "
          "| within 2U | median ms/step |")
    print("|---" * (len(marks) + 4) + "|")
    for r in rows:
        base = r["d"][since - 1] if since else 0.0
        cells = " | ".join(f"{abs(r['d'][m] - base):,.0f}" for m in marks)
        print(f"| {r['policy']} | {cells} | {r['range']:,.0f} | {r['range'] <= 2 * U} | {r['step_ms']:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2,000 steps instead of 8,000")
    args = ap.parse_args()
    steps = 2000 if args.quick else 8000
    report("overload", [run(p, "overload", steps) for p in ("vtc", "fcfs")], steps, 0)
    report("on_off", [run(p, "on_off", steps) for p in ("vtc", "lcf", "fcfs")], steps, steps // 2)


if __name__ == "__main__":
    main()
