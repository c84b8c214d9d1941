"""C1/C2: the agent's model and engine against Hugging Face transformers on the same seeded weights."""

from __future__ import annotations

import pytest
import torch

from replica_agent.engine import LLMEngine, ScheduledBatch, ScheduledSeq
from replica_agent.model.runner import ModelRunner
from replica_agent.sampling import SamplingParams
from replica_agent.sequence import Sequence

GREEDY = SamplingParams(temperature=0, max_tokens=32, ignore_eos=True)
LENGTHS = [1, 7, 16, 33, 64, 100, 150, 200]


def _prefill_batch(prompts: list[list[int]], block_size: int) -> ScheduledBatch:
    entries, next_block = [], 0
    for i, prompt in enumerate(prompts):
        blocks = (len(prompt) + block_size - 1) // block_size
        seq = Sequence(i, f"r{i}", "c", list(prompt), len(prompt), GREEDY,
                       block_table=list(range(next_block, next_block + blocks)))
        next_block += blocks
        entries.append(ScheduledSeq(seq, 0, len(prompt), True))
    return ScheduledBatch(entries)


def test_full_sequence_logits_match_hf(agent_model, hf_model, random_prompts):
    """C2: one varied-length batch through the paged forward; every position within 1e-4 of HF."""
    prompts = random_prompts(LENGTHS)
    runner = ModelRunner(agent_model, num_blocks=64, block_size=16)
    logits = runner.forward(_prefill_batch(prompts, 16), all_logits=True)
    row, worst = 0, 0.0
    with torch.inference_mode():
        for prompt in prompts:
            ref = hf_model(torch.tensor([prompt])).logits[0]
            worst = max(worst, (logits[row:row + len(prompt)] - ref).abs().max().item())
            row += len(prompt)
    assert row == logits.shape[0]
    assert worst < 1e-4


class Recorder:
    """Wraps the runner to count steps whose forward mixes a prefill chunk with decodes."""

    def __init__(self, runner: ModelRunner) -> None:
        self.runner, self.eos_token_id = runner, runner.eos_token_id
        self.mixed_steps = 0

    def execute(self, batch: ScheduledBatch) -> list[int]:
        prefill = any(e.start < e.seq.num_prompt_tokens for e in batch.entries)
        decode = any(e.start >= e.seq.num_prompt_tokens for e in batch.entries)
        self.mixed_steps += prefill and decode
        return self.runner.execute(batch)

    def release(self, seq_id: int) -> None:
        self.runner.release(seq_id)


def run_staggered(engine: LLMEngine, prompts: list[list[int]], every: int) -> list[list[int]]:
    """Add one prompt every `every` steps (so prefills share forwards with decodes); run to the end."""
    recorder = Recorder(engine.runner)
    engine.runner = recorder
    seqs, pending = [], list(prompts)
    while pending or engine.has_unfinished():
        if pending and engine.step_count % every == 0:
            rid = engine.add_request(pending.pop(0), GREEDY)
            seqs.append(engine.requests[rid][0])
        engine.step()
        engine.check_invariants()
    assert recorder.mixed_steps > 0, "no forward mixed a prefill with decodes"
    return [s.output_token_ids for s in seqs]


def test_greedy_chunked_mixed_batches_match_hf(make_engine, hf_greedy, random_prompts):
    """C1: 8 prompts of 1-200 tokens, chunked prefill (64-token budget), prefills mixed with decodes."""
    prompts = random_prompts(LENGTHS, seed=2)
    engine = make_engine(max_batched_tokens=64, max_num_seqs=8)
    outputs = run_staggered(engine, prompts, every=3)
    for prompt, out in zip(prompts, outputs, strict=True):
        assert out == hf_greedy(prompt, 32)


def test_greedy_with_prefix_hits_matches_hf(make_engine, hf_greedy, random_prompts):
    """C1: prompts sharing long prefixes re-use cached blocks and still decode exactly like HF."""
    base = random_prompts([150], seed=3)[0]
    tails = random_prompts([1, 9, 40, 50], seed=4)
    prompts = [base] + [base[:cut] + tail for cut, tail in zip((150, 120, 64, 33), tails, strict=True)]
    engine = make_engine(max_batched_tokens=128)
    outputs = run_staggered(engine, prompts, every=12)
    assert engine.stats().prefix_hit_tokens >= 144 + 112 + 64 + 32
    for prompt, out in zip(prompts, outputs, strict=True):
        assert out == hf_greedy(prompt, 32)


@pytest.mark.parametrize("caching", [True, False])
def test_greedy_under_preemption_matches_hf(make_engine, hf_greedy, random_prompts, caching):
    """C1: a pool too small for all eight sequences forces recompute preemption; outputs do not change."""
    prompts = random_prompts(LENGTHS, seed=5)
    engine = make_engine(num_blocks=24, max_batched_tokens=64, max_num_seqs=8, enable_prefix_caching=caching)
    outputs = run_staggered(engine, prompts, every=1)
    assert engine.stats().preemptions >= 1
    for prompt, out in zip(prompts, outputs, strict=True):
        assert out == hf_greedy(prompt, 32)
