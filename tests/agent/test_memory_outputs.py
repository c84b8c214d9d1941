"""Memory claims M5-M7 (agent.md §6.2): caching, preemption and copy-on-write never change outputs.

The FakeRunner's next token is a hash of the KV it reads back through the block table, so any
cache, preemption or copy bug shows up here as a different output.
"""

from __future__ import annotations

import random
from collections import defaultdict

from fake_runner import make_engine

from replica_agent.memory.manager import cdiv
from replica_agent.sampling import SamplingParams

Workload = list[tuple[int, list[int], SamplingParams, str]]  # (arrival step, prompt, sampling, client)


def workload(seed: int, count: int = 40) -> Workload:
    rng = random.Random(seed)
    shared = [rng.randrange(1, 500) for _ in range(40)]
    out = []
    for i in range(count):
        head = shared[: rng.choice([0, 8, 17, 40])]
        prompt = head + [rng.randrange(1, 500) for _ in range(rng.randint(1, 30))]
        sp = SamplingParams(temperature=rng.choice([0.0, 0.8]), max_tokens=rng.randint(1, 40), seed=i,
                            n=rng.choice([1, 1, 2]))
        out.append((i // 3, prompt, sp, f"c{i % 3}"))
    return out


def run(load: Workload, **overrides) -> tuple[dict[tuple[str, int], list[int]], object]:
    config = {"block_size": 4, "num_blocks": 256, "max_num_seqs": 8, "max_batched_tokens": 32,
              "max_model_len": 128, **overrides}
    engine, _ = make_engine(**config)
    outputs: dict[tuple[str, int], list[int]] = defaultdict(list)
    names, pending, t = {}, list(load), 0
    while pending or engine.has_unfinished():
        while pending and pending[0][0] <= t:
            _, prompt, sp, client = pending.pop(0)
            names[engine.add_request(prompt, sp, client)] = f"q{len(names)}"
        for out in engine.step():
            outputs[(names[out.request_id], out.seq_index)].extend(out.new_token_ids)
        engine.check_invariants()
        t += 1
    return dict(outputs), engine


def test_m5_outputs_identical_with_prefix_cache_on_and_off():
    load = workload(5)
    cached, engine = run(load, enable_prefix_caching=True)
    plain, _ = run(load, enable_prefix_caching=False)
    assert engine.stats().prefix_hit_tokens > 200  # the cache really served tokens
    assert cached == plain


def test_m6_outputs_identical_under_heavy_preemption_and_nothing_leaks():
    load = workload(6)
    roomy, _ = run(load)
    tight, engine = run(load, num_blocks=48)
    assert engine.stats().preemptions >= 10
    assert tight == roomy
    kv = engine.kv
    assert kv.num_free + kv.num_evictable == kv.pool.num_blocks
    kv.reset_prefix_cache()
    assert kv.num_free == kv.pool.num_blocks


def test_m7_parallel_samples_share_prompt_blocks_and_copy_the_tail_once():
    bs, prompt, max_tokens, n = 4, list(range(1, 11)), 12, 4  # 10 tokens: the tail block is partial
    engine, runner = make_engine(block_size=bs, num_blocks=64, max_model_len=64)
    sp = SamplingParams(temperature=1.0, max_tokens=max_tokens, seed=100, n=n)
    rid = engine.add_request(prompt, sp)
    outputs: dict[int, list[int]] = defaultdict(list)
    bound = cdiv(len(prompt), bs) + n * cdiv(max_tokens, bs) + n
    copies_per_step = []
    while engine.has_unfinished():
        before = len(runner.copies)
        for out in engine.step():
            outputs[out.seq_index].extend(out.new_token_ids)
        engine.check_invariants()
        copies_per_step.append(runner.copies[before:])
        kv = engine.kv
        assert kv.pool.num_blocks - kv.num_free - kv.num_evictable <= bound
    copying = [c for c in copies_per_step if c]
    assert len(copying) == 1, "copies happen only at the first divergent write"
    (copies,) = copying
    assert len(copies) == n - 1 and len({src for src, _ in copies}) == 1  # one shared tail, n-1 copies
    assert len({dst for _, dst in copies}) == n - 1
    independent, _ = make_engine(block_size=bs, num_blocks=64, max_model_len=64)
    singles = [SamplingParams(temperature=1.0, max_tokens=max_tokens, seed=100 + i) for i in range(n)]
    expected = independent.generate([prompt] * n, singles)
    assert [outputs[i] for i in range(n)] == expected
    assert len({tuple(o) for o in expected}) == n  # the samples really differ
    assert rid not in engine.requests
