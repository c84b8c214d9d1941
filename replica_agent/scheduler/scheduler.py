"""Continuous batching: decide which tokens each step computes, under a token budget and a seat limit.

Running sequences go first (in admission order, one token each when decoding, a chunk when still
prefilling); then the policy's candidates are admitted until one does not fit. Memory decisions live
here: blocks for the chunk plus a watermark at admission ("optimistic"), or room for every admitted
request to reach max_tokens ("conservative", no preemption); when a running sequence cannot get a
block, the most recently admitted one is preempted and later recomputed (its prefix usually hits).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from replica_agent.config import EngineConfig
from replica_agent.memory.manager import KVCacheManager, cdiv
from replica_agent.scheduler.policy import WaitingQueue, make_policy
from replica_agent.sequence import Sequence, SequenceStatus


@dataclass(slots=True)
class ScheduledSeq:
    """Compute positions [start, start + num_tokens) of seq.token_ids; the block table covers them."""

    seq: Sequence
    start: int
    num_tokens: int
    sample: bool  # start + num_tokens == seq.num_tokens: logits for the next token are needed


@dataclass(slots=True)
class ScheduledBatch:
    entries: list[ScheduledSeq] = field(default_factory=list)
    block_copies: list[tuple[int, int]] = field(default_factory=list)  # CoW (src, dst), before the forward


class Scheduler:
    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.kv = KVCacheManager(config.num_blocks, config.block_size, config.enable_prefix_caching)
        self.policy = make_policy(config)
        self.waiting = WaitingQueue()
        self.running: list[Sequence] = []
        self.running_per_client: Counter[str] = Counter()
        self.siblings: dict[int, list[Sequence]] = {}  # parent seq_id -> samples forked after its prefill
        self.reserved_seats = 0  # seats held for the pending siblings of running parents
        self.preemptions = 0

    # ---- queue -----------------------------------------------------------------------------------
    def add(self, seq: Sequence, siblings: list[Sequence] | None = None) -> None:
        client = seq.client_id
        active = bool(self.waiting.count(client) or self.running_per_client[client])
        self.policy.on_arrival(seq, self.waiting, active)
        if siblings:
            self.siblings[seq.seq_id] = siblings
        self.waiting.push(seq)

    def has_work(self) -> bool:
        return bool(self.running or len(self.waiting))

    def final_len(self, seq: Sequence) -> int:
        return min(seq.num_prompt_tokens + seq.sampling.max_tokens, self.config.max_model_len)

    # ---- one step ----------------------------------------------------------------------------------
    def schedule(self) -> ScheduledBatch:
        batch, budget = ScheduledBatch(), self.config.max_batched_tokens
        kv, running, i, preempted = self.kv, self.running, 0, False
        while i < len(running) and budget > 0:
            seq = running[i]
            n = min(seq.num_tokens - seq.num_computed_tokens, budget)
            end = seq.num_computed_tokens + n
            while kv.append_cost(seq, end) > kv.available and seq.status is SequenceStatus.RUNNING:
                self.preempt(running[-1])
                preempted = True
            if seq.status is not SequenceStatus.RUNNING:
                break  # seq was the newest and preempted itself; everything after it is gone too
            kv.append(seq, end, batch.block_copies)
            batch.entries.append(ScheduledSeq(seq, seq.num_computed_tokens, n, end == seq.num_tokens))
            budget -= n
            i += 1
        if not preempted:
            self._admit(batch, budget)
        return batch

    def _admit(self, batch: ScheduledBatch, budget: int) -> None:
        cfg, kv, bs = self.config, self.kv, self.config.block_size
        memo: dict[int, int] = {}

        def prefix_len(seq: Sequence) -> int:
            if seq.seq_id not in memo:
                memo[seq.seq_id] = len(kv.match(seq)) * bs
            return memo[seq.seq_id]

        reserve = self._future_blocks() if cfg.admission == "conservative" else 0
        while budget > 0 and len(self.waiting):
            seq = self.policy.select(self.waiting, prefix_len)
            if seq is None:
                break
            group = 1 + len(self.siblings.get(seq.seq_id, ()))
            if len(self.running) + self.reserved_seats + group > cfg.max_num_seqs:
                break
            path = kv.match(seq)
            start = len(path) * bs
            n = min(seq.num_tokens - start, budget)
            if cfg.admission == "conservative":
                final_blocks = cdiv(self.final_len(seq), bs) + (1 if seq.sampling.n > 1 else 0)
                need = reserve + kv.admit_cost(path, self.final_len(seq)) + (group - 1) * final_blocks
            else:
                need = kv.admit_cost(path, start + n) + cfg.watermark_blocks
            if need > kv.available:
                break  # no skipping past the request whose turn it is
            self.waiting.remove(seq)
            kv.allocate(seq, path, start + n, batch.block_copies)
            self.policy.on_admit(seq, self._prompt_charge(seq))
            seq.status = SequenceStatus.RUNNING
            self.running.append(seq)
            self.running_per_client[seq.client_id] += 1
            self.reserved_seats += group - 1
            batch.entries.append(ScheduledSeq(seq, start, n, start + n == seq.num_tokens))
            budget -= n
            if cfg.admission == "conservative":
                reserve = self._future_blocks()

    def _prompt_charge(self, seq: Sequence) -> float:
        """Policy charge at first admission: the prompt (less cache hits unless those are charged)."""
        if seq.num_preemptions:
            return 0.0
        tokens = seq.num_prompt_tokens
        if not self.config.charge_cached_tokens:
            tokens -= seq.num_cached_tokens
        return self.config.w_p * tokens

    def _future_blocks(self) -> int:
        """Blocks the running requests (and pending samples) may still need to reach max_tokens."""
        bs, total = self.config.block_size, 0
        for seq in self.running:
            total += max(0, cdiv(self.final_len(seq), bs) - len(seq.block_table))
            total += 1 if seq.sampling.n > 1 else 0
            for sib in self.siblings.get(seq.seq_id, ()):
                total += cdiv(self.final_len(sib), bs) + 1
        return total

    # ---- state changes -------------------------------------------------------------------------------
    def preempt(self, seq: Sequence) -> None:
        """Recompute-style preemption: free the blocks, put seq at the front of its client's queue."""
        self._leave_running(seq)
        self.kv.free(seq)
        seq.status = SequenceStatus.WAITING
        seq.num_preemptions += 1
        self.preemptions += 1
        self.waiting.push(seq, front=True)

    def fork_siblings(self, parent: Sequence) -> list[Sequence]:
        """After the parent's prefill: its pending samples share its blocks and recompute the last token."""
        children = self.siblings.pop(parent.seq_id, [])
        self.reserved_seats -= len(children)
        for child in children:
            self.kv.fork(parent, child, parent.num_prompt_tokens - 1)
            child.num_charged_tokens = parent.num_prompt_tokens
            child.status = SequenceStatus.RUNNING
            self.running.append(child)
            self.running_per_client[child.client_id] += 1
        return children

    def finish(self, seq: Sequence, status: SequenceStatus, reason: str) -> list[Sequence]:
        """Finish or abort seq and free its blocks; an aborted parent takes its pending samples along."""
        if seq.status is SequenceStatus.RUNNING:
            self._leave_running(seq)
        elif seq.status is SequenceStatus.WAITING and seq in self.waiting.queues.get(seq.client_id, ()):
            self.waiting.remove(seq)
        self.kv.free(seq)
        seq.status, seq.finish_reason = status, reason
        dropped = []
        if status is SequenceStatus.ABORTED:
            dropped = self.siblings.pop(seq.seq_id, [])
            for sib in dropped:
                sib.status, sib.finish_reason = status, reason
        return dropped

    def _leave_running(self, seq: Sequence) -> None:
        self.running.remove(seq)
        self.running_per_client[seq.client_id] -= 1
        if not self.running_per_client[seq.client_id]:
            del self.running_per_client[seq.client_id]
        self.reserved_seats -= len(self.siblings.get(seq.seq_id, ()))
