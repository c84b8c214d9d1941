"""HTTP serving: 16 concurrent streaming clients against `replica-agent serve` (a real subprocess).

The agent serves its built-in tiny model (agent.md §4.3 shape over the byte vocabulary, fp32 CPU).
Each round, 16 clients each stream one completion (128 prompt tokens, 64 new tokens, greedy, EOS
ignored) at the same time. Reported (median over rounds): aggregate tokens/s (all tokens / round
wall time), TTFT p50/p99 and inter-token latency p50/p99 over every client of every round, whether
all streams completed, and whether a client that disconnects mid-stream has its blocks freed.
Baseline measured in the same script: the same 16 requests through the engine offline (no HTTP).

    python bench/agent_http.py [--quick] [--clients 16] [--rounds 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import time

import httpx
import torch

from replica_agent.config import EngineConfig
from replica_agent.engine import LLMEngine
from replica_agent.model.loader import load_model
from replica_agent.model.runner import ModelRunner
from replica_agent.sampling import SamplingParams

PROMPT_LEN, NEW_TOKENS = 128, 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def one_stream(client: httpx.AsyncClient, prompt: list[int], user: str
                     ) -> tuple[float, list[float], int]:
    """(TTFT, inter-token gaps, tokens) of one streamed completion, timed at the client."""
    body = {"prompt": prompt, "max_tokens": NEW_TOKENS, "temperature": 0, "ignore_eos": True, "stream": True,
            "user": user}
    start = time.perf_counter()
    stamps: list[float] = []
    done = False
    async with client.stream("POST", "/v1/completions", json=body) as r:
        async for line in r.aiter_lines():
            if line == "data: [DONE]":
                done = True
            elif line.startswith("data: ") and json.loads(line[6:])["choices"]:
                stamps.append(time.perf_counter())
    if not done or not stamps:
        return float("nan"), [], 0
    return stamps[0] - start, [b - a for a, b in itertools.pairwise(stamps)], len(stamps)


async def round_trip(base: str, prompts: list[list[int]]) -> tuple[float, list[tuple]]:
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        start = time.perf_counter()
        results = await asyncio.gather(*(one_stream(client, p, f"c{i % 4}") for i, p in enumerate(prompts)))
        return time.perf_counter() - start, results


def metric(base: str, name: str) -> float:
    for line in httpx.get(base + "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(name)


def disconnect_check(base: str, prompt: list[int]) -> bool:
    """Leave a stream after 3 tokens; the agent must end up with no running sequence and no used block."""
    body = {"prompt": prompt, "max_tokens": 400, "temperature": 0, "ignore_eos": True, "stream": True}
    with httpx.Client(base_url=base, timeout=30) as client, client.stream("POST", "/v1/completions",
                                                                           json=body) as r:
        lines = r.iter_lines()
        seen = 0
        while seen < 3:
            seen += next(lines).startswith("data: ")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if metric(base, "agent_running") == 0 and metric(base, "agent_kv_blocks_used") == 0:
            return True
        time.sleep(0.05)
    return False


def offline_baseline(prompts: list[list[int]], threads: int) -> float:
    torch.set_num_threads(threads)
    loaded = load_model(None)
    config = EngineConfig(num_blocks=4096, max_num_seqs=64, max_model_len=2048)
    engine = LLMEngine(config, ModelRunner(loaded.model, config.num_blocks, config.block_size))
    params = SamplingParams(temperature=0, max_tokens=NEW_TOKENS, ignore_eos=True)
    engine.generate(prompts[:1], params)  # warm-up
    start = time.perf_counter()
    engine.generate(prompts, params)
    return len(prompts) * NEW_TOKENS / (time.perf_counter() - start)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the agent and the baseline")
    ap.add_argument("--quick", action="store_true", help="2 rounds (a smoke run)")
    args = ap.parse_args()
    rounds = 2 if args.quick else args.rounds
    gen = torch.Generator().manual_seed(0)
    prompts = [torch.randint(0, 256, (PROMPT_LEN,), generator=gen).tolist() for _ in range(args.clients)]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "replica_agent", "serve", "--port", str(port),
           "--threads", str(args.threads)]
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("replica-agent did not become healthy")
            time.sleep(0.2)
        asyncio.run(round_trip(base, prompts[:2]))  # warm-up
        rates, ttft, itl, complete = [], [], [], True
        for _ in range(rounds):
            wall, results = asyncio.run(round_trip(base, prompts))
            complete = complete and all(n == NEW_TOKENS for _, _, n in results)
            rates.append(sum(n for _, _, n in results) / wall)
            ttft += [t for t, _, _ in results]
            itl += [g for _, gaps, _ in results for g in gaps]
        freed = disconnect_check(base, prompts[0])
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    offline = offline_baseline(prompts, args.threads)
    http = statistics.median(rates)
    print(f"{args.clients} concurrent SSE clients x {NEW_TOKENS} tokens ({PROMPT_LEN}-token prompts), "
          f"{rounds} rounds, threads {args.threads}")
    print("| metric | value |\n|---|---|")
    print(f"| aggregate tok/s over HTTP (median of rounds) | {http:,.0f} |")
    print(f"| same 16 requests offline, engine only | {offline:,.0f} tok/s |")
    print(f"| HTTP / offline | {http / offline:.2f} |")
    print(f"| TTFT p50 / p99 | {pct(ttft, 0.5) * 1e3:.0f} ms / {pct(ttft, 0.99) * 1e3:.0f} ms |")
    print(f"| inter-token latency p50 / p99 | {pct(itl, 0.5) * 1e3:.1f} ms / {pct(itl, 0.99) * 1e3:.1f} ms |")
    print(f"| all streams complete | {'yes' if complete else 'NO'} |")
    print(f"| blocks freed after a mid-stream disconnect | {'yes' if freed else 'NO'} |")


if __name__ == "__main__":
    main()
