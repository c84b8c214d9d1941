"""ModelRunner: owns the model, the paged KV cache and per-sequence generators; runs one batch.

It implements the engine's `Runner` protocol: `execute(batch)` runs the copy-on-write block copies,
one flat extend forward over all scheduled entries, and samples one token for each entry that needs
one. Everything torch lives here so the engine stays a pure bookkeeping loop.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import torch

from replica_agent.model.attention import AttnMetadata, build_group
from replica_agent.model.llama import LlamaForCausalLM
from replica_agent.model.mirror import DecodeMirror
from replica_agent.model.sampler import sample

if TYPE_CHECKING:
    from replica_agent.engine import ScheduledBatch, ScheduledSeq


class ModelRunner:
    def __init__(self, model: LlamaForCausalLM, num_blocks: int, block_size: int) -> None:
        self.model = model.eval()
        cfg = model.config
        param = next(model.parameters())
        self.device, self.dtype = param.device, param.dtype
        self.block_size = block_size
        self.q_per_kv = cfg.num_attention_heads // cfg.num_key_value_heads
        shape = (2, num_blocks, block_size, cfg.num_key_value_heads, cfg.head_dim)
        self.kv_caches = [torch.zeros(shape, device=self.device, dtype=self.dtype)
                          for _ in range(cfg.num_hidden_layers)]
        self.mirror = DecodeMirror(cfg.num_hidden_layers, cfg.num_key_value_heads, cfg.head_dim, self.dtype,
                                   self.device, max_tokens=num_blocks * block_size)
        self.eos_token_id: int | None = cfg.eos_token_id
        self.generators: dict[int, torch.Generator] = {}

    def _generator(self, seq_id: int, seed: int | None) -> torch.Generator:
        gen = self.generators.get(seq_id)
        if gen is None:
            gen = torch.Generator(device=self.device)
            gen.manual_seed(seed if seed is not None else random.getrandbits(63))
            self.generators[seq_id] = gen
        return gen

    def release(self, seq_id: int) -> None:
        self.generators.pop(seq_id, None)
        self.mirror.release(seq_id)

    def _metadata(self, entries: list[ScheduledSeq], all_logits: bool) -> tuple[torch.Tensor, ...]:
        """Flat token ids, positions and attention metadata for one extend forward."""
        bs = self.block_size
        ids: list[int] = []
        positions: list[int] = []
        slots: list[int] = []
        logits_rows: list[int] = []
        decode: list[tuple[int, list[int], int]] = []
        prefill: list[tuple[list[int], int, int]] = []
        decode_rows: list[int] = []
        prefill_rows: list[int] = []
        for e in entries:
            seq, start, n = e.seq, e.start, e.num_tokens
            row0 = len(ids)
            table = seq.block_table
            if e.sample:
                logits_rows.append(row0 + n - 1)
            if n == 1:  # the per-step common case, without the slices and generators below
                ids.append(seq.token_ids[start])
                positions.append(start)
                slots.append(table[start // bs] * bs + start % bs)
                decode.append((seq.seq_id, table, start))
                decode_rows.append(row0)
            else:
                ids.extend(seq.token_ids[start:start + n])
                positions.extend(range(start, start + n))
                slots.extend(table[p // bs] * bs + p % bs for p in range(start, start + n))
                prefill.append((table, start, n))
                prefill_rows.extend(range(row0, row0 + n))
        dev = self.device
        groups = []
        if prefill:
            ordered = prefill_rows if decode else None
            groups.append(build_group(prefill, ordered, bs, self.q_per_kv, dev))
        step = self.mirror.prepare(decode, self.kv_caches, bs)
        if decode and step is None:  # the mirror would outgrow its budget: gather from the pages instead
            paged = [(table, start, 1) for _, table, start in decode]
            groups.append(build_group(paged, decode_rows if prefill else None, bs, self.q_per_kv, dev))
        mixed = step is not None and bool(prefill)
        rows = torch.tensor(decode_rows, dtype=torch.long, device=dev) if mixed else None
        every_row = all_logits or len(logits_rows) == len(ids)  # (rows are increasing: all, in order)
        logits_index = None if every_row else torch.tensor(logits_rows, dtype=torch.long, device=dev)
        slot_mapping = torch.tensor(slots, dtype=torch.long, device=dev)
        meta = AttnMetadata(slot_mapping, groups, logits_index, step, rows)
        return (torch.tensor(ids, dtype=torch.long, device=dev),
                torch.tensor(positions, dtype=torch.long, device=dev), meta)

    def _copy_blocks(self, copies: list[tuple[int, int]]) -> None:
        src = torch.tensor([s for s, _ in copies], dtype=torch.long, device=self.device)
        dst = torch.tensor([d for _, d in copies], dtype=torch.long, device=self.device)
        for cache in self.kv_caches:
            cache.index_copy_(1, dst, cache.index_select(1, src))

    @torch.inference_mode()
    def forward(self, batch: ScheduledBatch, all_logits: bool = False) -> torch.Tensor:
        """Float32 logits: one row per sampling entry, or (all_logits) one per scheduled token."""
        if batch.block_copies:
            self._copy_blocks(batch.block_copies)
        ids, positions, meta = self._metadata(batch.entries, all_logits)
        return self.model(ids, positions, self.kv_caches, meta)

    def execute(self, batch: ScheduledBatch) -> list[int]:
        if not batch.entries:
            if batch.block_copies:
                self._copy_blocks(batch.block_copies)
            return []
        logits = self.forward(batch)
        wanted = [e.seq for e in batch.entries if e.sample]
        params = [s.sampling for s in wanted]
        gens = [None if p.temperature == 0 else self._generator(s.seq_id, p.seed)
                for s, p in zip(wanted, params, strict=True)]
        return sample(logits, params, gens)
