"""Decode mirror: each decoding sequence's K/V kept dense in a per-slot buffer and appended in place.

Gathering the paged blocks every layer of every decode step copies the whole context, and SDPA over
the gathered `[B, L, kvh, hd]` view is slow on CPU because each head is strided. The mirror keeps a
`[2, slots, kvh, hd, capacity]` buffer per layer: a decode step writes one column per sequence into
it and attends over a plain slice. Keys and values are stored transposed (position last) because
both batched matmuls of decode attention are then about twice as fast as with `[capacity, hd]`.
The paged cache stays the source of truth (prefix sharing, copy-on-write, preemption): a sequence
is refilled from its blocks unless the previous forward appended its last token, so the mirror can
never hold K/V that the paged cache does not.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import torch


@dataclass(slots=True)
class MirrorStep:
    """Where this forward's decode rows live in the mirror, and the key mask for them."""

    buffers: list[torch.Tensor]  # per layer [2, slots, kvh, hd, capacity]
    write_index: torch.Tensor  # [2 * n * kvh * hd] flat buffer offsets of the rows' new K and V
    row_slots: torch.Tensor | None  # slot of each row when rows are not slots 0..n-1 in order
    mask: torch.Tensor | None  # [used, 1, 1, length] float (0 or -inf); None when every slot sees all
    used: int  # slots 0..used-1 take part (unused slots attend to key 0 only and are dropped)
    length: int  # keys attended: the longest context among the rows


class DecodeMirror:
    """max_tokens bounds slots x capacity (the paged pool's size is a good bound): a step that would
    need more is left to the paged gather, so skewed lengths cannot blow the memory up."""

    def __init__(self, num_layers: int, kv_heads: int, head_dim: int, dtype: torch.dtype,
                 device: torch.device, max_tokens: int) -> None:
        self.num_layers, self.kv_heads, self.head_dim = num_layers, kv_heads, head_dim
        self.max_tokens = max_tokens
        self.dtype, self.device = dtype, device
        self.buffers: list[torch.Tensor] = []
        self.slots: dict[int, int] = {}  # seq_id -> slot
        self.free: list[int] = []  # released slots below len(self.slots) + len(self.free), a heap
        self.appended: dict[int, int] = {}  # seq_id -> length after the previous forward's append

    def release(self, seq_id: int) -> None:
        slot = self.slots.pop(seq_id, None)
        if slot is not None:
            heapq.heappush(self.free, slot)
        self.appended.pop(seq_id, None)

    def _slot(self, seq_id: int) -> int:
        slot = self.slots.get(seq_id)
        if slot is None:
            slot = heapq.heappop(self.free) if self.free else len(self.slots)
            self.slots[seq_id] = slot
        return slot

    def _reserve(self, slots: int, length: int) -> bool:
        """Grow the buffers (copying what they hold) to at least `slots` x `length`.

        Capacity grows in steps of 64 positions: a tight buffer keeps the attention reads compact,
        and the regrowth copy happens at most once every 64 decode steps. False: over max_tokens."""
        have_s, have_l = (self.buffers[0].shape[1], self.buffers[0].shape[4]) if self.buffers else (0, 0)
        if slots <= have_s and length <= have_l:
            return True
        new_s, new_l = max(slots, have_s), max(-(-length // 64) * 64, have_l)
        if new_s * new_l > self.max_tokens:
            return False
        shape = (2, new_s, self.kv_heads, self.head_dim, new_l)
        grown = [torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in range(self.num_layers)]
        for new, old in zip(grown, self.buffers, strict=False):
            new[:, :have_s, ..., :have_l] = old
        self.buffers = grown
        return True

    def prepare(self, entries: list[tuple[int, list[int], int]], kv_caches: list[torch.Tensor],
                block_size: int) -> MirrorStep | None:
        """entries: (seq_id, block_table, start) per decode row, in row order; refills stale sequences.

        Call once per forward, with no entries when it has no decode rows, so "appended in the previous
        forward" stays exact. None: no entries, or the mirror would outgrow max_tokens."""
        previous, self.appended = self.appended, {}
        if not entries:
            return None
        slots = [self._slot(seq_id) for seq_id, _, _ in entries]
        used = max(slots) + 1
        length = max(start for _, _, start in entries) + 1
        if not self._reserve(used, length):
            return None
        for (seq_id, table, start), slot in zip(entries, slots, strict=True):
            if previous.get(seq_id) != start and start:
                self._refill(slot, table, start, kv_caches, block_size)
            self.appended[seq_id] = start + 1
        starts = [start for _, _, start in entries]
        in_order = slots == list(range(len(slots)))
        mask = None
        if not in_order or any(start != length - 1 for start in starts):
            lens = [1] * used
            for slot, start in zip(slots, starts, strict=True):
                lens[slot] = start + 1
            mask = torch.zeros(used, 1, 1, length, dtype=self.dtype)
            mask.masked_fill_(torch.arange(length) >= torch.tensor(lens)[:, None, None, None], float("-inf"))
            mask = mask.to(self.device)
        # Offsets of buffer[c, slot, h, d, pos] for c in (K, V), each row, each (h, d): one scatter a layer.
        _, slots_cap, kvh, hd, cap = self.buffers[0].shape
        per_slot = kvh * hd * cap
        pairs = list(zip(slots, starts, strict=True))
        base = [(c * slots_cap + slot) * per_slot + start for c in (0, 1) for slot, start in pairs]
        inner = torch.arange(0, per_slot, cap)
        write_index = (torch.tensor(base)[:, None] + inner).flatten().to(self.device)
        row_slots = None if in_order else torch.tensor(slots, dtype=torch.long, device=self.device)
        return MirrorStep(self.buffers, write_index, row_slots, mask, used, length)

    def _refill(self, slot: int, table: list[int], start: int, kv_caches: list[torch.Tensor],
                block_size: int) -> None:
        """Copy positions [0, start) of one sequence from its paged blocks, every layer."""
        blocks = torch.tensor(table[:-(-start // block_size)], dtype=torch.long, device=self.device)
        for buf, cache in zip(self.buffers, kv_caches, strict=True):
            kv = cache.index_select(1, blocks).flatten(1, 2)[:, :start]  # [2, start, kvh, hd]
            buf[:, slot, ..., :start] = kv.permute(0, 2, 3, 1)


def mirror_attention(q: torch.Tensor, kv: torch.Tensor, step: MirrorStep, layer: int) -> torch.Tensor:
    """q: [n, H, hd], kv: [2, n, kvh, hd] of the decode rows; append kv, attend; returns [n, H, hd]."""
    _, heads, hd = q.shape
    buf = step.buffers[layer]
    kvh = buf.shape[2]
    buf.view(-1).index_copy_(0, step.write_index, kv.reshape(-1))
    q = q * hd ** -0.5
    if step.row_slots is not None:
        q = q.new_zeros(step.used, heads, hd).index_copy_(0, step.row_slots, q)
    # Query heads h*per_kv..(h+1)*per_kv-1 share KV head h: one [per_kv, hd] query block per KV head.
    qg = q.view(step.used, kvh, heads // kvh, hd)
    keys_t, values_t = buf[0, :step.used, ..., :step.length], buf[1, :step.used, ..., :step.length]
    scores = torch.matmul(qg, keys_t)  # [used, kvh, per_kv, length]
    if step.mask is not None:
        scores.add_(step.mask)
    probs = torch.softmax(scores.float(), dim=-1).to(scores.dtype)  # fp32 softmax, as SDPA does for bf16
    out_t = torch.matmul(values_t, probs.transpose(-1, -2))  # [used, kvh, hd, per_kv]
    out = out_t.transpose(-1, -2).reshape(step.used, heads, hd)
    return out if step.row_slots is None else out.index_select(0, step.row_slots)
