"""The model pieces: loading HF directories, config layouts, rope scaling, dtypes, tokenizers, sampling."""

from __future__ import annotations

import json

import pytest
import torch

from replica_agent.engine import ScheduledBatch, ScheduledSeq
from replica_agent.model.llama import ModelConfig, ModelConfigError
from replica_agent.model.loader import build_model, load_model
from replica_agent.model.runner import ModelRunner
from replica_agent.model.sampler import sample
from replica_agent.sampling import SamplingParams
from replica_agent.sequence import Sequence
from replica_agent.tokenizer import ByteTokenizer, Detokenizer, HFTokenizer, load_tokenizer

transformers = pytest.importorskip("transformers")
GREEDY = SamplingParams(temperature=0, max_tokens=8, ignore_eos=True)


def full_logits(model, prompt: list[int]) -> torch.Tensor:
    """All-position logits of one prompt through the paged forward."""
    runner = ModelRunner(model, num_blocks=(len(prompt) + 15) // 16, block_size=16)
    table = list(range(runner.kv_caches[0].shape[1]))
    seq = Sequence(0, "r", "c", list(prompt), len(prompt), GREEDY, block_table=table)
    return runner.forward(ScheduledBatch([ScheduledSeq(seq, 0, len(prompt), True)]), all_logits=True)


def hf_logits(hf, prompt: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        return hf(torch.tensor([prompt])).logits[0].float()


def test_save_pretrained_directory_loads(hf_model, tmp_path, random_prompts):
    hf_model.save_pretrained(tmp_path)
    loaded = load_model(str(tmp_path))
    assert not loaded.random_weights and loaded.name == tmp_path.name
    assert isinstance(loaded.tokenizer, ByteTokenizer)  # no tokenizer.json in the directory
    prompt = random_prompts([90], seed=11)[0]
    assert (full_logits(loaded.model, prompt) - hf_logits(hf_model, prompt)).abs().max() < 1e-4


def test_tied_embeddings_and_llama3_rope_match_hf(tmp_path, random_prompts):
    """A transformers-5 config with llama3 rope scaling and tied embeddings (no lm_head tensor saved)."""
    rope = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
    torch.manual_seed(3)
    hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=1, rope_parameters=rope, tie_word_embeddings=True)).eval()
    hf.save_pretrained(tmp_path)
    loaded = load_model(str(tmp_path))
    cfg = loaded.model.config
    assert cfg.tie_word_embeddings and cfg.rope_theta == 500000.0
    assert cfg.rope_scaling["rope_type"] == "llama3"
    prompt = random_prompts([200], vocab=300, seed=12)[0]
    assert (full_logits(loaded.model, prompt) - hf_logits(hf, prompt)).abs().max() < 1e-4


def test_config_reads_both_transformers_layouts():
    old = {"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4, "rope_theta": 123.0,
           "eos_token_id": [7, 8], "rope_scaling": {"type": "linear", "factor": 2.0}}
    new = {"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
           "rope_parameters": {"rope_type": "linear", "rope_theta": 123.0, "factor": 2.0}, "eos_token_id": 7}
    a, b = ModelConfig.from_hf(old), ModelConfig.from_hf(new)
    assert a.rope_theta == b.rope_theta == 123.0 and a.eos_token_id == b.eos_token_id == 7
    assert a.head_dim == b.head_dim == 16 and a.num_key_value_heads == 4
    assert a.rope_scaling["factor"] == b.rope_scaling["factor"] == 2.0
    assert ModelConfig.from_hf(ModelConfig().to_hf()) == ModelConfig()


@pytest.mark.parametrize("raw, words", [
    ({"model_type": "gpt2"}, "model_type"),
    ({"model_type": "llama", "hidden_act": "gelu"}, "hidden_act"),
    ({"model_type": "mistral", "sliding_window": 4096}, "sliding_window"),
    ({"model_type": "llama", "rope_parameters": {"rope_type": "yarn", "rope_theta": 1.0}}, "rope"),
])
def test_unsupported_configs_are_named(raw, words):
    with pytest.raises(ModelConfigError, match=words):
        ModelConfig.from_hf(raw)


def test_bad_model_directories(tmp_path, hf_model):
    with pytest.raises(ModelConfigError, match=r"config\.json"):
        load_model(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(hf_model.config.to_dict()))
    with pytest.raises(ModelConfigError, match="safetensors"):
        load_model(str(tmp_path))
    hf_model.save_pretrained(tmp_path)
    raw = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**raw, "hidden_size": 256}))
    with pytest.raises(ModelConfigError, match="shape"):
        load_model(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(raw))
    from safetensors.torch import save_file
    save_file({"model.layers.0.self_attn.q_proj.bias": torch.zeros(128)}, str(tmp_path / "extra.safetensors"))
    with pytest.raises(ModelConfigError, match="no place for"):
        load_model(str(tmp_path))
    with pytest.raises(ModelConfigError, match="dtype"):
        load_model(None, dtype="float64")


def test_builtin_tiny_model_is_seeded():
    a, b, c = load_model(None, seed=0), load_model(None, seed=0), load_model(None, seed=1)
    assert a.random_weights and a.name.startswith("tiny-random-llama")
    assert a.model.config.vocab_size == ByteTokenizer.vocab_size
    wa, wb, wc = (m.model.model.layers[0].self_attn.q_proj.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_tracks_fp32(agent_model, hf_model, dtype, random_prompts):
    half = build_model(agent_model.config, "cpu", dtype, weights=hf_model.state_dict())
    assert half.lm_head.weight.dtype == dtype and half.inv_freq.dtype == torch.float32
    prompt = random_prompts([60], seed=13)[0]
    ref, got = full_logits(agent_model, prompt), full_logits(half, prompt)
    assert torch.isfinite(got).all()
    assert (got - ref).abs().max() < 0.05 * ref.abs().max() + 0.02


def test_copy_on_write_block_copies(agent_model):
    runner = ModelRunner(agent_model, num_blocks=4, block_size=16)
    for cache in runner.kv_caches:
        cache[:, 1].normal_()
    runner.execute(ScheduledBatch([], [(1, 3)]))
    assert all(torch.equal(c[:, 1], c[:, 3]) for c in runner.kv_caches)


def test_byte_tokenizer_and_streaming_detokenizer():
    tok = ByteTokenizer()
    text = "añb€c😀 ok"
    ids = tok.encode(text)
    assert ids[0] == tok.bos_token_id and tok.decode(ids) == text
    detok = Detokenizer(tok, ids[:1])
    deltas = [detok.add([i]) for i in ids[1:]]
    assert "".join(deltas) == text and not any("\ufffd" in d for d in deltas)
    assert sum(1 for d in deltas if d) == len(text)  # each character released once it is whole
    broken = Detokenizer(tok, [])
    assert broken.add([0xE2, 0x82]) == "" and broken.flush() == "\ufffd"  # cut mid-character at the end


def test_tokenizer_json_is_used_when_present(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "<s>": 1, "</s>": 2, "hello": 3, "world": 4}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"chat_template": "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}{{ eos_token }}"}))
    tok = load_tokenizer(tmp_path, 1, 2)
    assert isinstance(tok, HFTokenizer) and tok.vocab_size == 5
    assert tok.encode("hello world") == [3, 4] and tok.decode([3, 4]) == "hello world"
    assert tok.chat_prompt([{"role": "user", "content": "hi"}]) == "[user]hi</s>"


def test_sampler_modes():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 50, generator=gen)
    top3 = set(torch.topk(logits[1], 3).indices.tolist())
    greedy = SamplingParams(temperature=0)
    params = [greedy, SamplingParams(top_k=3), SamplingParams(top_p=1e-6), SamplingParams(temperature=0.7)]

    def gens(seed):
        return [None] + [torch.Generator().manual_seed(seed + i) for i in range(3)]
    first = sample(logits, params, gens(5))
    assert first[0] == logits[0].argmax().item() and first[2] == logits[2].argmax().item()
    assert first == sample(logits, params, gens(5))  # seeded: reproducible
    draws = {sample(logits[1:2], params[1:2], [torch.Generator().manual_seed(s)])[0] for s in range(200)}
    assert draws <= top3 and len(draws) > 1
