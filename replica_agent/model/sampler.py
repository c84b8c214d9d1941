"""Turn logits into tokens: greedy, temperature, top-k and top-p, each row with its own generator.

Greedy rows are one batched argmax. Sampled rows draw from a per-sequence `torch.Generator`, so a
seeded request gives the same tokens whatever else shares its batch.
"""

from __future__ import annotations

import torch

from replica_agent.sampling import SamplingParams


def _filter(logits: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """Scale by temperature and mask everything outside top-k / the top-p nucleus (one row)."""
    logits = logits / params.temperature
    if 0 < params.top_k < logits.shape[-1]:
        kth = torch.topk(logits, params.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if params.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # Drop a token when the mass before it already reaches top_p (the first token always stays).
        drop = (torch.cumsum(probs, dim=-1) - probs) >= params.top_p
        logits = logits.masked_fill(torch.zeros_like(drop).scatter(0, order, drop), float("-inf"))
    return logits


def sample(logits: torch.Tensor, params: list[SamplingParams],
           generators: list[torch.Generator | None]) -> list[int]:
    """logits: [N, vocab] float32; one SamplingParams and generator per row."""
    tokens = logits.argmax(dim=-1).tolist()
    for row, (p, gen) in enumerate(zip(params, generators, strict=True)):
        if p.temperature == 0:
            continue
        probs = torch.softmax(_filter(logits[row], p), dim=-1)
        tokens[row] = int(torch.multinomial(probs, 1, generator=gen).item())
    return tokens
