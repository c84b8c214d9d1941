"""OpenAI request validation and response shapes for /v1/completions and /v1/chat/completions.

Validation is strict where a silent misreading would surprise the caller: wrong types, values out of
range, prompts longer than the context, and features the agent does not implement when they are set
to anything but their default (logprobs, echo, penalties, tools...) all get a 400 naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from replica_agent.sampling import SamplingParams
from replica_agent.tokenizer import Tokenizer

MAX_CHOICES = 128  # prompts x n in one HTTP request
MAX_STOP = 16


class ProtocolError(ValueError):
    """A bad request: HTTP 400 with an OpenAI-style error body naming `param`."""

    def __init__(
        self, message: str, param: str | None = None, status: int = 400, kind: str = "invalid_request_error"
    ) -> None:
        super().__init__(message)
        self.param, self.status, self.kind = param, status, kind


COMMON = {
    "model",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "n",
    "stop",
    "seed",
    "stream",
    "stream_options",
    "user",
    "ignore_eos",
}
FIELDS = {"completion": COMMON | {"prompt"}, "chat": COMMON | {"messages", "max_completion_tokens"}}
# OpenAI options this engine does not offer: a request may name them only at their default value (else 400).
DEFAULT_ONLY: dict[str, dict[str, tuple[Any, ...]]] = {
    "completion": {
        "logprobs": (None, 0),
        "echo": (None, False),
        "best_of": (None, 1),
        "suffix": (None, ""),
        "frequency_penalty": (None, 0),
        "presence_penalty": (None, 0),
        "logit_bias": (None, {}),
    },
    "chat": {
        "logprobs": (None, False),
        "top_logprobs": (None, 0),
        "frequency_penalty": (None, 0),
        "presence_penalty": (None, 0),
        "logit_bias": (None, {}),
        "tools": (None, []),
        "tool_choice": (None, "none"),
        "response_format": (None, {"type": "text"}),
    },
}


@dataclass
class ParsedRequest:
    chat: bool
    prompts: list[list[int]]
    sampling: SamplingParams
    stop: tuple[str, ...]
    stream: bool
    include_usage: bool
    user: str | None


def _typed(body: dict, key: str, kinds: tuple[type, ...], default: Any, what: str) -> Any:
    value = body.get(key, default)
    if value is None:
        return default
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise ProtocolError(f"'{key}' must be {what}, got {value!r}", key)
    return value


def _number(body: dict, key: str, default: float, lo: float, hi: float) -> float:
    value = float(_typed(body, key, (int, float), default, "a number"))
    if not lo <= value <= hi:
        raise ProtocolError(f"'{key}'={value:g} is out of range: use a value in [{lo:g}, {hi:g}]", key)
    return value


def _integer(body: dict, key: str, default: int | None, lo: int, hi: int) -> int | None:
    value = _typed(body, key, (int,), default, "an integer")
    if value is not None and not lo <= value <= hi:
        raise ProtocolError(f"'{key}'={value} is out of range: use an integer in [{lo}, {hi}]", key)
    return value


def _check_fields(body: dict, kind: str) -> None:
    for key, value in body.items():
        if key in FIELDS[kind]:
            continue
        if key not in DEFAULT_ONLY[kind]:
            raise ProtocolError(f"unknown field '{key}'; supported: {', '.join(sorted(FIELDS[kind]))}", key)
        if value not in DEFAULT_ONLY[kind][key]:
            raise ProtocolError(f"'{key}'={value!r} is not supported by this server: leave it unset", key)


def _token_ids(value: list, param: str, vocab: int) -> list[int]:
    if not value:
        raise ProtocolError(f"'{param}' is empty: send at least one token", param)
    for tok in value:
        if isinstance(tok, bool) or not isinstance(tok, int) or not 0 <= tok < vocab:
            raise ProtocolError(f"'{param}' holds {tok!r}: token ids must be integers in [0, {vocab})", param)
    return list(value)


def _prompts(body: dict, tokenizer: Tokenizer, vocab: int) -> list[list[int]]:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return [tokenizer.encode(prompt)]
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        return [tokenizer.encode(p) for p in prompt]
    if isinstance(prompt, list) and prompt and all(isinstance(p, list) for p in prompt):
        return [_token_ids(p, f"prompt[{i}]", vocab) for i, p in enumerate(prompt)]
    if isinstance(prompt, list) and prompt and all(isinstance(p, int) for p in prompt):
        return [_token_ids(prompt, "prompt", vocab)]
    raise ProtocolError(
        "'prompt' must be a string, a list of token ids, or a non-empty list of either", "prompt"
    )


def _messages(body: dict, tokenizer: Tokenizer) -> list[list[int]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ProtocolError("'messages' must be a non-empty list of {role, content} objects", "messages")
    clean = []
    for i, m in enumerate(messages):
        ok = (
            isinstance(m, dict)
            and m.get("role") in ("system", "user", "assistant")
            and isinstance(m.get("content"), str)
        )
        if not ok:
            raise ProtocolError(
                f"messages[{i}] must be {{role: system|user|assistant, content: string}}", f"messages[{i}]"
            )
        clean.append({"role": m["role"], "content": m["content"]})
    return [tokenizer.encode(tokenizer.chat_prompt(clean))]


def parse_request(
    body: Any, chat: bool, tokenizer: Tokenizer, vocab: int, max_model_len: int
) -> ParsedRequest:
    if not isinstance(body, dict):
        raise ProtocolError("the request body must be a JSON object")
    kind = "chat" if chat else "completion"
    _check_fields(body, kind)
    _typed(body, "model", (str,), None, "a string")
    prompts = _messages(body, tokenizer) if chat else _prompts(body, tokenizer, vocab)
    longest = max(len(p) for p in prompts)
    if longest >= max_model_len:
        raise ProtocolError(
            f"the prompt has {longest} tokens but the context is {max_model_len}: shorten the prompt",
            "messages" if chat else "prompt",
        )
    key = "max_completion_tokens" if chat and body.get("max_completion_tokens") is not None else "max_tokens"
    default = max_model_len - longest if chat else 16
    max_tokens = _integer(body, key, default, 1, 1 << 30)
    if longest + max_tokens > max_model_len:
        raise ProtocolError(
            f"{longest} prompt tokens + {key}={max_tokens} exceed the context of "
            f"{max_model_len} tokens: lower {key}",
            key,
        )
    n = _integer(body, "n", 1, 1, MAX_CHOICES)
    if n * len(prompts) > MAX_CHOICES:
        raise ProtocolError(
            f"{len(prompts)} prompts x n={n} exceed {MAX_CHOICES} choices: split the request", "n"
        )
    stop = _typed(body, "stop", (str, list), [], "a string or a list of strings")
    stop = [stop] if isinstance(stop, str) else stop
    if len(stop) > MAX_STOP or not all(isinstance(s, str) and s for s in stop):
        raise ProtocolError(f"'stop' must be at most {MAX_STOP} non-empty strings", "stop")
    options = _typed(body, "stream_options", (dict,), {}, "an object")
    sampling = SamplingParams(
        temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 1e-6, 1.0),
        top_k=_integer(body, "top_k", 0, 0, 1 << 30),
        max_tokens=max_tokens,
        ignore_eos=_typed(body, "ignore_eos", (bool,), False, "a boolean"),
        seed=_integer(body, "seed", None, -(1 << 63), (1 << 63) - 1),
        n=n,
    )
    return ParsedRequest(
        chat,
        prompts,
        sampling,
        tuple(stop),
        _typed(body, "stream", (bool,), False, "a boolean"),
        bool(options.get("include_usage", False)),
        _typed(body, "user", (str,), None, "a string"),
    )


def error_body(
    message: str, kind: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def choice(
    chat: bool, index: int, text: str, finish_reason: str | None, delta: bool, first: bool = False
) -> dict:
    """One choice, in the completion / chat / chat-chunk shape."""
    if not chat:
        return {"index": index, "text": text, "finish_reason": finish_reason, "logprobs": None}
    if not delta:
        return {
            "index": index,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish_reason,
            "logprobs": None,
        }
    body = {"role": "assistant", "content": text} if first else ({"content": text} if text else {})
    return {"index": index, "delta": body, "finish_reason": finish_reason, "logprobs": None}


def envelope(chat: bool, chunk: bool, request_id: str, created: int, model: str, choices: list[dict]) -> dict:
    kind = ("chat.completion.chunk" if chunk else "chat.completion") if chat else "text_completion"
    return {"id": request_id, "object": kind, "created": created, "model": model, "choices": choices}
