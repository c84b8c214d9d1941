"""Shared fixtures: a seeded tiny HF reference model, the agent model loaded from its state_dict, engines
over the real ModelRunner, and a real uvicorn server on a free 127.0.0.1 port with bounded shutdown."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache

import pytest
import torch

from replica_agent.config import EngineConfig
from replica_agent.engine import LLMEngine
from replica_agent.model.llama import LlamaForCausalLM, ModelConfig
from replica_agent.model.loader import build_model
from replica_agent.model.runner import ModelRunner

# Tiny models gain nothing from intra-op threads, and OpenMP spin-waiting on a shared 2-core box made
# them 10x slower: keep torch to one thread for the agent tests.
torch.set_num_threads(1)

SEED = 0
HF_SHAPE = dict(vocab_size=512, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                bos_token_id=1, eos_token_id=None, pad_token_id=0)


@cache
def _hf_model():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(SEED)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**HF_SHAPE))
    return model.eval()


@pytest.fixture(scope="session")
def hf_model():
    return _hf_model()


@pytest.fixture(scope="session")
def agent_model(hf_model) -> LlamaForCausalLM:
    config = ModelConfig.from_hf(hf_model.config.to_dict())
    return build_model(config, "cpu", torch.float32, weights=hf_model.state_dict())


@cache
def _hf_greedy(prompt: tuple[int, ...], max_new: int) -> tuple[int, ...]:
    with torch.inference_mode():
        out = _hf_model().generate(torch.tensor([prompt]), max_new_tokens=max_new, do_sample=False,
                                   attention_mask=torch.ones(1, len(prompt), dtype=torch.long))
    return tuple(out[0, len(prompt):].tolist())


@pytest.fixture(scope="session")
def hf_greedy(hf_model) -> Callable[[list[int], int], list[int]]:
    """Greedy continuation of one prompt by transformers' generate (memoised across tests)."""
    return lambda prompt, max_new: list(_hf_greedy(tuple(prompt), max_new))


@pytest.fixture(scope="session")
def random_prompts() -> Callable[..., list[list[int]]]:
    """Seeded random token-id prompts of the given lengths (ids 3.. avoid BOS/EOS/PAD)."""
    def make(lengths: list[int], vocab: int = 512, seed: int = 1) -> list[list[int]]:
        gen = torch.Generator().manual_seed(seed)
        return [torch.randint(3, vocab, (n,), generator=gen).tolist() for n in lengths]
    return make


@pytest.fixture
def make_engine(agent_model) -> Callable[..., LLMEngine]:
    def make(model: LlamaForCausalLM | None = None, **overrides) -> LLMEngine:
        config = EngineConfig(**{"block_size": 16, "num_blocks": 256, "max_model_len": 512, **overrides})
        runner = ModelRunner(model or agent_model, config.num_blocks, config.block_size)
        return LLMEngine(config, runner)
    return make


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(app, ready_path: str = "/health", timeout_s: float = 30.0) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 in a thread; yield its base URL; stop within a bound."""
    import httpx
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(base + ready_path, timeout=1.0).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError(f"server on {base} did not become ready within {timeout_s}s")
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive(), "uvicorn did not stop within 10 s"


@pytest.fixture(scope="session")
def serve_app():
    """`with serve_app(app) as base_url:` runs a real uvicorn server for the block."""
    return running_server


@pytest.fixture
def unused_port() -> int:
    return free_port()
