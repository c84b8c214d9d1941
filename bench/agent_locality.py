"""DLPM vs VTC (and LPM/FCFS for reference) on clients with private prompt prefixes.

Workload: C backlogged clients, each sending R requests of a private P-token prefix plus a short
random suffix; the KV pool holds only about 3 prefixes, prefill is budget-bound, so prefix hits save
compute. Cost model (virtual clock): one engine step costs `overhead + tokens computed` token-units,
so throughput = (prompt + generated tokens served) / virtual time. Fairness: the worst pairwise
range of D = W_a - W_b over the steps where both clients are backlogged, against 2U (VTC) and
2(U + Q) (DLPM), U = max(w_p * L_input, w_q * M). `--real` also runs the tiny Llama through the
real ModelRunner and reports wall-clock throughput.

    python bench/agent_locality.py [--quick] [--real]
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "agent"))

from fake_runner import ClientLoad, drive

from replica_agent.config import EngineConfig
from replica_agent.engine import LLMEngine

POLICIES = ("fcfs", "lpm", "vtc", "dlpm")


def workload(clients: int, requests: int, prefix_len: int, suffix: int, out: int, vocab: int, burst: bool):
    """burst: every request arrives at step 0 (client by client); stream: one per client per step."""
    rng = random.Random(11)
    return {f"c{i}": ClientLoad(every=1, prompt_len=prefix_len + suffix, max_tokens=out,
                                burst=requests if burst else 1, total=requests,
                                prefix=[rng.randrange(1, vocab) for _ in range(prefix_len)])
            for i in range(clients)}


def run(policy: str, args, runner_factory, vocab: int) -> dict:
    config = EngineConfig(policy=policy, block_size=16, num_blocks=args.num_blocks, max_num_seqs=4,
                          max_batched_tokens=64, max_model_len=512)
    engine = LLMEngine(config, runner_factory(config))
    engine.clock = lambda: engine.step_count
    loads = workload(args.clients, args.requests, args.prefix, 16, args.out, vocab, args.burst)
    start = time.perf_counter()
    trace = drive(engine, loads, steps=None, vocab=vocab)
    wall = time.perf_counter() - start
    stats = engine.stats()
    work = stats.prompt_tokens + stats.generated_tokens
    computed = sum(getattr(engine.runner, "step_tokens", [])) or None
    steps = len(trace.service)
    u = max(config.w_p * (args.prefix + 16), config.w_q * config.num_blocks * config.block_size)
    q = engine.scheduler.policy.quantum if policy == "dlpm" else 0.0
    gap = max(trace.gap_range(a, b) for a, b in itertools.combinations(loads, 2))
    vtime = (steps * args.overhead + computed) if computed is not None else None
    return {"policy": policy, "steps": steps, "computed": computed, "vtime": vtime, "work": work,
            "hit": stats.prefix_hit_tokens / stats.prefix_query_tokens, "gap": gap,
            "bound": 2 * (u + q), "wall": wall, "preemptions": stats.preemptions}


def fake_factory(config: EngineConfig):
    from fake_runner import FakeRunner

    return FakeRunner(config.num_blocks, config.block_size)


def real_factory(config: EngineConfig):
    import torch

    from replica_agent.model.loader import load_model
    from replica_agent.model.runner import ModelRunner

    torch.set_num_threads(1)  # OpenMP spin-waiting on a shared 2-core box costs far more than it gives
    loaded = load_model(None)
    return ModelRunner(loaded.model, config.num_blocks, config.block_size)


def table(rows: list[dict], real: bool) -> str:
    vtc = next(r for r in rows if r["policy"] == "vtc")
    head = ("| policy | steps | tokens computed | virtual time | work/virtual time | vs VTC | hit rate |"
            " max range(D) | bound | preemptions |" if not real else
            "| policy | steps | wall s | tokens/s (wall) | vs VTC | hit rate | max range(D) | bound |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        if real:
            tps = r["work"] / r["wall"]
            lines.append(f"| {r['policy']} | {r['steps']} | {r['wall']:.1f} | {tps:.0f} | "
                         f"{tps / (vtc['work'] / vtc['wall']):.2f}x | {r['hit']:.0%} | {r['gap']:.0f} | "
                         f"{r['bound']:.0f} |")
        else:
            tput, base = r["work"] / r["vtime"], vtc["work"] / vtc["vtime"]
            lines.append(f"| {r['policy']} | {r['steps']} | {r['computed']} | {r['vtime']:.0f} | "
                         f"{tput:.3f} | {tput / base:.2f}x | {r['hit']:.0%} | {r['gap']:.0f} | "
                         f"{r['bound']:.0f} | {r['preemptions']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer requests (seconds)")
    ap.add_argument("--real", action="store_true", help="also run the tiny Llama through ModelRunner")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--prefix", type=int, default=128)
    ap.add_argument("--out", type=int, default=4, help="output tokens per request")
    ap.add_argument("--num-blocks", type=int, default=40, help="KV pool (16-token blocks)")
    ap.add_argument("--overhead", type=float, default=16.0, help="fixed cost of one step, in token-units")
    args = ap.parse_args()
    args.requests = 10 if args.quick else 40
    print(f"{args.clients} clients x {args.requests} requests, {args.prefix}-token private prefixes, "
          f"{args.out} output tokens, {args.num_blocks} blocks x 16 tokens, max_num_seqs=4, budget 64")
    for burst in (True, False):
        args.burst = burst
        rows = [run(p, args, fake_factory, 30_000) for p in POLICIES]
        print(f"\nFakeRunner, {'burst' if burst else 'stream'} arrivals, cost model: step = "
              f"{args.overhead:g} + tokens computed\n" + table(rows, real=False))
        dlpm, vtc = rows[3], rows[2]
        ratio = (dlpm["work"] / dlpm["vtime"]) / (vtc["work"] / vtc["vtime"])
        print(f"DLPM/VTC throughput (virtual time): {ratio:.2f}x; "
              f"steps ratio {dlpm['steps'] / vtc['steps']:.2f}; "
              f"DLPM within 2(U+Q): {dlpm['gap'] <= dlpm['bound']}; "
              f"VTC within 2U: {vtc['gap'] <= vtc['bound']}")
    if args.real:
        args.burst = False
        args.requests = 4 if args.quick else 10
        reps = [[run(p, args, real_factory, 250) for p in ("vtc", "dlpm")] for _ in range(3)]
        med = [min(rs, key=lambda r, i=i: abs(r["wall"] - statistics.median(x[i]["wall"] for x in reps)))
               for i, rs in enumerate(zip(*reps, strict=True))]
        print(f"\nTiny Llama (ModelRunner, CPU fp32), {args.requests} requests/client, median of 3 runs\n"
              + table(med, real=True))


if __name__ == "__main__":
    main()
