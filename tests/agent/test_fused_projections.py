"""Q/K/V run as one GEMM over a fused tensor that the q/k/v parameters are views of: weights loaded or
converted after the first forward must still reach it, and the state_dict must not change."""

from __future__ import annotations

import torch
from test_model import full_logits, hf_logits

from replica_agent.model.loader import build_model


def test_fused_qkv_follows_load_state_dict_and_dtype_changes(agent_model, hf_model, random_prompts):
    model = build_model(agent_model.config, "cpu", torch.float32, weights=hf_model.state_dict())
    prompt = random_prompts([40], seed=21)[0]
    full_logits(model, prompt)  # fuses q/k/v
    state = model.state_dict()
    assert state.keys() == hf_model.state_dict().keys()
    attn = model.model.layers[0].self_attn
    assert attn.q_proj.weight.data_ptr() == attn._qkv[0].data_ptr()  # views, not a second copy

    torch.manual_seed(5)
    other = {k: v + 0.01 * torch.randn_like(v) for k, v in hf_model.state_dict().items()}
    model.load_state_dict(other)  # an in-place copy into the views
    hf_model_other = type(hf_model)(hf_model.config).eval()
    hf_model_other.load_state_dict(other)
    assert (full_logits(model, prompt) - hf_logits(hf_model_other, prompt)).abs().max() < 1e-4

    model.to(torch.float64)  # new parameter tensors: the fused copy is rebuilt on the next forward
    got = full_logits(model, prompt)
    assert got.dtype == torch.float32 and attn._qkv[0].dtype == torch.float64
    assert (got - hf_logits(hf_model_other, prompt)).abs().max() < 1e-4
    assert torch.equal(model.state_dict()["model.layers.0.self_attn.k_proj.weight"],
                       other["model.layers.0.self_attn.k_proj.weight"].double())
