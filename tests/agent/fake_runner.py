"""A deterministic stand-in for the model runner that still behaves like a paged KV cache,
and a virtual-clock driver (one engine step = one tick) for fairness and locality experiments.

Every slot it writes holds (token, chain hash of the whole prefix up to it), and each step reads
the previous position back *through the block table*. The sampled token is a function of that
chain hash (and the seed), so a wrong block, a missed copy-on-write or a stale eviction changes
the output instead of passing silently. Cost model: a step costs `step_overhead + tokens computed`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from replica_agent.config import EngineConfig
from replica_agent.engine import LLMEngine, ScheduledBatch
from replica_agent.sampling import SamplingParams

MASK = (1 << 64) - 1
ROOT_HASH = 0x9E3779B97F4A7C15


def mix(h: int, x: int) -> int:
    return ((h ^ (x + 0x632BE59BD9B4E019)) * 0x100000001B3) & MASK


class CacheCorruption(AssertionError):
    """The KV slot the runner read back does not hold what the sequence says it should."""


class FakeRunner:
    def __init__(self, num_blocks: int, block_size: int, vocab: int = 50_000, eos_token_id: int | None = None,
                 eos_at: dict[str, int] | None = None, step_overhead: float = 0.0) -> None:
        self.block_size = block_size
        self.vocab = vocab
        self.eos_token_id = eos_token_id
        self.eos_at = eos_at or {}  # request_id -> output length at which EOS is emitted
        self.kv: list[list[tuple[int, int] | None]] = [[None] * block_size for _ in range(num_blocks)]
        self.step_overhead = step_overhead
        self.steps = 0
        self.tokens_computed = 0
        self.virtual_time = 0.0
        self.copies: list[tuple[int, int]] = []
        self.released: set[int] = set()
        self.step_tokens: list[int] = []

    def execute(self, batch: ScheduledBatch) -> list[int]:
        bs, out = self.block_size, []
        for src, dst in batch.block_copies:
            self.kv[dst] = list(self.kv[src])
            self.copies.append((src, dst))
        for entry in batch.entries:
            seq, table = entry.seq, entry.seq.block_table
            h = ROOT_HASH
            if entry.start:
                p = entry.start - 1
                slot = self.kv[table[p // bs]][p % bs]
                if slot is None or slot[0] != seq.token_ids[p]:
                    raise CacheCorruption(f"seq {seq.seq_id} position {p}: cache holds {slot}")
                h = slot[1]
            for p in range(entry.start, entry.start + entry.num_tokens):
                h = mix(h, seq.token_ids[p])
                self.kv[table[p // bs]][p % bs] = (seq.token_ids[p], h)
            if entry.sample:
                out.append(self._sample(seq, h))
        n = sum(e.num_tokens for e in batch.entries)
        self.steps += 1
        self.tokens_computed += n
        self.step_tokens.append(n)
        self.virtual_time += self.step_overhead + n
        return out

    def _sample(self, seq, h: int) -> int:
        if self.eos_at.get(seq.request_id) == seq.num_output_tokens + 1:
            return self.eos_token_id
        sp = seq.sampling
        if sp.temperature > 0:
            h = mix(h, sp.seed if sp.seed is not None else 1_000_003 * seq.seq_id)
        token = h % self.vocab
        if token == self.eos_token_id:
            token = (token + 1) % self.vocab
        return token

    def release(self, seq_id: int) -> None:
        self.released.add(seq_id)


def make_engine(**overrides) -> tuple[LLMEngine, FakeRunner]:
    """An engine on a FakeRunner whose clock is the engine's own step counter."""
    config = EngineConfig(**overrides)
    runner = FakeRunner(config.num_blocks, config.block_size)
    engine = LLMEngine(config, runner)
    engine.clock = lambda: engine.step_count
    return engine, runner


@dataclass
class ClientLoad:
    """Deterministic arrivals: `burst` requests every `every` steps in [start, stop)."""

    every: int
    prompt_len: int
    max_tokens: int
    start: int = 0
    stop: int | None = None
    burst: int = 1
    pause: tuple[int, int] | None = None  # no arrivals in [pause[0], pause[1])
    prefix: list[int] = field(default_factory=list)  # a private prefix shared by this client's prompts
    total: int | None = None  # stop after this many requests


@dataclass
class Trace:
    engine: LLMEngine
    runner: FakeRunner
    service: list[dict[str, float]] = field(default_factory=list)  # ledger after each step
    backlogged: list[frozenset[str]] = field(default_factory=list)  # clients with waiting requests
    ttft: dict[str, list[int]] = field(default_factory=dict)  # steps from arrival to first token

    def gap_range(self, a: str, b: str, weights: dict[str, float] | None = None) -> float:
        """Largest range(D) within any stretch of consecutive steps where a and b are both
        backlogged, D = W_a/w_a - W_b/w_b (the bound holds per such interval)."""
        w, worst, lo, hi = weights or {}, 0.0, None, None
        for s, bl in zip(self.service, self.backlogged, strict=True):
            if a in bl and b in bl:
                d = s.get(a, 0.0) / w.get(a, 1.0) - s.get(b, 0.0) / w.get(b, 1.0)
                lo, hi = (d, d) if lo is None else (min(lo, d), max(hi, d))
                worst = max(worst, hi - lo)
            else:
                lo = hi = None
        return worst


def drive(engine: LLMEngine, loads: dict[str, ClientLoad], steps: int | None = None, seed: int = 0,
          check: bool = False, vocab: int = 30_000) -> Trace:
    """Feed arrivals tick by tick and step the engine; steps=None runs until every load is served."""
    rng, trace = random.Random(seed), Trace(engine, engine.runner)
    sent: dict[str, int] = dict.fromkeys(loads, 0)
    pending: dict[str, tuple[str, int, object]] = {}
    t = 0

    def more() -> bool:
        if steps is not None:
            return t < steps
        exhausted = all(load.total is not None and sent[c] >= load.total for c, load in loads.items())
        return not exhausted or engine.has_unfinished()

    while more():
        for client, load in loads.items():
            active = t >= load.start and (load.stop is None or t < load.stop)
            active = active and not (load.pause and load.pause[0] <= t < load.pause[1])
            if not active or (t - load.start) % load.every:
                continue
            for _ in range(load.burst):
                if load.total is not None and sent[client] >= load.total:
                    break
                tail = [rng.randrange(1, vocab) for _ in range(load.prompt_len - len(load.prefix))]
                params = SamplingParams(temperature=0, max_tokens=load.max_tokens, ignore_eos=True)
                rid = engine.add_request(load.prefix + tail, params, client)
                pending[rid] = (client, t, engine.requests[rid][0])
                sent[client] += 1
        engine.step()
        if check:
            engine.check_invariants()
        stats = engine.stats()
        trace.service.append(stats.service_per_client)
        trace.backlogged.append(frozenset(stats.waiting_per_client))
        for rid, (client, arrived, seq) in list(pending.items()):
            if seq.first_token_step is not None:
                trace.ttft.setdefault(client, []).append(seq.first_token_step - arrived)
                del pending[rid]
        t += 1
    return trace
