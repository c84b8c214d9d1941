"""Build the model: from a local Hugging Face directory, or the built-in tiny model with seeded weights.

Nothing is ever downloaded. A directory needs `config.json` and `*.safetensors` (sharded files are
all read); `tokenizer.json` is used when present, else the byte-level tokenizer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from replica_agent.model.llama import (
    LlamaForCausalLM,
    ModelConfig,
    ModelConfigError,
    init_random_weights,
    rope_inv_freq,
)
from replica_agent.tokenizer import ByteTokenizer, Tokenizer, load_tokenizer

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def tiny_config() -> ModelConfig:
    """The built-in model: the reference shape of agent.md §4.3 over the byte tokenizer's vocabulary."""
    tok = ByteTokenizer()
    return ModelConfig(vocab_size=tok.vocab_size, hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                       num_attention_heads=8, num_key_value_heads=4, head_dim=32,
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)


@dataclass
class LoadedModel:
    model: LlamaForCausalLM
    tokenizer: Tokenizer
    name: str
    random_weights: bool  # True for the built-in tiny model: its output is noise


def resolve_dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise ModelConfigError(f"dtype={name!r} is not supported: use one of {', '.join(DTYPES)}")
    return DTYPES[name]


def _read_weights(directory: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    files = sorted(directory.glob("*.safetensors"))
    if not files:
        raise ModelConfigError(f"model directory {directory} has no *.safetensors files: "
                               "save the model with save_pretrained(safe_serialization=True)")
    weights: dict[str, torch.Tensor] = {}
    for f in files:
        weights.update(load_file(str(f)))
    return weights


def load_weights(model: LlamaForCausalLM, weights: dict[str, torch.Tensor]) -> None:
    """Copy HF-named tensors into the model; missing or misshapen tensors are a clear error."""
    params = dict(model.named_parameters())
    if model.config.tie_word_embeddings:
        params.pop("lm_head.weight", None)
    missing = sorted(set(params) - set(weights))
    if missing:
        raise ModelConfigError(f"weights are missing {len(missing)} tensors (first: {missing[0]}): "
                               "use a complete LlamaForCausalLM checkpoint")
    unused = sorted(k for k in set(weights) - set(params) if not k.endswith("rotary_emb.inv_freq")
                    and not (k == "lm_head.weight" and model.config.tie_word_embeddings))
    if unused:  # e.g. biases of an architecture variant this model does not implement
        raise ModelConfigError(f"weights hold {len(unused)} tensors this Llama model has no place for "
                               f"(first: {unused[0]}): the checkpoint is not a plain Llama")
    with torch.no_grad():
        for name, param in params.items():
            src = weights[name]
            if src.shape != param.shape:
                raise ModelConfigError(f"weight {name} has shape {tuple(src.shape)}, the config implies "
                                       f"{tuple(param.shape)}: check that config.json matches the weights")
            param.copy_(src)


def build_model(config: ModelConfig, device: str, dtype: torch.dtype,
                weights: dict[str, torch.Tensor] | None = None, seed: int = 0) -> LlamaForCausalLM:
    """Allocate on the meta device (no wasted init), then fill from `weights` or from `seed`."""
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    model = model.to_empty(device="cpu")
    model.inv_freq = rope_inv_freq(config)
    if config.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    if weights is None:
        init_random_weights(model, seed)
    else:
        load_weights(model, weights)
    return model.to(device=device, dtype=dtype).eval()


def load_model(path: str | None, device: str = "cpu", dtype: str = "float32", seed: int = 0) -> LoadedModel:
    torch_dtype = resolve_dtype(dtype)
    if path is None:
        return LoadedModel(build_model(tiny_config(), device, torch_dtype, seed=seed), ByteTokenizer(),
                           f"tiny-random-llama-seed{seed}", True)
    directory = Path(path)
    cfg_file = directory / "config.json"
    if not cfg_file.is_file():
        raise ModelConfigError(f"--model {path!r} has no config.json: "
                               "point it at a local Hugging Face model directory")
    config = ModelConfig.from_hf(json.loads(cfg_file.read_text()))
    model = build_model(config, device, torch_dtype, weights=_read_weights(directory))
    tokenizer = load_tokenizer(directory, config.bos_token_id, config.eos_token_id)
    return LoadedModel(model, tokenizer, directory.name, False)
