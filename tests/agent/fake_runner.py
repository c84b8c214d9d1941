"""A deterministic stand-in for the model runner that still behaves like a paged KV cache.

Every slot it writes holds (token, chain hash of the whole prefix up to it), and each step reads
the previous position back *through the block table*. The sampled token is a function of that
chain hash (and the seed), so a wrong block, a missed copy-on-write or a stale eviction changes
the output instead of passing silently. Cost model: a step costs `step_overhead + tokens computed`.
"""

from __future__ import annotations

from replica_agent.engine import ScheduledBatch

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
