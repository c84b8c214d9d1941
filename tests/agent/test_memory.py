"""Memory claims M1-M4 and M8 (agent.md §6.2): invariants, leaks, fragmentation, hits, eviction."""

from __future__ import annotations

import contextlib
import random

from fake_runner import make_engine
from hypothesis import given, settings
from hypothesis import strategies as st

from replica_agent.engine import InvalidRequestError
from replica_agent.memory.manager import KVCacheManager
from replica_agent.sampling import SamplingParams
from replica_agent.sequence import Sequence

PREFIXES = [[7, 7, 7, 7, 7, 7, 7, 7, 7, 7], [1, 2, 3, 4, 5, 6, 7, 8], [9, 9, 8, 8]]


def random_prompt(rng: random.Random) -> list[int]:
    """Prompts that often share prefixes (so hits, dedupe and eviction all happen)."""
    head = list(rng.choice(PREFIXES))[: rng.randint(0, 10)]
    return head + [rng.randrange(1, 20) for _ in range(rng.randint(1, 12))]


def run_lifecycles(seed: int, policy: str, admission: str, caching: bool, block_size: int, num_blocks: int,
                   requests: int, abort_rate: float = 0.15) -> tuple:
    """Random arrivals, aborts and n>1 samples; invariants are checked after every step."""
    rng = random.Random(seed)
    engine, runner = make_engine(policy=policy, admission=admission, enable_prefix_caching=caching,
                                 block_size=block_size, num_blocks=num_blocks, max_num_seqs=6,
                                 max_batched_tokens=rng.choice([8, 16, 64]), max_model_len=64)
    added, steps = 0, 0
    while added < requests or engine.has_unfinished():
        for _ in range(rng.randint(0, 3)):
            if added < requests:
                n = rng.choice([1, 1, 1, 2, 3])
                sp = SamplingParams(temperature=rng.choice([0.0, 1.0]), max_tokens=rng.randint(1, 12), n=n,
                                    seed=rng.randrange(100))
                added += 1
                with contextlib.suppress(InvalidRequestError):  # n x length beyond the pool
                    engine.add_request(random_prompt(rng), sp, client_id=f"c{rng.randrange(3)}")
        if engine.requests and rng.random() < abort_rate:
            engine.abort(rng.choice(list(engine.requests)))
        engine.step()
        engine.check_invariants()
        steps += 1
        assert steps < 20 * requests + 200, "engine stopped making progress"
    return engine, runner


def assert_drained(engine) -> None:
    kv = engine.kv
    assert not engine.scheduler.running and not len(engine.scheduler.waiting)
    assert kv.num_free + kv.num_evictable == kv.pool.num_blocks
    kv.reset_prefix_cache()
    kv.check_invariants([])
    assert kv.num_free == kv.pool.num_blocks and kv.tree.num_nodes == 0


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), policy=st.sampled_from(["fcfs", "lpm", "vtc", "lcf", "dlpm"]),
       admission=st.sampled_from(["optimistic", "conservative"]), caching=st.booleans(),
       block_size=st.sampled_from([2, 4]), num_blocks=st.integers(20, 48))
def test_m1_m2_invariants_after_every_step_and_no_leaks(seed, policy, admission, caching, block_size,
                                                        num_blocks):
    engine, _ = run_lifecycles(seed, policy, admission, caching, block_size, num_blocks, requests=20)
    assert_drained(engine)


def test_m2_thousand_lifecycles_with_aborts_leave_nothing_behind():
    engine, runner = run_lifecycles(3, "vtc", "optimistic", True, 4, 24, requests=1000, abort_rate=0.3)
    assert engine.stats().preemptions > 0 and engine.stats().prefix_hit_tokens > 0
    assert_drained(engine)
    finished = {s for s in runner.released}
    assert len(finished) >= 1000  # every sequence's runner state was released


def test_m3_under_one_block_of_slack_per_running_sequence():
    engine, _ = make_engine(block_size=8, num_blocks=64, max_num_seqs=8, max_batched_tokens=24,
                            max_model_len=128)
    rng = random.Random(1)
    for i in range(30):
        engine.add_request([rng.randrange(50) for _ in range(rng.randint(1, 60))],
                           SamplingParams(temperature=0, max_tokens=rng.randint(1, 40)), f"c{i % 2}")
    seen = 0
    while engine.has_unfinished():
        engine.step()
        for seq in engine.scheduler.running:
            assert 0 <= len(seq.block_table) * 8 - seq.num_computed_tokens < 8
            seen += 1
    assert seen > 100


def test_m4_sequential_shared_prefix_hits_exactly():
    cases = [(4, 10, 14), (4, 8, 8), (16, 40, 41), (16, 64, 64), (8, 3, 20)]
    for block_size, prefix_len, prompt_len in cases:
        engine, _ = make_engine(block_size=block_size, num_blocks=64, max_model_len=256)
        prefix = list(range(100, 100 + prefix_len))
        n = 6
        for i in range(n):
            prompt = prefix + [1000 + 50 * i + j for j in range(prompt_len - prefix_len)]
            engine.generate([prompt], SamplingParams(temperature=0, max_tokens=5))
        expected = (n - 1) * (min(prefix_len, prompt_len - 1) // block_size) * block_size
        stats = engine.stats()
        assert stats.prefix_hit_tokens == expected, (block_size, prefix_len, prompt_len)
        assert stats.prefix_query_tokens == n * prompt_len


def make_seq(seq_id: int, tokens: list[int]) -> Sequence:
    return Sequence(seq_id, f"r{seq_id}", "c", list(tokens), len(tokens), SamplingParams())


def compute_all(kv: KVCacheManager, seq: Sequence) -> None:
    """Admit seq with its prefix hit and 'compute' every token, then cache its full blocks."""
    copies: list = []
    kv.allocate(seq, kv.match(seq), seq.num_tokens, copies)
    seq.num_computed_tokens = seq.num_tokens
    kv.commit(seq)


def expected_evictions(kv: KVCacheManager, count: int, protected: frozenset[int] = frozenset()) -> list:
    """Brute force: repeatedly take the unreferenced leaf with the oldest use among all tree nodes."""
    alive = {id(n): n for n in kv.tree.nodes()}
    out = []
    for _ in range(count):
        leaves = [n for n in alive.values() if n.block.ref == 0 and id(n) not in protected
                  and not any(id(c) in alive for c in n.children.values())]
        if not leaves:
            break
        victim = min(leaves, key=lambda n: n.stamp)
        out.append(victim)
        del alive[id(victim)]
    return out


@settings(max_examples=50, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(["admit", "free", "squeeze"]), st.integers(0, 10**6)),
                    min_size=5, max_size=60))
def test_m8_eviction_is_lru_over_unreferenced_leaves_only(ops):
    kv = KVCacheManager(num_blocks=24, block_size=2)
    live: list[Sequence] = []
    next_id = 0
    for op, arg in ops:
        rng = random.Random(arg)
        if op == "admit":
            seq = make_seq(next_id, random_prompt(rng)[:14])
            next_id += 1
            path = kv.match(seq)
            if kv.admit_cost(path, seq.num_tokens) > kv.available:
                continue
            new_blocks = -(-seq.num_tokens // kv.block_size) - len(path)
            hit = frozenset(id(n) for n in path)  # held by the admission before anything is evicted
            predicted = expected_evictions(kv, max(0, new_blocks - kv.num_free), hit)
            held = {b for s in live for b in s.block_table}
            before = list(kv.tree.nodes())  # keeps evicted nodes alive, so ids stay unique
            before_blocks = {id(n): n.block.block_id for n in before}
            compute_all(kv, seq)
            evicted = {id(n) for n in before} - {id(n) for n in kv.tree.nodes()}
            assert not {before_blocks[i] for i in evicted} & held, "a block in a running table was evicted"
            assert evicted == {id(n) for n in predicted}
            live.append(seq)
        elif op == "free" and live:
            kv.free(live.pop(arg % len(live)))
        elif op == "squeeze" and kv.num_evictable:
            # allocate a throwaway sequence that must evict exactly one cached block
            predicted = expected_evictions(kv, 1 if kv.num_free == 0 else 0)
            before = list(kv.tree.nodes())
            seq = make_seq(next_id, [99_999])
            next_id += 1
            kv.allocate(seq, [], 1, [])
            assert {id(n) for n in before} - {id(n) for n in kv.tree.nodes()} == {id(n) for n in predicted}
            live.append(seq)
        kv.check_invariants(live)


def test_m8_lru_order_follows_use_not_insertion():
    kv = KVCacheManager(num_blocks=6, block_size=2)
    for i in range(3):  # each caches two full blocks (a two-node path) and frees them
        seq = make_seq(i, [10 * i + 1, 10 * i + 2, 10 * i + 3, 10 * i + 4])
        compute_all(kv, seq)
        assert seq.block_table == [2 * i, 2 * i + 1]
        kv.free(seq)
    assert kv.num_evictable == 6 and kv.num_free == 0
    again = make_seq(10, [1, 2, 3, 4, 9])  # hits seq 0's path, which becomes the most recent
    compute_all(kv, again)
    assert again.num_cached_tokens == 4
    assert again.block_table == [0, 1, 3]  # seq 1's leaf was the least recently used leaf
    order = []
    while (block := kv.tree.evict_one()) is not None:
        order.append(block.block_id)
    assert order == [2, 5, 4]  # seq 1's parent (now a leaf), then seq 2 leaf-first; 0/1 are held
