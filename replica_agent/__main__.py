"""`replica-agent serve ...` (also `python -m replica_agent serve ...`): load a model and serve it over HTTP.

Bad flags or files end in one line naming the flag, the value and the fix (exit code 2), never a
traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from replica_agent.config import POLICIES, ConfigError, EngineConfig
from replica_agent.model.llama import ModelConfigError

KV_BUDGET_BYTES = 256 << 20  # default KV cache size when --num-blocks is not given


class UsageError(ValueError):
    """A bad flag or file: printed as one line, exit code 2."""


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="replica-agent", description="A torch-only LLM serving replica.")
    sub = root.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="serve a model with an OpenAI-compatible HTTP API")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", default=None, help="local Hugging Face model directory; default: a tiny random "
                   "Llama with a byte-level tokenizer (output is noise)")
    p.add_argument("--seed", type=int, default=0, help="weight seed of the built-in tiny model")
    p.add_argument("--policy", choices=POLICIES, default="fcfs")
    p.add_argument("--block-size", type=int, default=16)
    p.add_argument("--num-blocks", type=int, default=None, help="KV blocks; default: 256 MiB worth")
    p.add_argument("--max-num-seqs", type=int, default=64)
    p.add_argument("--max-batched-tokens", type=int, default=2048)
    p.add_argument("--max-model-len", type=int, default=None, help="default: the model's, at most 4096")
    p.add_argument("--max-waiting", type=int, default=1024, help="queue length before answering 429")
    p.add_argument("--client-weights", default=None, help='JSON file {"client": weight, ...}')
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="auto = cuda when available, else cpu")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    return root


def read_client_weights(path: str | None) -> dict[str, float]:
    if path is None:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise UsageError(f"--client-weights {path!r} cannot be read ({exc.strerror}): "
                         "give an existing file") from None
    except ValueError as exc:
        raise UsageError(f"--client-weights {path!r} is not valid JSON ({exc}): "
                         'write an object like {"alice": 1, "bob": 2}') from None
    ok = isinstance(data, dict) and all(
        isinstance(w, int | float) and not isinstance(w, bool) and w > 0 for w in data.values())
    if not ok:
        raise UsageError(f"--client-weights {path!r} must map client ids to positive numbers, "
                         'e.g. {"alice": 1, "bob": 2}')
    return {str(k): float(v) for k, v in data.items()}


def serve(args: argparse.Namespace) -> None:
    import torch
    import uvicorn

    from replica_agent.model.loader import load_model
    from replica_agent.server.app import ServedModel, build_app

    client_weights = read_client_weights(args.client_weights)  # fail fast, before loading the model
    if args.threads is not None:
        torch.set_num_threads(max(1, args.threads))
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was given but torch sees no CUDA device: use --device cpu")
    loaded = load_model(args.model, device, args.dtype, args.seed)
    mc = loaded.model.config
    max_len = args.max_model_len or min(mc.max_position_embeddings, 4096)
    num_blocks = args.num_blocks
    if num_blocks is None:
        block_bytes = 2 * mc.num_hidden_layers * args.block_size * mc.num_key_value_heads * mc.head_dim * (
            torch.finfo(loaded.model.lm_head.weight.dtype).bits // 8)
        num_blocks = max(KV_BUDGET_BYTES // block_bytes, -(-max_len // args.block_size) + 2)
    config = EngineConfig(
        block_size=args.block_size, num_blocks=num_blocks, max_num_seqs=args.max_num_seqs,
        max_batched_tokens=args.max_batched_tokens, max_model_len=max_len, policy=args.policy,
        client_weights=client_weights, max_waiting=args.max_waiting)
    served = ServedModel.build(loaded, config)
    kind = "random weights" if loaded.random_weights else "weights from " + str(args.model)
    print(f"replica-agent: serving {loaded.name} ({kind}) on http://{args.host}:{args.port} "
          f"[{device} {args.dtype}, policy {args.policy}, {num_blocks} KV blocks x {args.block_size}]",
          file=sys.stderr)
    uvicorn.run(build_app(served), host=args.host, port=args.port, log_level="warning")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        serve(args)
    except (UsageError, ConfigError, ModelConfigError) as exc:
        print(f"replica-agent: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
