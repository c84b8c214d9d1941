"""Offline throughput: the replica agent's engine against Hugging Face `generate`, same model and prompts.

Model: the agent.md §4.3 reference shape (vocab 2048, hidden 256, 4 layers, 8 heads / 4 KV heads,
FFN 688; ~3.95M parameters) with seeded random weights, fp32 on CPU. Each of B prompts has 128
tokens and gets 64 new tokens, greedy, EOS ignored. Per batch size, median of --repeats:
- decode phase: the 63 tokens per sequence after the first. For HF this is generate(64 new tokens)
  minus generate(1 new token) on the same prompts; for the engine, the steps after every sequence has
  its first token. This is the "decode throughput" the speed-up bar refers to.
- end to end: all 64 new tokens over the whole wall time, prefill included.
The greedy tokens of both are compared as a sanity check.

A last row runs a mixed batch of 32 (prompts of 16-240 tokens, 16-128 new tokens each): HF pads the
prompts (left) and decodes every row until the longest is done, the engine batches continuously;
tok/s counts only the tokens each request asked for.

    python bench/agent_throughput.py [--quick] [--threads 1] [--batches 1 8 32]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import transformers

from replica_agent.config import EngineConfig
from replica_agent.engine import LLMEngine
from replica_agent.model.llama import ModelConfig
from replica_agent.model.loader import build_model
from replica_agent.model.runner import ModelRunner
from replica_agent.sampling import SamplingParams

SHAPE = dict(vocab_size=2048, hidden_size=256, intermediate_size=688, num_hidden_layers=4,
             num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=512,
             bos_token_id=1, eos_token_id=2, pad_token_id=0)
PROMPT_LEN, NEW_TOKENS = 128, 64


def hf_run(hf, prompts: list[list[int]], new_tokens: int = NEW_TOKENS) -> tuple[float, list[list[int]]]:
    ids = torch.tensor(prompts)  # equal lengths: no padding needed
    start = time.perf_counter()
    with torch.inference_mode():
        out = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                          min_new_tokens=new_tokens, do_sample=False)
    return time.perf_counter() - start, out[:, PROMPT_LEN:].tolist()


def hf_mixed(hf, prompts: list[list[int]], new_tokens: list[int]) -> float:
    width = max(map(len, prompts))
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    start = time.perf_counter()
    with torch.inference_mode():
        hf.generate(ids, attention_mask=mask, max_new_tokens=max(new_tokens), min_new_tokens=max(new_tokens),
                    do_sample=False)
    return time.perf_counter() - start


def engine_run(model, prompts: list[list[int]], new_tokens: list[int] | None = None
               ) -> tuple[float, float, list[list[int]]]:
    """(end-to-end seconds, decode-phase seconds, tokens); the decode phase starts after every prefill."""
    b = len(prompts)
    new_tokens = new_tokens or [NEW_TOKENS] * b
    config = EngineConfig(num_blocks=b * 24 + 8, max_num_seqs=max(b, 1), max_batched_tokens=4096,
                          max_model_len=512)
    engine = LLMEngine(config, ModelRunner(model, config.num_blocks, config.block_size))
    start = time.perf_counter()
    ids = [engine.add_request(p, SamplingParams(temperature=0, max_tokens=n, ignore_eos=True))
           for p, n in zip(prompts, new_tokens, strict=True)]
    seqs = [engine.requests[i][0] for i in ids]
    decode_start = None
    while engine.has_unfinished():
        engine.step()
        if decode_start is None and all(s.num_output_tokens >= 1 for s in seqs):
            decode_start = time.perf_counter()
    end = time.perf_counter()
    return end - start, end - decode_start, [s.output_token_ids for s in seqs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both engines")
    ap.add_argument("--quick", action="store_true", help="2 repeats (a smoke run)")
    args = ap.parse_args()
    repeats = 2 if args.quick else args.repeats
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(**SHAPE)).eval()
    config = ModelConfig.from_hf(hf.config.to_dict())
    model = build_model(config, "cpu", torch.float32, weights=hf.state_dict())
    gen = torch.Generator().manual_seed(1)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, threads {args.threads}, "
          f"{params:.2f}M params, {PROMPT_LEN}+{NEW_TOKENS} tokens, median of {repeats}")
    print("| batch | HF decode tok/s | engine decode tok/s | decode speed-up | HF end-to-end tok/s | "
          "engine end-to-end tok/s | end-to-end speed-up | same tokens |")
    print("|---|---|---|---|---|---|---|---|")
    for b in args.batches:
        prompts = torch.randint(3, SHAPE["vocab_size"], (b, PROMPT_LEN), generator=gen).tolist()
        hf_run(hf, prompts[:1])  # warm-up
        engine_run(model, prompts[:1])
        hf_all, hf_first, e2e, decode, same = [], [], [], [], True
        for _ in range(repeats):
            hf_first.append(hf_run(hf, prompts, 1)[0])
            t, hf_tokens = hf_run(hf, prompts)
            hf_all.append(t)
            t_all, t_dec, tokens = engine_run(model, prompts)
            e2e.append(t_all)
            decode.append(t_dec)
            same = same and tokens == hf_tokens
        med = statistics.median
        decoded, new = b * (NEW_TOKENS - 1), b * NEW_TOKENS
        hf_dec = decoded / max(med(hf_all) - med(hf_first), 1e-9)
        eng_dec = decoded / med(decode)
        hf_e2e, eng_e2e = new / med(hf_all), new / med(e2e)
        print(f"| {b} | {hf_dec:,.0f} | {eng_dec:,.0f} | {eng_dec / hf_dec:.2f}x | {hf_e2e:,.0f} | "
              f"{eng_e2e:,.0f} | {eng_e2e / hf_e2e:.2f}x | {'yes' if same else 'NO'} |", flush=True)
    lengths = torch.randint(16, 241, (32,), generator=gen).tolist()
    prompts = [torch.randint(3, SHAPE["vocab_size"], (n,), generator=gen).tolist() for n in lengths]
    new_tokens = torch.randint(16, 129, (32,), generator=gen).tolist()
    hf_times = [hf_mixed(hf, prompts, new_tokens) for _ in range(repeats)]
    eng_times = [engine_run(model, prompts, new_tokens)[0] for _ in range(repeats)]
    useful = sum(new_tokens)
    hf_tps, eng_tps = useful / statistics.median(hf_times), useful / statistics.median(eng_times)
    print(f"| 32 mixed | | | | {hf_tps:,.0f} | {eng_tps:,.0f} | {eng_tps / hf_tps:.2f}x | n/a |")

if __name__ == "__main__":
    main()
