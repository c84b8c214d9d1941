"""Paged attention in plain torch: write K/V to slots, gather each sequence's blocks, run SDPA.

One forward serves prefill, chunked prefill, prefix hits and decode alike: every scheduled sequence
contributes `n` new tokens at positions `[start, start+n)`, and its context `[0, start+n)` is read
back from the cache through its block table. Sequences are bucketed into decode rows (n == 1) and
a prefill group so a long prompt does not pad every decoding row to its length. Decode rows attend
through the dense decode mirror (mirror.py) when it has room; a prefill group whose sequences all
start at 0 with equal lengths needs no gather at all (causal SDPA on the new K/V).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from replica_agent.model.mirror import MirrorStep, mirror_attention


@dataclass(slots=True)
class AttnGroup:
    """Sequences attended together: their new tokens are padded to `max_q` rows each."""

    token_index: torch.Tensor | None  # rows of the flat batch in this group (None = all, in order)
    pad_index: torch.Tensor | None  # for each of those rows, its slot in the padded [B * max_q] layout
    block_tables: torch.Tensor | None  # [B, nblk] physical block ids (padded with 0)
    mask: torch.Tensor | None  # [B, 1, max_q * group, nblk * BS] bool, True = may attend
    batch: int
    max_q: int
    scratch: torch.Tensor | None = None  # gather buffer, reused by every layer of this forward
    fresh: bool = False  # every sequence starts at 0 with max_q tokens: causal SDPA on the new K/V


@dataclass(slots=True)
class AttnMetadata:
    slot_mapping: torch.Tensor  # [T] cache slot of every new token
    groups: list[AttnGroup]  # prefill groups (and decode rows when there is no mirror)
    logits_index: torch.Tensor | None  # rows whose logits are needed (None = all)
    decode: MirrorStep | None = None  # decode rows attended through the dense mirror
    decode_rows: torch.Tensor | None = None  # their rows in the flat batch (None = all, in order)


def build_group(entries: list[tuple[list[int], int, int]], token_rows: list[int] | None, block_size: int,
                q_per_kv: int, device: torch.device) -> AttnGroup:
    """entries: (block_table, start, n_new) per sequence, in the order their rows appear."""
    batch = len(entries)
    max_q = max(n for _, _, n in entries)
    index = None if token_rows is None else torch.tensor(token_rows, dtype=torch.long, device=device)
    if all(start == 0 and n == max_q for _, start, n in entries):  # e.g. any lone prompt's first chunk
        return AttnGroup(index, None, None, None, batch, max_q, fresh=True)
    nblk = max((start + n + block_size - 1) // block_size for _, start, n in entries)
    padded_tables: list[list[int]] = []
    pad_index: list[int] = []
    for i, (table, start, n) in enumerate(entries):
        used = (start + n + block_size - 1) // block_size
        padded_tables.append(table[:used] + [0] * (nblk - used))
        pad_index.extend(range(i * max_q, i * max_q + n))
    tables = torch.tensor(padded_tables, dtype=torch.long)
    starts = torch.tensor([start for _, start, _ in entries], dtype=torch.long)
    lens = torch.tensor([n for _, _, n in entries], dtype=torch.long)
    rows = torch.arange(max_q)
    # A padded query row sits at its sequence's position 0: it sees one key, so SDPA never yields NaN.
    query_pos = torch.where(rows[None, :] < lens[:, None], starts[:, None] + rows[None, :], 0)
    key_pos = torch.arange(nblk * block_size)
    mask = key_pos[None, None, :] <= query_pos[:, :, None]  # [B, max_q, L]
    if q_per_kv > 1:
        mask = mask.repeat_interleave(q_per_kv, dim=1)
    return AttnGroup(index, torch.tensor(pad_index, dtype=torch.long, device=device), tables.to(device),
                     mask[:, None].to(device), batch, max_q)


def _attend_fresh(q: torch.Tensor, kv: torch.Tensor, batch: int) -> torch.Tensor:
    """Equal-length sequences with no cached context: no gather, no padding, no explicit mask."""
    t, heads, hd = q.shape
    n = t // batch
    qh = q.view(batch, n, heads, hd).transpose(1, 2)
    k, v = (x.view(batch, n, -1, hd).transpose(1, 2) for x in kv)
    out = F.scaled_dot_product_attention(qh, k, v, is_causal=True, enable_gqa=True)
    return out.transpose(1, 2).reshape(t, heads, hd)


def _attend(q: torch.Tensor, kv: torch.Tensor, kv_cache: torch.Tensor, group: AttnGroup) -> torch.Tensor:
    """q: [t, H, hd], kv: [2, t, kvh, hd] rows of this group; returns [t, H, hd]."""
    if group.fresh:
        return _attend_fresh(q, kv, group.batch)
    _, heads, hd = q.shape
    kvh, block_size = kv_cache.shape[-2], kv_cache.shape[-3]
    per_kv = heads // kvh
    b, max_q = group.batch, group.max_q
    if max_q == 1 and q.shape[0] == b:
        padded = q
    else:
        padded = q.new_zeros(b * max_q, heads, hd).index_copy_(0, group.pad_index, q)
    # Query heads h*per_kv..(h+1)*per_kv-1 share KV head h: fold them into the query-row axis.
    qg = padded.view(b, max_q, kvh, per_kv, hd).permute(0, 2, 1, 3, 4).reshape(b, kvh, max_q * per_kv, hd)
    # index_select on the flat table is an order of magnitude faster than advanced indexing on CPU.
    flat = group.block_tables.view(-1)
    if group.scratch is None:
        group.scratch = kv_cache.new_empty((2, flat.numel(), *kv_cache.shape[2:]))
    kv = torch.index_select(kv_cache, 1, flat, out=group.scratch)  # [2, B * nblk, BS, kvh, hd]
    length = group.block_tables.shape[1] * block_size
    k = kv[0].view(b, length, kvh, hd).transpose(1, 2)
    v = kv[1].view(b, length, kvh, hd).transpose(1, 2)
    out = F.scaled_dot_product_attention(qg, k, v, attn_mask=group.mask)
    out = out.view(b, kvh, max_q, per_kv, hd).permute(0, 2, 1, 3, 4).reshape(b * max_q, heads, hd)
    return out if padded is q else out.index_select(0, group.pad_index)


def paged_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kv_cache: torch.Tensor,
                    meta: AttnMetadata, layer: int) -> torch.Tensor:
    """q: [T, H, hd]; k, v: [T, kvh, hd]; kv_cache: [2, num_blocks, BS, kvh, hd] (layer `layer`)."""
    kvh, hd = kv_cache.shape[-2], kv_cache.shape[-1]
    kv = torch.stack((k, v))  # [2, T, kvh, hd]: one write into the cache (and one into the mirror)
    kv_cache.view(2, -1, kvh, hd).index_copy_(1, meta.slot_mapping, kv)
    if meta.decode is not None and meta.decode_rows is None:
        return mirror_attention(q, kv, meta.decode, layer)
    if len(meta.groups) == 1 and meta.groups[0].token_index is None:
        return _attend(q, kv, kv_cache, meta.groups[0])
    out = torch.empty_like(q)
    if meta.decode is not None:
        rows = meta.decode_rows
        out.index_copy_(0, rows, mirror_attention(q.index_select(0, rows), kv.index_select(1, rows),
                                                  meta.decode, layer))
    for group in meta.groups:
        rows = group.token_index
        out.index_copy_(0, rows, _attend(q.index_select(0, rows), kv.index_select(1, rows), kv_cache, group))
    return out
