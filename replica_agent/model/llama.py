"""A Llama decoder (RMSNorm, RoPE, grouped-query attention, SwiGLU) with Hugging Face parameter names.

The module tree mirrors `LlamaForCausalLM` so a Hugging Face `state_dict` or safetensors file loads
without renaming. The forward is a flat "extend" pass: the tokens of every scheduled sequence are
concatenated, and attention reads each sequence's context from the paged KV cache (see attention.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from replica_agent.model.attention import AttnMetadata, paged_attention


class ModelConfigError(ValueError):
    """A config.json the agent cannot serve; the message names the key, the value and the fix."""


@dataclass(slots=True)
class ModelConfig:
    vocab_size: int = 512
    hidden_size: int = 256
    intermediate_size: int = 688
    num_hidden_layers: int = 4
    num_attention_heads: int = 8
    num_key_value_heads: int = 4
    head_dim: int = 32
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: dict[str, Any] | None = None  # {"rope_type": "linear"|"llama3", ...}
    max_position_embeddings: int = 2048
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    mlp_bias: bool = False
    bos_token_id: int | None = 1
    eos_token_id: int | None = 2

    @classmethod
    def from_hf(cls, raw: dict[str, Any]) -> ModelConfig:
        """Read a Hugging Face config.json dict (transformers 4.x or 5.x layout)."""
        model_type = raw.get("model_type", "llama")
        if model_type not in ("llama", "mistral"):
            raise ModelConfigError(
                f"config.json model_type={model_type!r} is not supported: use a Llama-architecture model")
        if raw.get("sliding_window") is not None:
            raise ModelConfigError(f"config.json sliding_window={raw['sliding_window']!r} is not supported: "
                                   "use a model with full attention")
        if raw.get("hidden_act", "silu") != "silu":
            raise ModelConfigError(f"config.json hidden_act={raw['hidden_act']!r} is not supported: use silu")
        rope = dict(raw.get("rope_parameters") or {})  # transformers 5.x
        rope_theta = rope.pop("rope_theta", None) or raw.get("rope_theta", 10000.0)
        scaling = raw.get("rope_scaling") or (rope if rope.get("rope_type", "default") != "default" else None)
        if scaling and scaling.get("rope_type", scaling.get("type")) not in ("linear", "llama3", "default"):
            raise ModelConfigError(
                f"config.json rope scaling {scaling!r} is not supported: use default, linear or llama3")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known and v is not None}
        heads = values.get("num_attention_heads", cls.num_attention_heads)
        values.setdefault("num_key_value_heads", heads)
        values.setdefault("head_dim", values.get("hidden_size", cls.hidden_size) // heads)
        eos = raw.get("eos_token_id")
        values["eos_token_id"] = eos[0] if isinstance(eos, list) else eos
        values["bos_token_id"] = raw.get("bos_token_id")
        values["rope_theta"] = float(rope_theta)
        values["rope_scaling"] = scaling
        return cls(**values)

    def to_hf(self) -> dict[str, Any]:
        """The config.json this model would be saved with (loadable by transformers)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        scaling = out.pop("rope_scaling")
        out["rope_parameters"] = {"rope_type": "default", **(scaling or {}), "rope_theta": out["rope_theta"]}
        out.update(model_type="llama", architectures=["LlamaForCausalLM"], hidden_act="silu")
        return out


# oneDNN's fp32 GEMM runs AVX-512 kernels on AMD CPUs where MKL (what F.linear calls) stays around
# 80 GFLOP/s a core: 1.5x faster at 32 rows, 2x at prefill sizes. Its fixed per-call cost (~10 us)
# loses to MKL on small outputs, so it is used from rows x out_features >= 8192 (measured crossover
# on the §4.3 shapes: e.g. the LM head from 4 rows, the 688-wide MLP from 12, o_proj from 32).
_ONEDNN = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
ONEDNN_MIN_OUTPUTS = 8192


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
           residual: torch.Tensor | None = None) -> torch.Tensor:
    """x @ weight.T + bias (+ residual, fused into the GEMM on oneDNN: one pass over the output less)."""
    if (_ONEDNN and x.dim() == 2 and x.shape[0] >= 4
            and x.shape[0] * weight.shape[0] >= ONEDNN_MIN_OUTPUTS and x.dtype == torch.float32
            and x.device.type == "cpu" and not torch.is_grad_enabled()):
        if residual is None:
            return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
        return torch.ops.mkldnn._linear_pointwise.binary(x, residual, weight, bias, "add")
    out = F.linear(x, weight, bias)
    return out if residual is None else out.add_(residual)


class Linear(nn.Linear):
    """nn.Linear (same parameters and state_dict keys) that runs larger CPU fp32 batches on oneDNN."""

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        return linear(x, self.weight, self.bias, residual)


def _fuse_rows(params: list[torch.Tensor | None]) -> torch.Tensor | None:
    """One tensor holding `params` stacked along dim 0, each parameter re-pointed at its block of it.

    No second copy of the weights is kept, and load_state_dict (an in-place copy) still reaches the
    fused tensor; `.to()` replaces the parameters, which `LlamaAttention` detects and re-fuses."""
    if any(p is None for p in params):
        return None
    with torch.inference_mode(False), torch.no_grad():  # a plain tensor, usable outside inference mode
        fused = torch.cat([p.detach() for p in params])
        offset = 0
        for p in params:
            p.data = fused[offset:offset + p.shape[0]]
            offset += p.shape[0]
    return fused


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32:  # one fused op, bit-identical to the reference formula below
            return F.rms_norm(x, self.weight.shape, self.weight, self.eps)
        # Normalise in fp32 like the reference so bf16/fp16 runs do not drift.
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


def rope_inv_freq(config: ModelConfig) -> torch.Tensor:
    """Inverse frequencies, with linear or Llama-3 scaling when the config asks for it."""
    dim = config.head_dim
    inv = 1.0 / (config.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    scaling = config.rope_scaling or {}
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind == "linear":
        inv = inv / float(scaling["factor"])
    elif kind == "llama3":
        factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
        old_len = scaling["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv
        smooth = (old_len / wavelen - low) / (high - low)
        blended = (1 - smooth) * inv / factor + smooth * inv
        inv = torch.where(wavelen > old_len / low, inv / factor, inv)
        middle = (wavelen <= old_len / low) & (wavelen >= old_len / high)
        inv = torch.where(middle, blended, inv)
    return inv


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: [T, heads, head_dim]; cos/sin: [T, 1, head_dim], halves duplicated (the HF layout) and the
    first half of sin negated, so rotate_half(x) * sin is a plain roll: two ops fewer per call."""
    return torch.addcmul(x * cos, torch.roll(x, x.shape[-1] // 2, dims=-1), sin)


class LlamaAttention(nn.Module):
    def __init__(self, config: ModelConfig, layer_idx: int) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        h, hd, bias = config.hidden_size, config.head_dim, config.attention_bias
        self.num_heads, self.num_kv_heads, self.head_dim = (
            config.num_attention_heads, config.num_key_value_heads, hd)
        self.q_proj = Linear(h, self.num_heads * hd, bias=bias)
        self.k_proj = Linear(h, self.num_kv_heads * hd, bias=bias)
        self.v_proj = Linear(h, self.num_kv_heads * hd, bias=bias)
        self.o_proj = Linear(self.num_heads * hd, h, bias=bias)

        self._qkv: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self._qkv_ptrs: tuple[int, ...] = ()

    def _qkv_params(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Q, K and V projected by one GEMM (one call instead of three: about 30% less time at B = 32)."""
        mods = (self.q_proj, self.k_proj, self.v_proj)
        ptrs = tuple(m.weight.data_ptr() for m in mods)
        if self._qkv is None or ptrs != self._qkv_ptrs:
            self._qkv = (_fuse_rows([m.weight for m in mods]), _fuse_rows([m.bias for m in mods]))
            self._qkv_ptrs = tuple(m.weight.data_ptr() for m in mods)
        return self._qkv

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                kv_cache: torch.Tensor, meta: AttnMetadata, residual: torch.Tensor) -> torch.Tensor:
        """Returns residual + attention output."""
        t, heads, kvh, hd = x.shape[0], self.num_heads, self.num_kv_heads, self.head_dim
        qkv = linear(x, *self._qkv_params())
        qk = apply_rope(qkv[:, :(heads + kvh) * hd].view(t, heads + kvh, hd), cos, sin)  # q and k at once
        v = qkv[:, (heads + kvh) * hd:].view(t, kvh, hd)
        out = paged_attention(qk[:, :heads], qk[:, heads:], v, kv_cache, meta, self.layer_idx)
        return self.o_proj(out.reshape(t, heads * hd), residual)


class LlamaMLP(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        h, f, bias = config.hidden_size, config.intermediate_size, config.mlp_bias
        self.gate_proj = Linear(h, f, bias=bias)
        self.up_proj = Linear(h, f, bias=bias)
        self.down_proj = Linear(f, h, bias=bias)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """Returns residual + MLP output."""
        # In place: a prefill chunk's [tokens, intermediate] temporaries are the largest in the forward.
        return self.down_proj(F.silu(self.gate_proj(x), inplace=True).mul_(self.up_proj(x)), residual)


class LlamaDecoderLayer(nn.Module):
    def __init__(self, config: ModelConfig, layer_idx: int) -> None:
        super().__init__()
        self.self_attn = LlamaAttention(config, layer_idx)
        self.mlp = LlamaMLP(config)
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                kv_cache: torch.Tensor, meta: AttnMetadata) -> torch.Tensor:
        x = self.self_attn(self.input_layernorm(x), cos, sin, kv_cache, meta, residual=x)
        return self.mlp(self.post_attention_layernorm(x), residual=x)


class LlamaModel(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(LlamaDecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)


class LlamaForCausalLM(nn.Module):
    """The decoder plus LM head; `forward` returns logits only at `meta.logits_index` rows."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.model = LlamaModel(config)
        self.lm_head = Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        self.inv_freq = rope_inv_freq(config)  # a plain fp32 tensor: never cast to bf16 with the weights

    def rope(self, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        if self.inv_freq.device != positions.device:
            self.inv_freq = self.inv_freq.to(positions.device)
        freqs = positions.float()[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)[:, None, :]
        sin = emb.sin()
        sin[..., :freqs.shape[-1]].neg_()
        return emb.cos().to(dtype), sin.to(dtype)

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, kv_caches: list[torch.Tensor],
                meta: AttnMetadata) -> torch.Tensor:
        x = self.model.embed_tokens(input_ids)
        cos, sin = self.rope(positions, x.dtype)
        for layer, kv_cache in zip(self.model.layers, kv_caches, strict=True):
            x = layer(x, cos, sin, kv_cache, meta)
        if meta.logits_index is not None:
            x = x[meta.logits_index]
        return self.lm_head(self.model.norm(x)).float()


def init_random_weights(model: LlamaForCausalLM, seed: int, std: float = 0.02) -> None:
    """Deterministic N(0, std) weights and unit norms, independent of transformers' init code."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.fill_(1.0)
            elif name.endswith(".bias"):
                param.zero_()
            else:
                param.copy_(torch.randn(param.shape, generator=gen) * std)
